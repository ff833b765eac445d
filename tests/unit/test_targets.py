"""Merging configured and discovered targets, and where each one's logs are read."""

from __future__ import annotations

from dataclasses import replace

from monitor.sources.pglogs import PgLogsConfig
from monitor.sources.targets import Target, attach_logs, merge


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


def test_merge_configured_override_of_a_discovered_cluster_is_one_target() -> None:
    # The configured target reaches the cluster through a private DNS name: same resource.
    mine = replace(target("orders", "orders.db.internal.example.com"), cluster_id="orders")
    found = replace(
        target("prod/us-east-1/orders", "orders.cluster-x.us-east-1.rds.amazonaws.com",
               resource_id="cluster-ABC", discovered=True),
        cluster_id="orders",
    )  # fmt: skip
    merged = merge([mine], [found])
    assert [(t.name, t.endpoint, t.resource_id) for t in merged] == [
        ("orders", "orders.db.internal.example.com", "cluster-ABC")
    ]


def _resolved(*targets: Target, **pglogs: object) -> dict[str, Target]:
    opts = PgLogsConfig.model_validate(pglogs)
    return {t.name: t for t in attach_logs(list(targets), opts)}


def test_attach_logs_a_cluster_reads_its_cluster_groups_and_its_readers_go_through_it() -> None:
    cluster = replace(target("c", "c.cluster-x"), cluster_id="orders")
    reader = replace(
        target("c/r1", "r1.x"), cluster_id="orders", instance_id="r1", endpoint_type="instance"
    )
    lone_reader = replace(
        target("lone", "lone.x"), cluster_id="billing", instance_id="b2", endpoint_type="instance"
    )
    instance = replace(target("i", "i.x"), instance_id="pg-1", endpoint_type="instance")
    proxy = replace(target("p", "p.proxy"), proxy_name="p", endpoint_type="proxy")
    got = _resolved(cluster, reader, lone_reader, instance, proxy, sources=["cloudwatch"])
    assert got["c"].log_groups == (
        "/aws/rds/cluster/orders/postgresql",
        "/aws/rds/cluster/orders/iam-db-auth-error",
    )
    assert got["c"].log_sources == ("cloudwatch",)
    # Aurora exports every member's log to the cluster's group: the cluster target reads
    # the reader's lines, and the reader reads nothing twice.
    assert (got["c/r1"].log_groups, got["c/r1"].logs_via, got["c/r1"].expects_logs) == (
        (), "c", False,
    )  # fmt: skip
    # A reader whose cluster is not watched reads the cluster's group itself.
    assert got["lone"].log_groups[0] == "/aws/rds/cluster/billing/postgresql"
    assert got["i"].log_groups[0] == "/aws/rds/instance/pg-1/postgresql"
    assert (got["p"].log_groups, got["p"].log_sources, got["p"].expects_logs) == ((), (), False)


def test_attach_logs_files_belong_to_the_target_they_name() -> None:
    a = replace(target("a", "a.x"), cluster_id="a")
    b = replace(target("b", "b.x"), cluster_id="b")
    got = _resolved(
        a, b, sources=["files"], files=[{"target": "a", "paths": ["/logs/a", "/logs/a2"]}]
    )
    assert (got["a"].log_sources, [str(p) for p in got["a"].log_files]) == (
        ("files",), ["/logs/a", "/logs/a2"],
    )  # fmt: skip
    # b has log groups, but no enabled source reads them: it expects logs and gets none.
    assert (got["b"].log_sources, got["b"].log_files, got["b"].expects_logs) == ((), (), True)
