"""The demo's story: who exists in which account, who is logged in, and what the trail shows.

- prod (222222222222), cluster `orders`: the orders service (two sessions), a reporting tool,
  a superuser at a psql prompt from a host that is not the bastion, `legacy_batch` (granted,
  holding rds_iam, never used), `etl_legacy` (holds rds_iam but logs in with a password), and
  a burst of failed logins followed by a success from the same host.
  In front of `orders`, the RDS Proxy `orders-proxy` (IAM required): its own log shows a
  client the database never sees, failing IAM logins again and again.
- analytics (333333333333), cluster `analytics`: an analyst in a notebook.
- CloudTrail: pgwarden's runner assumes each monitor role from the management account;
  the app roles are assumed in their own accounts; someone in an unknown account assumes
  prod's monitor role; a CI principal is denied analytics' monitor role again and again.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from monitor.sandbox.aws import (
    MONITOR_ROLE,
    REGION,
    Account,
    Cluster,
    ConnectGrant,
    MotoSandbox,
    SandboxProxy,
    role_arn,
)
from monitor.sandbox.pam import (
    DB_USER,
    create_iam_user,
    create_rds_roles,
    service_name,
    setup_iam_pg,
)
from monitor.sandbox.pg import PgServer
from monitor.sandbox.proxy import create_proxy, ship_proxy_logs
from monitor.sandbox.tls import make_pki
from monitor.sandbox.trail import assume_role_record, file_name, write_files

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

MGMT = "111111111111"
OUTSIDER = "999999999999"  # an account nobody expects in a trust relationship
RUNNER = f"arn:aws:sts::{MGMT}:assumed-role/pgwarden-runner/pgwarden-demo"
CI_DEPLOYER = f"arn:aws:sts::{MGMT}:assumed-role/ci-deployer/build-4821"
CONTRACTOR = f"arn:aws:iam::{OUTSIDER}:user/contractor"
BURST = 6  # wrong logins before the right one: over failure-burst's default threshold of 5
PROXY_CLIENT = "198.51.100.23"  # reaches orders only through its proxy: in no database log


@dataclass(frozen=True)
class Session:
    """A client held open: its db user, application_name, and the IAM role signing its
    token (None for a password or the superuser)."""

    user: str
    application: str
    role: str | None


@dataclass(frozen=True)
class DbAccount:
    account_id: str
    name: str
    cluster_id: str
    app_users: dict[str, str]  # db user -> the role in this account allowed to connect as it
    sessions: tuple[Session, ...]
    scram_user: str | None = None  # holds rds_iam, yet logs in with a password
    burst_user: str | None = None  # BURST failed logins, then a success from the same host
    proxy: str | None = None  # an RDS Proxy in front of the cluster, IAM only


ACCOUNTS = (
    DbAccount(
        "222222222222",
        "prod",
        "orders",
        app_users={
            "orders_app": "orders-app",
            "reporting": "reporting-app",
            "legacy_batch": "legacy-batch",
        },
        sessions=(
            Session("orders_app", "orders-api", "orders-app"),
            Session("orders_app", "orders-worker", "orders-app"),
            Session("reporting", "metabase", "reporting-app"),
            Session("postgres", "psql", None),
        ),
        scram_user="etl_legacy",
        burst_user="orders_app",
        proxy="orders-proxy",
    ),
    DbAccount(
        "333333333333",
        "analytics",
        "analytics",
        app_users={"analyst": "analyst"},
        sessions=(Session("analyst", "jupyter", "analyst"),),
    ),
)


@dataclass
class BuiltAccount:
    spec: DbAccount
    server: PgServer
    cluster: Cluster
    ca_bundle: Path
    monitor_role: str
    connections: list[psycopg.Connection[TupleRow]] = field(default_factory=list)
    log_events: int = 0
    proxy: SandboxProxy | None = None

    def close(self) -> None:
        for conn in self.connections:
            conn.close()


def build_account(
    stack: contextlib.ExitStack,
    moto: MotoSandbox,
    spec: DbAccount,
    bindir: Path,
    workdir: Path,
    *,
    tls: bool,
    pam: bool,
    external_id: str,
) -> BuiltAccount:
    """Its PostgreSQL, cluster record, roles and grants; then the sessions, and the server
    log shipped to CloudWatch Logs. Everything started is registered on `stack`."""
    server = PgServer(bindir, workdir / f"pg-{spec.cluster_id}")
    stack.callback(server.stop)
    server.init()
    server.start()
    account = Account(moto, spec.account_id)
    cluster = account.create_cluster(spec.cluster_id, server.port)
    proxy = create_proxy(account, cluster, spec.proxy) if spec.proxy else None
    # The proxy's endpoint reaches the cluster's server: moto has no proxy data plane.
    hosts = (cluster.endpoint, *([proxy.endpoint] if proxy else []))
    if tls:
        iam = setup_iam_pg(
            server, service=service_name("demo", spec.cluster_id), hosts=hosts, pam=pam
        )
        stack.callback(iam.uninstall)
        ca_bundle = iam.pki.ca_cert
    else:
        ca_bundle = make_pki(server.base / "pki", hosts).ca_cert
        create_rds_roles(server)
        create_iam_user(server, DB_USER, "pg_monitor")
    monitor = account.grant_connect(cluster, ConnectGrant(MONITOR_ROLE, DB_USER, MGMT, external_id))
    for user, role in spec.app_users.items():
        create_iam_user(server, user)
        account.grant_connect(cluster, ConnectGrant(role, user, spec.account_id))
    if proxy is not None:
        account.grant_connect(
            replace(cluster, cluster_id=proxy.name, resource_id=proxy.resource_id),
            ConnectGrant(MONITOR_ROLE, DB_USER, MGMT, external_id),
        )
    built = BuiltAccount(spec, server, cluster, ca_bundle, monitor, proxy=proxy)
    stack.callback(built.close)
    password = _scram_user(server, spec.scram_user)
    _log_in(moto, built, tls=tls, pam=pam, password=password)
    lines = server.settled_log()
    built.log_events = account.ship_logs(spec.cluster_id, f"{spec.cluster_id}-instance-1", lines)
    if proxy is not None and spec.burst_user:
        built.log_events += ship_proxy_logs(
            account, proxy.name, spec.burst_user, PROXY_CLIENT, BURST
        )
    return built


def _scram_user(server: PgServer, user: str | None) -> str | None:
    """A login role holding rds_iam with a password, and a pg_hba line letting it use it."""
    if user is None:
        return None
    password = secrets.token_urlsafe(16)
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(password)
            )
        )
    create_iam_user(server, user)
    hba = server.datadir / "pg_hba.conf"
    line = f"host all {user} 127.0.0.1/32 scram-sha-256\n"
    server.write_file(hba, line + hba.read_text(encoding="utf-8"))
    server.reload()
    return password


def _log_in(
    moto: MotoSandbox, built: BuiltAccount, *, tls: bool, pam: bool, password: str | None
) -> None:
    spec, cluster = built.spec, built.cluster
    tokens: dict[str, RDSClient] = {}

    def token(user: str, role: str) -> str:
        if role not in tokens:
            creds = moto.assume(role_arn(spec.account_id, role), f"{role}-task")
            tokens[role] = moto.rds(creds)
        return tokens[role].generate_db_auth_token(
            DBHostname=cluster.endpoint, Port=cluster.port, DBUsername=user, Region=REGION
        )

    def connect(user: str, secret: str | None, application: str) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(
            host=cluster.endpoint, hostaddr="127.0.0.1", port=cluster.port, dbname="postgres",
            user=user, password=secret, application_name=application, connect_timeout=5,
            # A server built without SSL (pgserver) takes the sandbox's own clients in clear.
            sslmode="verify-full" if tls else "disable", sslrootcert=str(built.ca_bundle),
        )  # fmt: skip

    # The burst needs logins that really fail: wrong IAM tokens where PAM checks them,
    # wrong passwords otherwise.
    burst_user = spec.burst_user if pam else spec.scram_user
    if burst_user:
        for _ in range(BURST):
            with contextlib.suppress(psycopg.OperationalError):
                connect(burst_user, "not-a-token", "orders-api").close()
    for s in spec.sessions:
        secret = token(s.user, s.role) if s.role else None
        built.connections.append(connect(s.user, secret, s.application))
    if spec.scram_user:
        built.connections.append(connect(spec.scram_user, password, "nightly-etl"))


def write_trail(root: Path, accounts: list[BuiltAccount], now: datetime) -> int:
    """One CloudTrail file per account, for today: the story's role assumptions."""
    files: dict[str, list[dict[str, object]]] = {}
    for built in accounts:
        spec = built.spec
        records = [
            assume_role_record(f"{spec.name}-runner-{i}", now - timedelta(minutes=50 - 10 * i),
                               built.monitor_role, RUNNER, MGMT)
            for i in range(3)
        ]  # fmt: skip
        for user, role in spec.app_users.items():
            if any(s.role == role for s in spec.sessions):
                caller = f"arn:aws:sts::{spec.account_id}:assumed-role/ecs-task/{user}"
                records.append(
                    assume_role_record(f"{spec.name}-{role}", now - timedelta(minutes=40),
                                       role_arn(spec.account_id, role), caller, spec.account_id)
                )  # fmt: skip
        files[file_name(spec.account_id, now)] = records
    prod, analytics = accounts[0], accounts[-1]
    files[file_name(prod.spec.account_id, now)].append(
        assume_role_record("outsider-1", now - timedelta(minutes=20), prod.monitor_role,
                           CONTRACTOR, OUTSIDER, source_ip="198.51.100.7")
    )  # fmt: skip
    files[file_name(analytics.spec.account_id, now)] += [
        assume_role_record(f"denied-{i}", now - timedelta(minutes=10, seconds=-20 * i),
                           analytics.monitor_role, CI_DEPLOYER, MGMT, error="AccessDenied")
        for i in range(5)
    ]  # fmt: skip
    write_files(root, files)
    return sum(len(r) for r in files.values())
