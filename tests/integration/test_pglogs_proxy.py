"""The rds-proxy log source against moto's CloudWatch Logs (a real HTTP server) and a real
store: read once, the cursor, the fronted database, unrecognised lines and their share.

The proxy lines are the public lines of tests/fixtures/rdsproxy/, re-timed
(monitor.sandbox.proxy.py); the unrecognised ones are plainly not proxy lines.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from monitor.clock import FrozenClock
from monitor.sandbox.proxy import CONNECTED, IAM_FAILED, PINNED, proxy_line
from monitor.sources.pglogs import PgLogsConfig
from monitor.sources.pglogs.ingest import ingest
from monitor.sources.pglogs.proxy import CURSOR, read_proxy
from monitor.sources.targets import Target, attach_logs
from monitor.store.metrics import sample
from monitor.store.sqlite import Store

pytestmark = pytest.mark.integration

# moto refuses events over 14 days old on the real clock: yesterday, 04:00 UTC.
NOW = (datetime.now(UTC) - timedelta(days=1)).replace(hour=4, minute=0, second=0, microsecond=0)
PROXY_GROUP = "/aws/rds/proxy/orders-proxy"
PG_GROUP = "/aws/rds/cluster/orders/postgresql"
CLIENT = "203.0.113.7"
ORDERS = Target(
    name="prod-orders",
    account_id="111122223333",
    account_name="prod",
    region="us-east-1",
    endpoint="orders.cluster-abc.us-east-1.rds.amazonaws.com",
    endpoint_type="cluster",
    port=5432,
    database="postgres",
    db_user="pgmonitor",
    cluster_id="orders",
    proxies=("orders-proxy",),
)
PROXY = replace(
    ORDERS,
    name="prod-orders-proxy",
    endpoint="orders-proxy.proxy-abc.us-east-1.rds.amazonaws.com",
    endpoint_type="proxy",
    cluster_id=None,
    proxy_name="orders-proxy",
    proxies=(),
)
OPTS = PgLogsConfig(sources=["cloudwatch", "rds-proxy"], initial_lookback_hours=2)


class MotoClients:
    def __init__(self, logs: Any) -> None:
        self.logs = logs

    def client(self, service: Literal["logs", "rds"], target: Target) -> Any:
        assert service == "logs"
        return self.logs


def _at(seconds: float) -> datetime:
    return NOW - timedelta(minutes=30) + timedelta(seconds=seconds)


def _put(logs: Any, group: str, lines: list[tuple[datetime, str]]) -> None:
    if not logs.describe_log_streams(logGroupName=group).get("logStreams"):
        logs.create_log_stream(logGroupName=group, logStreamName="s")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": int(t.timestamp() * 1000), "message": m} for t, m in lines],
    )


def _logs(moto_server: Any) -> Any:
    moto_server.reset()
    logs = moto_server.client("logs")
    for group in (PROXY_GROUP, PG_GROUP):
        logs.create_log_group(logGroupName=group)
    # The database's own log: the proxy's pooled connection, from a proxy address.
    _put(
        logs,
        PG_GROUP,
        [
            (
                _at(0),
                _at(0).strftime("%Y-%m-%d %H:%M:%S UTC")
                + ":10.0.1.5(40000):[unknown]@[unknown]:[100]:LOG:  connection received:"
                " host=10.0.1.5 port=40000",
            )
        ],
    )
    return logs


def _proxy_rows(store: Store) -> list[tuple[Any, ...]]:
    return store.conn.execute(
        "SELECT target, kind, user, client_host, client_port, method, tls, proxy, reason"
        " FROM auth_events WHERE proxy IS NOT NULL ORDER BY time, id"
    ).fetchall()


def test_pglogs_proxy_reads_once_under_the_fronted_database(
    moto_server: Any, tmp_path: Path
) -> None:
    logs = _logs(moto_server)
    targets = attach_logs([ORDERS, PROXY], OPTS)
    assert [t.log_sources for t in targets] == [("cloudwatch",), ("rds-proxy",)]
    # The read ends between a client's connect line and its refused login.
    _put(
        logs, PROXY_GROUP, [(_at(1), proxy_line(CONNECTED, _at(1), 7, address=CLIENT, port=50001))]
    )
    clients = MotoClients(logs)
    with Store.open(tmp_path / "s.db") as store:
        first = ingest(store, targets, OPTS, clients, FrozenClock(NOW - timedelta(minutes=20)))
        _put(
            logs,
            PROXY_GROUP,
            [
                (_at(2), proxy_line(IAM_FAILED, _at(2), 7, user="orders_app")),
                (_at(3), proxy_line(PINNED, _at(3), 8, level="WARN", db=42)),
                (_at(4), "a line in no shape the proxy is known to write"),
            ],
        )
        second = ingest(store, targets, OPTS, clients, FrozenClock(NOW))
        third = ingest(store, targets, OPTS, clients, FrozenClock(NOW + timedelta(minutes=1)))
        rows = _proxy_rows(store)
        cursor = store.get_cursor(CURSOR, f"prod-orders-proxy:{PROXY_GROUP}")
        unparsed = store.conn.execute(
            "SELECT target, source, lines, unparsed, samples FROM auth_log_unparsed"
        ).fetchall()
    proxy_reads = [r for r in first + second + third if r.kind == "rds-proxy"]
    assert [(r.target, r.records, r.stored, r.problem) for r in proxy_reads] == [
        ("prod-orders-proxy", 1, 1, None),
        ("prod-orders-proxy", 3, 1, None),
        ("prod-orders-proxy", 0, 0, None),  # read once: nothing new
    ]
    reason = (
        "Invalid credentials. If you provide an IAM token, make sure to either use the correct"
        " password or enable IAM authentication."
    )
    # Under the database the proxy fronts, with the client's own address, not the proxy's.
    assert rows == [
        ("prod-orders", "connection_received", None, CLIENT, 50001, None, None, "orders-proxy",
         None),
        ("prod-orders", "auth_failed", "orders_app", CLIENT, 50001, "iam", "on", "orders-proxy",
         reason),
    ]  # fmt: skip
    assert cursor["ts"] == int(_at(4).timestamp() * 1000)
    assert cursor["proxy"] == "prod-orders-proxy"
    assert list(cursor["connections"]) == ["7"]
    assert cursor["rate"]["seen"] == 4 and cursor["rate"]["unrecognised"] == 1
    [(target, source, lines, bad, samples)] = unparsed
    assert (target, source, lines, bad) == ("prod-orders", f"rds-proxy:{PROXY_GROUP}", 3, 1)
    assert json.loads(samples) == ["a line in no shape the proxy is known to write"]


def test_pglogs_proxy_warns_once_when_the_unrecognised_share_jumps(
    moto_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logs = _logs(moto_server)
    opts = OPTS.model_copy(update={"proxy_unrecognised_window": 4, "proxy_unrecognised_share": 0.5})
    good = [
        (_at(i), proxy_line(CONNECTED, _at(i), i, address=CLIENT, port=50000 + i)) for i in range(4)
    ]
    bad = [(_at(10 + i), f"moved format line {i}") for i in range(8)]
    with Store.open(tmp_path / "s.db") as store:
        _put(logs, PROXY_GROUP, good)
        read_proxy(store, logs, PROXY, "prod-orders", opts, NOW)
        before = list(sample(store, "metrics_proxy_log_unrecognised", NOW))
        with caplog.at_level(logging.WARNING, logger="monitor.sources.pglogs.proxy"):
            for i in range(2):  # two windows of a moved format, over two reads
                _put(logs, PROXY_GROUP, bad[4 * i : 4 * i + 4])
                result = read_proxy(
                    store, logs, PROXY, "prod-orders", opts, NOW + timedelta(seconds=i)
                )
                assert (result.records, result.stats.unparsed, result.problem) == (4, 4, None)
        metric = list(sample(store, "metrics_proxy_log_unrecognised", NOW))
    warnings = [r for r in caplog.records if "not recognised" in r.getMessage()]
    assert len(warnings) == 1
    assert "prod-orders-proxy" in warnings[0].getMessage()
    assert before == [(["prod-orders-proxy"], 0.0)]
    assert metric == [(["prod-orders-proxy"], 1.0)]


def test_pglogs_proxy_backing_target_and_missing_group(moto_server: Any, tmp_path: Path) -> None:
    logs = _logs(moto_server)
    other = replace(PROXY, name="lone-proxy", proxy_name="lone-proxy")
    # Behind orders-proxy: the cluster's target comes before its reader's; a proxy of the
    # same name in another region is another proxy.
    reader = replace(ORDERS, name="prod-orders-reader", endpoint_type="instance")
    elsewhere = replace(ORDERS, name="eu-orders", region="eu-west-1")
    with Store.open(tmp_path / "s.db") as store:
        _put(
            logs, PROXY_GROUP, [(_at(1), proxy_line(CONNECTED, _at(1), 1, address=CLIENT, port=1))]
        )
        targets = attach_logs([elsewhere, reader, ORDERS, PROXY, other], OPTS)
        results = ingest(store, targets, OPTS, MotoClients(logs), FrozenClock(NOW))
        stored_under = store.conn.execute(
            "SELECT DISTINCT target FROM auth_events WHERE proxy IS NOT NULL"
        ).fetchall()
    assert stored_under == [("prod-orders",)]
    # A proxy whose log group is missing is reported, never read as quiet.
    lone = [r for r in results if r.target == "lone-proxy"]
    assert [(r.source, r.problem) for r in lone] == [
        (
            "rds-proxy:/aws/rds/proxy/lone-proxy",
            "no log group /aws/rds/proxy/lone-proxy: the proxy has written no log"
            " (see pgwarden doctor)",
        )
    ]
