"""The RDS IAM login emulation: TLS with a test CA, and PAM checking SigV4 tokens.

`IamPg.install()` turns a sandbox PostgreSQL into something that logs in like RDS:

- `ssl = on` with a server certificate for fake RDS host names (monitor/sandbox/tls.py);
- pg_hba line 1: `hostssl all +rds_iam 127.0.0.1/32 pam pamservice=<svc>`;
- `/etc/pam.d/<svc>` runs monitor/sandbox/pam_rds_iam.py through libpam-python.

That needs root (for /etc/pam.d) and libpam-python; `pam_available()` says which is missing.
Without them, `install(pam=False)` still sets up TLS and the rds_iam roles, and the IAM
tokens clients send are not checked.

The PAM module runs in the server as `postgres` and cannot see this process's memory, so a
small HTTP keystore here answers "which secret and session token belong to access key X?"
from moto's in-process STS store, at the moment of each login. Credentials minted by the
code that runs (AssumeRole inside pgwarden) are therefore known without any hand-off step.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from monitor.sandbox.http import JsonServer
from monitor.sandbox.pg import PgServer
from monitor.sandbox.tls import FAKE_RDS_HOSTS, SandboxPki, make_pki

PAM_MODULE = Path(__file__).with_name("pam_rds_iam.py")
PAM_PYTHON = Path("/lib/security/pam_python.so")
PAM_D = Path("/etc/pam.d")
REGION = "us-east-1"
DB_USER = "pgmonitor"


def moto_secret(access_key_id: str) -> dict[str, str | None] | None:
    """The secret and session token moto issued with `access_key_id`, if it did."""
    from moto.sts.models import sts_backends

    for by_partition in list(sts_backends.values()):
        for backend in list(by_partition.values()):
            role = backend.get_assumed_role_from_access_key(access_key_id)
            if role is not None:
                return {"secret": role.secret_access_key, "session_token": role.session_token}
    return None


class Keystore:
    """HTTP `GET /key?id=AKID` -> {"secret", "session_token"}; static keys first, then moto."""

    def __init__(self, static: Mapping[str, str] | None = None) -> None:
        self.static = dict(static or {"testing": "testing"})
        self._server = JsonServer(self._lookup)
        self.url = f"{self._server.url}/key"

    def _lookup(
        self, method: str, path: str, fields: dict[str, object]
    ) -> tuple[int, Mapping[str, object]]:
        akid = str(fields.get("id", ""))
        found: dict[str, str | None] | None
        if akid in self.static:
            found = {"secret": self.static[akid], "session_token": None}
        else:
            found = moto_secret(akid)
        return (200, found) if found else (404, {"error": "unknown"})

    def close(self) -> None:
        self._server.close()


@dataclass
class IamPg:
    """The shared PostgreSQL, made to authenticate `+rds_iam` members with IAM tokens."""

    server: PgServer
    pki: SandboxPki
    keystore: Keystore
    service: str
    hosts: tuple[str, ...] = FAKE_RDS_HOSTS
    region: str = REGION
    pam_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.pam_dir = self.server.base / "pam"

    @property
    def host(self) -> str:
        """The writer endpoint's fake RDS name."""
        return self.hosts[0]

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def decisions_file(self) -> Path:
        return self.pam_dir / "decisions.jsonl"

    def decisions(self) -> list[dict[str, object]]:
        if not self.decisions_file.exists():
            return []
        lines = self.decisions_file.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line]

    def install(self, *, pam: bool = True) -> None:
        """TLS, the RDS group roles and pgmonitor; with `pam`, the IAM token check too."""
        if pam:
            self._install_pam()
        for src in (self.pki.server_cert, self.pki.server_key, self.pki.ca_cert):
            dest = self.server.datadir / src.name
            self.server.write_file(dest, src.read_text(encoding="utf-8"))
        os.chmod(self.server.datadir / self.pki.server_key.name, 0o600)
        self.server.append_conf(
            {
                "ssl": "on",
                "ssl_cert_file": f"'{self.pki.server_cert.name}'",
                "ssl_key_file": f"'{self.pki.server_key.name}'",
            }
        )
        if pam:
            hba = self.server.datadir / "pg_hba.conf"
            line = f"hostssl all +rds_iam 127.0.0.1/32 pam pamservice={self.service}\n"
            self.server.write_file(hba, line + hba.read_text(encoding="utf-8"))
        self.server.reload()
        create_rds_roles(self.server)
        self.create_iam_user(DB_USER, "pg_monitor")

    def _install_pam(self) -> None:
        self.pam_dir.mkdir(exist_ok=True)
        shutil.copy(PAM_MODULE, self.pam_dir / "pam_rds_iam.py")
        config = {
            "endpoints": [f"{h}:{self.port}" for h in self.hosts],
            "region": self.region,
            "keystore_url": self.keystore.url,
            "decisions": str(self.decisions_file),
            "max_skew_s": 30,
        }
        (self.pam_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
        self.decisions_file.touch()
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for path in (self.pam_dir, *self.pam_dir.iterdir()):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        (PAM_D / self.service).write_text(
            f"auth requisite {PAM_PYTHON} {self.pam_dir / 'pam_rds_iam.py'} "
            f"{self.pam_dir / 'config.json'}\naccount required pam_permit.so\n",
            encoding="utf-8",
        )

    def create_iam_user(self, name: str, *also: str) -> None:
        """A login role that may only log in with an IAM token (member of rds_iam)."""
        create_iam_user(self.server, name, *also)

    def uninstall(self) -> None:
        (PAM_D / self.service).unlink(missing_ok=True)
        self.keystore.close()


def pam_available() -> str | None:
    """None when the PAM emulation can run here; otherwise what is missing."""
    if os.geteuid() != 0:
        return "installing a PAM service under /etc/pam.d needs root"
    if not PAM_PYTHON.exists():
        return f"libpam-python is not installed ({PAM_PYTHON} is missing)"
    return None


def create_rds_roles(server: PgServer) -> None:
    """The group roles RDS has (rds_iam, rds_superuser)."""
    from psycopg import sql

    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        # CREATE ROLE has no IF NOT EXISTS.
        known = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
        for role in sorted({"rds_iam", "rds_superuser"} - known):
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))


def create_iam_user(server: PgServer, name: str, *also: str) -> None:
    """A login role that holds rds_iam (and the roles in `also`)."""
    from psycopg import sql

    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchall()
        if not exists:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        for group in ("rds_iam", *also):
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name))
            )


def service_name(kind: str, *parts: str) -> str:
    """`pgwarden-<kind>-<pid>[-part...]`: the PAM service of this process, named so that
    `sweep_stale_services` can tell when its owner is gone."""
    return "-".join(("pgwarden", kind, str(os.getpid()), *parts))


def stale_services(kind: str = "[a-z]+") -> list[Path]:
    """The PAM services of sandboxes (of `kind`, a regex) whose process is gone: killed with
    SIGKILL, which no cleanup survives."""
    stale = []
    for path in PAM_D.glob("pgwarden-*-*"):
        match = re.fullmatch(rf"pgwarden-{kind}-(\d+)(-.*)?", path.name)
        if match is not None and not _alive(int(match.group(1))):
            stale.append(path)
    return stale


def sweep_stale_services() -> list[str]:
    """Remove the stale PAM services; return their names."""
    stale = stale_services()
    for path in stale:
        path.unlink(missing_ok=True)
    return [path.name for path in stale]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def setup_iam_pg(
    server: PgServer, service: str, hosts: tuple[str, ...] = FAKE_RDS_HOSTS, *, pam: bool = True
) -> IamPg:
    """Certificates for `hosts`, then `IamPg.install()`; call `uninstall()` afterwards.
    Removing what it installed is the caller's job once this returns, and its own on any
    exception (Ctrl-C and SIGTERM included) before that."""
    if pam:
        sweep_stale_services()
    pki = make_pki(server.base / "pki", hosts)
    iam = IamPg(server, pki, Keystore(), service=service, hosts=hosts)
    try:
        iam.install(pam=pam)
    except BaseException:
        iam.uninstall()
        raise
    return iam
