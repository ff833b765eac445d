"""A proxy target in front of a watched database: a second path to the same sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.sources.activity import PollResult, RoleRow, SessionRow
from monitor.sources.targets import Target
from monitor.stages.activity import second_paths
from monitor.store.sessions import SessionRecorder
from monitor.store.sqlite import Store


def _target(name: str, **extra: object) -> Target:
    fields: dict[str, object] = {
        "name": name, "account_id": "222222222222", "account_name": "prod",
        "region": "us-east-1", "endpoint": f"{name}.example", "endpoint_type": "cluster",
        "port": 5432, "database": "postgres", "db_user": "pgmonitor", "ca_bundle": None,
        **extra,
    }  # fmt: skip
    return Target(**fields)  # type: ignore[arg-type]


def test_only_a_proxy_target_whose_proxy_fronts_a_watched_target_is_a_second_path() -> None:
    targets = [
        _target("orders", proxies=("orders-proxy",)),
        _target("orders-proxy", endpoint_type="proxy", proxy_name="orders-proxy"),
        # A proxy in front of nothing pgwarden watches: its target is the only path.
        _target("lone-proxy", endpoint_type="proxy", proxy_name="lone-proxy"),
        # The same proxy name in another account fronts nothing watched there.
        _target("other", endpoint_type="proxy", proxy_name="orders-proxy", account_id="3" * 12),
    ]
    assert second_paths(targets) == frozenset({"orders-proxy"})


def _poll(
    target: str, at: datetime, sessions: tuple[SessionRow, ...], *, roles: bool = True
) -> PollResult:
    rows = (RoleRow("legacy_batch", False, True, None, ("rds_iam",)),) if roles else None
    return PollResult(target, "ok", at, 3.0, sessions=sessions, roles=rows)


def test_a_second_path_keeps_its_status_and_records_no_session_or_role(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    session = SessionRow(
        4242, "postgres", "postgres", "10.0.0.5", None, 5432, "psql", now - timedelta(minutes=5),
        None, None, None, "idle", None, "client backend", None,
    )  # fmt: skip
    with Store.open(tmp_path / "p.db") as store:
        # Recorded before the proxy target was known as a second path: ended now.
        with store.transaction() as conn:
            SessionRecorder().record(conn, _poll("orders-proxy", now, (session,), roles=False))
        recorder = SessionRecorder(frozenset({"orders-proxy"}))
        later = now + timedelta(seconds=10)
        with store.transaction() as conn:
            for target in ("orders", "orders-proxy"):
                recorder.record(conn, _poll(target, later, (session,)))
        rows = store.conn.execute(
            "SELECT target, ended_at IS NOT NULL FROM sessions ORDER BY target"
        ).fetchall()
        status = store.conn.execute(
            "SELECT target, status, row_count FROM target_status ORDER BY target"
        ).fetchall()
        roles = store.conn.execute("SELECT target, rolname FROM db_roles ORDER BY 1").fetchall()
    assert rows == [("orders", 0), ("orders-proxy", 1)]
    assert status == [("orders", "ok", 1), ("orders-proxy", "ok", 1)]
    assert roles == [("orders", "legacy_batch")]
