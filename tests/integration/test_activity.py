"""Live sessions through real parts: IAM login over TLS to PostgreSQL, moto STS, SQLite."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from monitor.clock import FrozenClock
from monitor.sandbox.pam import IamPg
from tests.conftest import MotoServer
from tests.support.activity import Harness, make_config, target_table

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


@pytest.fixture
def harness(iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path) -> Iterator[Harness]:
    config = make_config(tmp_path, moto_server.url, [target_table(iam_pg)])
    h = Harness(config, FrozenClock(T0))
    try:
        yield h
    finally:
        h.close()


def app_session(iam_pg: IamPg, user: str, app: str) -> psycopg.Connection:
    # Application users log in over plain trust here: the point is what the monitor sees.
    return psycopg.connect(iam_pg.server.dsn(user=user), application_name=app, autocommit=True)


def wait_backend_gone(iam_pg: IamPg, pid: int) -> None:
    """A closed client's backend lingers for a moment; the next poll may still see it."""
    deadline = time.monotonic() + 10
    with psycopg.connect(iam_pg.server.dsn(), autocommit=True) as admin:
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchall():
            assert time.monotonic() < deadline, f"backend {pid} still there after 10 s"
            time.sleep(0.02)


def test_activity_sessions_stored_and_ended(iam_pg: IamPg, harness: Harness) -> None:
    with psycopg.connect(iam_pg.server.dsn(), autocommit=True) as admin:
        for role in ("orders_app", "analyst"):
            if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchall():
                admin.execute(f"CREATE ROLE {role} LOGIN")
    app = app_session(iam_pg, "orders_app", "orders-api")
    client = app_session(iam_pg, "analyst", "DBeaver 24.1")
    idle_tx = app_session(iam_pg, "orders_app", "batch-job")
    idle_tx.autocommit = False
    idle_tx.execute("SELECT 1")  # leaves the session idle in transaction
    try:
        first = harness.poll()["demo"]
        assert first.status == "ok", first.reason
        assert first.new_connection
        own_pid = harness.source.state("demo").backend_pid
        assert own_pid and own_pid not in {s.pid for s in first.sessions}
        gone = client.info.backend_pid
        client.close()
        wait_backend_gone(iam_pg, gone)
        harness.clock.advance(timedelta(seconds=10))  # type: ignore[attr-defined]
        second = harness.poll()["demo"]
        assert second.status == "ok" and not second.new_connection
    finally:
        for conn in (app, client, idle_tx):
            conn.close()
    rows = harness.rows(
        "SELECT usename, application_name, last_state, seen_count, first_seen, last_seen,"
        " ended_at, client_addr FROM sessions WHERE target = 'demo'"
        " AND application_name IN ('orders-api', 'DBeaver 24.1', 'batch-job')"
        " ORDER BY application_name"
    )
    t0, t1 = (
        T0.isoformat(timespec="microseconds"),
        (T0 + timedelta(seconds=10)).isoformat(timespec="microseconds"),
    )
    assert rows == [
        ("analyst", "DBeaver 24.1", "idle", 1, t0, t0, t1, "127.0.0.1"),
        ("orders_app", "batch-job", "idle in transaction", 2, t0, t1, None, "127.0.0.1"),
        ("orders_app", "orders-api", "idle", 2, t0, t1, None, "127.0.0.1"),
    ]
    status = harness.rows("SELECT status, reason, row_count, last_ok_at FROM target_status")
    assert status[0][0:2] == ("ok", None) and status[0][2] >= 2 and status[0][3] == t1
    # One row per session, however many polls: storage grows with sessions.
    assert (
        harness.rows("SELECT count(*) FROM sessions WHERE application_name = 'orders-api'")[0][0]
        == 1
    )


def test_activity_roles_inventory(iam_pg: IamPg, harness: Harness) -> None:
    iam_pg.create_iam_user("alice_iam", "rds_superuser")
    # A real expiry, so relative to the real clock (PostgreSQL compares it with its own).
    valid_until = (datetime.now(UTC) + timedelta(days=400)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    with psycopg.connect(iam_pg.server.dsn(), autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'oltp_rw_role'").fetchall():
            admin.execute("CREATE ROLE oltp_rw_role")
        admin.execute("GRANT oltp_rw_role TO alice_iam")
        admin.execute(
            sql.SQL("ALTER ROLE alice_iam VALID UNTIL {}").format(
                sql.Literal(valid_until.isoformat())
            )
        )
    result = harness.poll()["demo"]
    assert result.status == "ok" and result.roles is not None
    rows = {
        r[0]: r[1:]
        for r in harness.rows(
            "SELECT rolname, rds_iam, superuser, rds_superuser, can_login, valid_until, member_of,"
            " dropped_at FROM db_roles WHERE target = 'demo'"
        )
    }
    assert rows["alice_iam"] == (
        1,
        0,
        1,
        1,
        valid_until.isoformat(timespec="microseconds"),
        json.dumps(["oltp_rw_role", "rds_iam", "rds_superuser"]),
        None,
    )
    assert rows["pgmonitor"][0] == 1 and "pg_monitor" in json.loads(rows["pgmonitor"][5])
    assert rows["postgres"][:2] == (0, 1)
    # Not re-read on the next poll of the same connection: hourly by default.
    harness.clock.advance(timedelta(seconds=10))  # type: ignore[attr-defined]
    assert harness.poll()["demo"].roles is None
    with psycopg.connect(iam_pg.server.dsn(), autocommit=True) as admin:
        admin.execute("ALTER ROLE alice_iam NOLOGIN")
    harness.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    assert harness.poll()["demo"].roles is not None
    dropped = harness.rows("SELECT dropped_at FROM db_roles WHERE rolname = 'alice_iam'")
    assert dropped == [((T0 + timedelta(hours=1, seconds=10)).isoformat(timespec="microseconds"),)]
    with psycopg.connect(iam_pg.server.dsn(), autocommit=True) as admin:
        admin.execute("ALTER ROLE alice_iam LOGIN")


@pytest.mark.parametrize("capture", ["none", "masked"])
def test_activity_query_text_masked_or_absent(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path, capture: str
) -> None:
    config = make_config(
        tmp_path, moto_server.url, [target_table(iam_pg)], capture_query_text=capture
    )
    h = Harness(config, FrozenClock(T0))
    with app_session(iam_pg, "postgres", "leaky-app") as leaky:
        leaky.execute("SELECT 'card-4111111111111111' AS pan, 42 AS n")
        try:
            assert h.poll()["demo"].status == "ok"
        finally:
            h.close()
    store_text = (tmp_path / "pgwarden.db").read_bytes() + (
        (tmp_path / "pgwarden.db-wal").read_bytes()
        if (tmp_path / "pgwarden.db-wal").exists()
        else b""
    )
    assert b"4111111111111111" not in store_text
    from monitor.store.sqlite import Store

    with Store.open(config.store.path) as store:
        query = store.conn.execute(
            "SELECT last_query FROM sessions WHERE application_name = 'leaky-app'"
        ).fetchall()
    expected = "SELECT ? AS pan, ? AS n" if capture == "masked" else None
    assert query == [(expected,)]


def test_activity_store_continues_across_runs(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path
) -> None:
    """A new process (as `pgwarden once` is) picks up the open sessions from the store."""
    config = make_config(tmp_path, moto_server.url, [target_table(iam_pg)])
    with app_session(iam_pg, "postgres", "long-lived") as kept:
        short = app_session(iam_pg, "postgres", "short-lived")
        for step in range(2):
            h = Harness(config, FrozenClock(T0 + timedelta(seconds=10 * step)))
            try:
                assert h.poll()["demo"].status == "ok"
            finally:
                h.close()
            if step == 0:
                gone = short.info.backend_pid
                short.close()
                wait_backend_gone(iam_pg, gone)
        assert kept.info.backend_pid
    from monitor.store.sqlite import Store

    with Store.open(config.store.path) as store:
        rows = store.conn.execute(
            "SELECT application_name, seen_count, ended_at FROM sessions"
            " WHERE application_name IN ('long-lived', 'short-lived') ORDER BY 1"
        ).fetchall()
    t1 = (T0 + timedelta(seconds=10)).isoformat(timespec="microseconds")
    assert rows == [("long-lived", 2, None), ("short-lived", 1, t1)]


def test_activity_token_signed_for_the_exact_endpoint(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path
) -> None:
    """Writer, reader, instance and proxy endpoints each get a token for their own name."""
    kinds = {
        "writer": ("cluster", iam_pg.hosts[0], {}),
        "reader": ("reader", iam_pg.hosts[1], {}),
        "inst": ("instance", iam_pg.hosts[2], {"cluster_id": None, "instance_id": "demo-1"}),
        "proxy": ("proxy", iam_pg.hosts[3], {"cluster_id": None, "proxy_name": "demo-proxy"}),
    }
    targets = []
    for name, (kind, host, ids) in kinds.items():
        table = target_table(iam_pg, name, endpoint=host, endpoint_type=kind, **ids)
        targets.append({k: v for k, v in table.items() if v is not None})
    config = make_config(tmp_path, moto_server.url, targets, max_parallel=1)
    before = len(iam_pg.decisions())
    h = Harness(config, FrozenClock(T0))
    try:
        results = h.poll()
    finally:
        h.close()
    assert {n: r.status for n, r in results.items()} == dict.fromkeys(kinds, "ok")
    hosts = [d["host"] for d in iam_pg.decisions()[before:] if d["ok"]]
    port = iam_pg.port
    assert hosts == [f"{host}:{port}" for _, host, _ in kinds.values()]


def test_activity_new_connections_rate_limited_across_targets(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path
) -> None:
    targets = [target_table(iam_pg, f"t{i}") for i in range(5)]
    config = make_config(
        tmp_path, moto_server.url, targets, max_new_connections_per_s=4, max_parallel=5
    )
    before = len(iam_pg.decisions())
    h = Harness(config, FrozenClock(T0))
    try:
        assert {r.status for r in h.poll().values()} == {"ok"}
        # Kept connections: the second round opens none, so it waits for no slot.
        started = time.monotonic()
        assert {r.status for r in h.poll().values()} == {"ok"}
        assert time.monotonic() - started < 0.25
    finally:
        h.close()
    logins = sorted(d["time"] for d in iam_pg.decisions()[before:] if d["ok"])
    assert len(logins) == 5
    # The server saw the logins at most 4 per second: 5 of them span at least ~1 s.
    assert logins[-1] - logins[0] >= 0.9, logins


def test_activity_monitor_user_without_pg_monitor_is_an_error(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path
) -> None:
    iam_pg.create_iam_user("pgmonitor_bare")  # rds_iam only
    config = make_config(
        tmp_path, moto_server.url, [target_table(iam_pg, db_user="pgmonitor_bare")]
    )
    h = Harness(config, FrozenClock(T0))
    try:
        result = h.poll()["demo"]
        assert h.source.state("demo").backend_pid  # logged in fine, over IAM
        assert h.rows("SELECT count(*) FROM sessions") == [(0,)]
        assert h.rows("SELECT status FROM target_status") == [("error",)]
    finally:
        h.close()
    assert (result.status, result.reason) == (
        "error",
        "pgmonitor_bare cannot see other users' sessions: "
        "GRANT pg_monitor (or pg_read_all_stats) to it",
    )


def pgwarden_backends(iam_pg: IamPg) -> list[int]:
    with psycopg.connect(iam_pg.server.dsn(), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgwarden'"
        ).fetchall()
    return [row[0] for row in rows]


def test_activity_stage_keeps_its_connection_between_runs(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path
) -> None:
    """The daemon's poll job reuses one login per target; closing the context ends it."""
    from monitor.stages import run_stage
    from monitor.stages.base import StageContext
    from monitor.store.sqlite import Store

    config = make_config(tmp_path, moto_server.url, [target_table(iam_pg, "kept")])
    before = set(pgwarden_backends(iam_pg))
    with Store.open(config.store.path) as store:
        ctx = StageContext(config, store, FrozenClock(T0))
        try:
            first = run_stage("activity", ctx)
            ours = set(pgwarden_backends(iam_pg)) - before
            second = run_stage("activity", ctx)
            assert [r[:2] for r in (*first.rows, *second.rows)] == [("kept", "ok")] * 2
            assert len(ours) == 1
            assert set(pgwarden_backends(iam_pg)) - before == ours  # the same backend
        finally:
            ctx.close()
    (pid,) = ours
    wait_backend_gone(iam_pg, pid)
