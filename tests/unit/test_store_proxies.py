"""The proxies table and the auth events' provenance columns (migration 0007)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.models import AuthEvent, Proxy, ProxyAuth
from monitor.parsing.pglog_stats import ParseStats
from monitor.store.events import save_auth_events
from monitor.store.proxies import proxies, save_proxies
from monitor.store.sqlite import Store

NOW = datetime.now(UTC).replace(microsecond=0)
PROXY = Proxy(
    name="orders-proxy",
    account_id="111111111111",
    region="eu-west-1",
    arn="arn:aws:rds:eu-west-1:111111111111:db-proxy:prx-0123456789abcdef0",
    engine_family="POSTGRESQL",
    endpoint="orders-proxy.proxy-abc.eu-west-1.rds.amazonaws.com",
    require_tls=True,
    debug_logging=False,
    auth=(
        ProxyAuth("REQUIRED", "arn:aws:secretsmanager:eu-west-1:111111111111:secret:app-AbCdEf"),
    ),
    fronts=("orders",),
    networks=("10.0.1.0/24", "10.0.2.0/24"),
)


def test_store_proxies_round_trip_and_update(tmp_path: Path) -> None:
    with Store.open(tmp_path / "p.db") as store:
        with store.transaction() as conn:
            save_proxies(conn, [PROXY], NOW)
        assert proxies(store) == [PROXY]
        assert PROXY.iam_only and PROXY.log_group == "/aws/rds/proxy/orders-proxy"
        opened = Proxy(**{**PROXY.__dict__, "auth": (ProxyAuth("DISABLED"),)})
        with store.transaction() as conn:
            save_proxies(conn, [opened], NOW + timedelta(minutes=5))
        assert proxies(store) == [opened]
        assert not opened.iam_only


def test_store_auth_event_keeps_proxy_reason_code_and_caller(tmp_path: Path) -> None:
    caller = "arn:aws:sts::111111111111:assumed-role/app/session-1"
    event = AuthEvent(
        time=NOW,
        kind="auth_failed",
        user="app",
        method="iam",
        source="iam-db-auth-error",
        proxy="orders-proxy",
        reason_code="NotAuthorized",
        caller_arn=caller,
    )
    with Store.open(tmp_path / "p.db") as store:
        stored = save_auth_events(store, "orders", "cloudwatch", [event], ParseStats(), [], NOW)
        row = store.conn.execute(
            "SELECT proxy, reason_code, caller_arn FROM auth_events"
        ).fetchall()
    assert stored == 1
    assert row == [("orders-proxy", "NotAuthorized", caller)]
