"""Issue 22's scenario, end to end against the moto server.

A cluster behind an IAM-only RDS Proxy, both found by discovery. The proxy's own log (its
lines built from the public ones in tests/fixtures/rdsproxy/) holds an IAM failure burst
from one client. The database's own log shows only the proxy: its pooled connection, from
an address in the proxy's subnets, logging in as the application's user (the success the
database sees). The failure-burst finding must name the client, and nothing may name the
proxy's address as a client.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.sandbox.aws import Account
from monitor.sandbox.proxy import ship_proxy_logs
from monitor.stages import run_once
from monitor.store.sqlite import Store
from tests.conftest import MotoServer
from tests.integration.test_discovery_logs import ACCOUNT, EXTERNAL_ID_ENV, discovery_config

pytestmark = pytest.mark.integration

CLIENT = "198.51.100.23"
PROXY_ADDRESS = "10.20.1.37"  # inside the sandbox proxy's first subnet, 10.20.1.0/24
ORDERS = "prod/us-east-1/orders"


def _database_log(account: Account, end: datetime) -> None:
    """The cluster's log as RDS exports it: the proxy's pooled connection logs in as `app`."""
    logs = account.logs()
    group = "/aws/rds/cluster/orders/postgresql"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="orders-instance-1")
    prefix = f"{end:%Y-%m-%d %H:%M:%S} UTC:{PROXY_ADDRESS}(40000):app@orders:[4242]:LOG:  "
    messages = [
        f"connection received: host={PROXY_ADDRESS} port=40000",
        "connection authorized: user=app database=orders SSL enabled (protocol=TLSv1.3,"
        " cipher=TLS_AES_256_GCM_SHA384, bits=256)",
    ]
    stamp = int(end.timestamp() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="orders-instance-1",
        logEvents=[{"timestamp": stamp, "message": prefix + m} for m in messages],
    )


def test_proxy_scenario_failure_burst_names_the_client_not_the_proxy(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto_server.reset()
    monkeypatch.setenv(EXTERNAL_ID_ENV, "proxy-scenario")
    account = Account(moto_server.sandbox, ACCOUNT)
    orders = account.create_cluster("orders", 5432)
    account.create_proxy(orders, "orders-proxy")
    shipped = ship_proxy_logs(account, "orders-proxy", "app", CLIENT, burst=6)
    # In the past: a read takes events up to its own clock, never ahead of it.
    _database_log(account, datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30))
    config = discovery_config(
        tmp_path,
        moto_server,
        activity={"enabled": False},
        pglogs={"sources": ["cloudwatch", "rds-proxy"]},
    )

    reports = run_once(config, ["pglogs", "detect"])

    assert [(r.stage, r.failures) for r in reports[:2]] == [("pglogs", 0), ("detect", 0)]
    # moto does not implement DescribeDBProxyEndpoints: what discovery could not describe
    # is a result of its own, a partial read, never silence.
    (discovery,) = reports[2:]
    assert discovery.stage == "discovery" and discovery.failures == 1
    assert "orders-proxy" in discovery.rows[0][0]
    with Store.open(config.store.path, writer=False) as store:
        events = store.conn.execute(
            "SELECT target, kind, client_host, proxy FROM auth_events ORDER BY time, id"
        ).fetchall()
        findings = store.conn.execute(
            "SELECT detector, subject, title, evidence, details FROM findings"
        ).fetchall()
    # The proxy's events are the database's, and carry the client's address.
    proxied = [e for e in events if e[3] == "orders-proxy"]
    assert len(proxied) == shipped
    assert {(t, h) for t, _, h, _ in proxied} == {(ORDERS, CLIENT)}
    assert {k for _, k, _, _ in proxied} == {"connection_received", "auth_failed"}
    # The database saw only the proxy.
    direct = [e for e in events if e[3] is None]
    assert {(t, h) for t, _, h, _ in direct} == {(ORDERS, PROXY_ADDRESS)}
    bursts = [f for f in findings if f[0] == "failure-burst"]
    assert [f[1] for f in bursts if CLIENT in f[1]] == [f"{ORDERS}/host/{CLIENT}"]
    assert any("via proxy orders-proxy" in f[2] for f in bursts)
    for finding in findings:
        assert PROXY_ADDRESS not in " ".join(map(str, finding)), finding
