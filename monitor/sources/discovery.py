"""Discovery: the Aurora/RDS PostgreSQL servers of an account that pgwarden can log in to,
and the RDS Proxies in front of them.

Edge code: it lists clusters, instances and proxies through the account's monitor role
(clients from monitor/aws.py) and returns `Target`s and proxies; it stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monitor.config import AccountConfig, Config
from monitor.errors import DiscoveryError
from monitor.sources.proxies import (
    PROXY_ACTIONS,
    FoundProxy,
    Note,
    Undescribed,
    describe_proxies,
)
from monitor.sources.targets import EndpointType, Target

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import DBClusterTypeDef, DBInstanceTypeDef, TagTypeDef

    from monitor.aws import AwsSessions

# What discovery calls in each account that has `discover = true` (monitor role).
DISCOVERY_ACTIONS = ("rds:DescribeDBClusters", "rds:DescribeDBInstances", *PROXY_ACTIONS)


def _tags(tag_list: list[TagTypeDef]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tag_list}


def _wanted(tags: dict[str, str], selector: dict[str, str]) -> bool:
    return all(tags.get(k) == v for k, v in selector.items())


@dataclass(frozen=True)
class _Region:
    """One account's region, as `Target`s are named and made in it."""

    config: Config
    account: AccountConfig
    region: str

    def target(
        self,
        name: str,
        endpoint: str,
        port: int,
        endpoint_type: EndpointType,
        tags: dict[str, str],
        *,
        cluster_id: str | None = None,
        instance_id: str | None = None,
        resource_id: str | None = None,
        proxy_name: str | None = None,
    ) -> Target:
        account = self.account
        return Target(
            name=f"{account.name}/{self.region}/{name}",
            account_id=account.id,
            account_name=account.name,
            region=self.region,
            endpoint=endpoint,
            port=port,
            database=account.database,
            db_user=account.db_user,
            ca_bundle=self.config.activity.ca_bundle,
            discovered=True,
            endpoint_type=endpoint_type,
            cluster_id=cluster_id,
            instance_id=instance_id,
            resource_id=resource_id,
            proxy_name=proxy_name,
            tags=tags,
        )


@dataclass
class Discovered:
    """What discovery found in an account: its targets (proxies among them), the proxies
    to link to the targets, and a note for each describe call that failed."""

    targets: list[Target] = field(default_factory=list)
    proxies: list[FoundProxy] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def __iadd__(self, other: Discovered) -> Discovered:
        self.targets += other.targets
        self.proxies += other.proxies
        self.notes += other.notes
        return self


def discover_account(sessions: AwsSessions, config: Config, account: AccountConfig) -> Discovered:
    """Aurora/RDS PostgreSQL clusters and instances with IAM database auth, in every region,
    and the PostgreSQL proxies (each a target too: a place to poll through).

    Each Aurora instance is its own PostgreSQL server with its own pg_stat_activity: the
    cluster (writer) endpoint shows the writer's sessions only. With `discover_readers`,
    each reader instance becomes a target too, on its instance endpoint, with the
    cluster's `resource_id` (what `rds-db:connect` grants name). Off by default: per-target
    consumers (grants, unused-grant findings) would otherwise count one grant per reader.
    Member instances report IAM auth as off (it is the cluster's setting), so standalone
    instances are judged by their own flag and members by their cluster's. Which proxies
    are kept is decided once they are linked (`monitor.sources.proxies.link`): those in
    front of a selected database.
    """
    found = Discovered()
    for region in account.regions or [config.aws.region]:
        rds = sessions.rds(region, account.id)
        instances, clusters = _describe(rds, account, region)
        where = _Region(config, account, region)
        by_id = {i["DBInstanceIdentifier"]: i for i in instances}
        for c in clusters:
            found.targets += _cluster_targets(where, c, by_id)
        found.targets += [t for i in instances if (t := _instance_target(where, i)) is not None]
        found += _proxies(rds, sessions.ec2(where.region, where.account.id), where)
    return found


def _proxies(rds: RDSClient, ec2: EC2Client, where: _Region) -> Discovered:
    """The region's PostgreSQL proxies as targets; if they cannot be listed (a monitor role
    without rds:DescribeDBProxies), a note, and the databases are still discovered."""
    account, region = where.account.id, where.region
    try:
        found = describe_proxies(rds, ec2, account, region)
    except Undescribed as exc:
        text = f"proxies of account {account} {region} not listed: {exc}"
        return Discovered(notes=[Note(text, account, region)])
    targets = [
        where.target(
            f"proxy/{f.proxy.name}",
            f.proxy.endpoint,
            5432,  # a PostgreSQL proxy listens on PostgreSQL's port
            "proxy",
            {},
            resource_id=f.proxy.arn.rsplit(":", 1)[-1] or None,  # prx-...: what grants name
            proxy_name=f.proxy.name,
        )
        for f in found
        if f.proxy.endpoint
    ]
    return Discovered(targets, found, [n for f in found for n in f.notes])


def _describe(
    rds: RDSClient, account: AccountConfig, region: str
) -> tuple[list[DBInstanceTypeDef], list[DBClusterTypeDef]]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        instances = [
            i
            for page in rds.get_paginator("describe_db_instances").paginate()
            for i in page["DBInstances"]
        ]
        clusters = [
            c
            for page in rds.get_paginator("describe_db_clusters").paginate()
            for c in page["DBClusters"]
        ]
    except (ClientError, BotoCoreError) as exc:
        raise DiscoveryError(
            f"account {account.id} region {region}: discovery failed: {exc}"
        ) from None
    return instances, clusters


def _cluster_targets(
    where: _Region, c: DBClusterTypeDef, by_id: dict[str, DBInstanceTypeDef]
) -> list[Target]:
    """An Aurora PostgreSQL cluster's endpoint, and with `discover_readers` its readers'."""
    account = where.account
    tags = _tags(c.get("TagList", []))
    if not (
        c.get("Engine", "").startswith("aurora-postgresql")
        and c.get("IAMDatabaseAuthenticationEnabled")
        and _wanted(tags, account.discover_tags)
        and c.get("Endpoint")
    ):
        return []
    cluster_id = c["DBClusterIdentifier"]
    resource_id = c.get("DbClusterResourceId")
    port = int(c.get("Port") or 5432)
    found = [
        where.target(
            cluster_id,
            c["Endpoint"],
            port,
            "cluster",
            tags,
            cluster_id=cluster_id,
            resource_id=resource_id,
        )
    ]
    for member in c.get("DBClusterMembers", []) if account.discover_readers else []:
        reader = by_id.get(member["DBInstanceIdentifier"])
        endpoint = (reader.get("Endpoint") if reader else None) or {}
        address = endpoint.get("Address")
        if member.get("IsClusterWriter") or not address:
            continue  # the writer is the cluster endpoint's target
        found.append(
            where.target(
                f"{cluster_id}/{member['DBInstanceIdentifier']}",
                address,
                int(endpoint.get("Port") or port),
                "instance",
                tags,
                cluster_id=cluster_id,
                instance_id=member["DBInstanceIdentifier"],
                resource_id=resource_id,
            )
        )
    return found


def _instance_target(where: _Region, i: DBInstanceTypeDef) -> Target | None:
    """A standalone RDS PostgreSQL instance with IAM database auth, if it is selected."""
    tags = _tags(i.get("TagList", []))
    endpoint = i.get("Endpoint") or {}
    address = endpoint.get("Address")
    if not (
        i.get("Engine") == "postgres"
        and not i.get("DBClusterIdentifier")
        and i.get("IAMDatabaseAuthenticationEnabled")
        and _wanted(tags, where.account.discover_tags)
        and address
    ):
        return None
    return where.target(
        i["DBInstanceIdentifier"],
        address,
        int(endpoint.get("Port") or 5432),
        "instance",
        tags,
        instance_id=i["DBInstanceIdentifier"],
        resource_id=i.get("DbiResourceId"),
    )
