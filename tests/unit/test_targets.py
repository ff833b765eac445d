"""Merging configured and discovered targets."""

from __future__ import annotations

from dataclasses import replace

from monitor.targets import Target, merge


def target(
    name: str, endpoint: str, *, resource_id: str | None = None, discovered: bool = False
) -> Target:
    return Target(
        name=name, account_id="222222222222", account_name="prod", region="us-east-1",
        endpoint=endpoint, endpoint_type="cluster", port=5432, database="postgres",
        db_user="pgmonitor", resource_id=resource_id, discovered=discovered,
    )  # fmt: skip


def test_merge_configured_target_takes_the_discovered_resource_id() -> None:
    configured = [target("orders", "orders.cluster-x.us-east-1.rds.amazonaws.com")]
    discovered = [
        target("prod/us-east-1/orders", "orders.cluster-x.us-east-1.rds.amazonaws.com",
               resource_id="cluster-ABC", discovered=True),
        target("prod/us-east-1/other", "other.cluster-x.us-east-1.rds.amazonaws.com",
               resource_id="cluster-DEF", discovered=True),
    ]  # fmt: skip
    merged = merge(configured, discovered)
    assert [(t.name, t.resource_id, t.discovered) for t in merged] == [
        ("orders", "cluster-ABC", False),
        ("prod/us-east-1/other", "cluster-DEF", True),
    ]


def test_merge_keeps_a_configured_resource_id_and_ignores_other_ports() -> None:
    mine = target("orders", "orders.cluster-x.us-east-1.rds.amazonaws.com", resource_id="mine")
    proxied = target("reports", "reports.cluster-x.us-east-1.rds.amazonaws.com")
    found = [
        target("d1", mine.endpoint, resource_id="theirs", discovered=True),
        replace(target("d2", proxied.endpoint, resource_id="r2", discovered=True), port=6432),
    ]
    merged = merge([mine, proxied], found)
    assert [(t.name, t.port, t.resource_id) for t in merged] == [
        ("orders", 5432, "mine"),
        ("reports", 5432, None),
        ("d2", 6432, "r2"),
    ]
