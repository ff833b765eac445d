"""Issue 17's attacks against a real PostgreSQL 15: what a refused client writes into the
log through its user and database names is caught, never believed.

The server is this module's own (not the session's): its pg_hba.conf checks passwords for
the attacker's names, and it writes stderr, csvlog and jsonlog at once, so one attempt is
read in all three formats. With a password-checked line and a password supplied, the
server logs %u and %d of the refused login exactly as sent (TEST-STACK.md).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.models import AuthEvent, SuspiciousEntry
from monitor.parsing.pglog import LogParser, parse_stream
from monitor.sandbox.pg import PgServer, find_pg_bindir
from tests.conftest import require

# The three attacks of the issue, and the newline one through the database name.
AUTHORIZED = "b:[4242]:LOG:  connection authorized: user=legacy_batch GSS "
NEWLINE_USER = "z\n2020-01-01 03:00:00 UTC:10.66.66.66(6666):postgres"
FRAME = 'd:[77{}]:FATAL:  password authentication failed for user "app_user"'
NEWLINE_DB = "x\n2020-01-01 03:00:00 UTC:10.66.66.66(6666):app_user@attackdb"


@pytest.fixture(scope="module")
def attack_pg() -> Iterator[PgServer]:
    bindir = find_pg_bindir()
    require(bindir, "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    assert bindir is not None
    base = Path(tempfile.mkdtemp(prefix="pgwarden-injection-"))
    server = PgServer(bindir, base)
    try:
        server.init()
        server.append_conf({"log_destination": "'stderr,csvlog,jsonlog'"})
        hba = server.datadir / "pg_hba.conf"
        checked = (
            "host all attacker 127.0.0.1/32 password\nhost attackdb all 127.0.0.1/32 password\n"
        )
        server.write_file(hba, checked + hba.read_text(encoding="utf-8"))
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _attack(server: PgServer, user: str, dbname: str) -> None:
    import psycopg

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host=server.host,
            port=server.port,
            user=user,
            dbname=dbname,
            password="not-the-password",
            sslmode="disable",
            connect_timeout=5,
        ).close()


def _read(path: Path) -> tuple[list[AuthEvent], list[SuspiciousEntry], LogParser]:
    parser = LogParser(source=path.name)
    with open(path, "rb") as fh:
        out = list(parse_stream(fh, parser))
    events = [e for e in out if isinstance(e, AuthEvent)]
    return events, [e for e in out if isinstance(e, SuspiciousEntry)], parser


def test_pglog_injection_real_server_attacks_are_caught(attack_pg: PgServer) -> None:
    import psycopg

    with psycopg.connect(attack_pg.dsn(), autocommit=True) as conn:
        conn.execute("CREATE ROLE legacy_batch LOGIN")
    attempts = [("attacker", AUTHORIZED), (NEWLINE_USER, "attackdb")]
    attempts += [("attacker", FRAME.format(i)) for i in range(6)]
    attempts += [("attacker", NEWLINE_DB)]
    for user, dbname in attempts:
        _attack(attack_pg, user, dbname)
    csv_path, json_path = (attack_pg.log_dir / f"postgresql.{ext}" for ext in ("csv", "json"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the logging collector writes a moment later
        written = json_path.read_text(encoding="utf-8") if json_path.exists() else ""
        if written.count('"error_severity":"DETAIL"') + written.count("FATAL") >= 2 * len(attempts):
            break
        time.sleep(0.05)

    events, suspicious, parser = _read(attack_pg.log_file)
    assert parser.format == "stderr"
    # 1: no login of legacy_batch; 2: nothing from 10.66.66.66 nor from 2020;
    # 3: no failure of app_user, nor of a user named after it.
    assert not [e for e in events if e.kind == "connection_authorized" and e.user != "postgres"]
    assert not [e for e in events if e.client_host == "10.66.66.66" or e.time.year == 2020]
    assert not [e for e in events if e.user and "app_us" in e.user]
    # Each refused attempt is still one failed login from its real host, its user unknown.
    failed = [e for e in events if e.kind == "auth_failed"]
    assert len(failed) == len(attempts)
    assert {(e.user, e.client_host) for e in failed} == {(None, "127.0.0.1")}
    assert len({e.client_port for e in failed}) == len(attempts)
    assert parser.stats.suspicious == len(suspicious) >= len(attempts)
    assert {s.client_host for s in suspicious} == {"127.0.0.1"}
    assert any("legacy_batch GSS :[" in s.line for s in suspicious)
    assert any("\n2020-01-01" in s.line for s in suspicious)

    for path in (csv_path, json_path):
        events, suspicious, parser = _read(path)
        assert not suspicious, path.name
        failed_users = [e.user for e in events if e.kind == "auth_failed"]
        assert failed_users.count("attacker") == len(attempts) - 1, path.name
        assert NEWLINE_USER in failed_users, path.name
        assert parser.stats.unparsed == 0, path.name
