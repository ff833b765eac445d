"""RDS Proxies: what the RDS API says of each PostgreSQL proxy, and the targets behind it.

Edge code (`describe_proxies`, through the account's monitor role) and pure builders from
the describe answers (`proxy_model`, `backing_of`, `link`), so the model is tested on
AWS's own answer shapes without a server.

A proxy is tied to what it fronts by `describe_db_proxy_targets`: for an Aurora cluster,
RDS lists the cluster (`TRACKED_CLUSTER`, `RdsResourceId` = the cluster id) and each of its
instances (`RDS_INSTANCE` with `TrackedClusterId`); for a standalone instance, the instance
(`RDS_INSTANCE`, no `TrackedClusterId`). No proxy log line names the target, so this is the
only link between a proxy's log and the database behind it.

Every call after `describe_db_proxies` can fail alone (a permission missing after an
upgrade, an API the endpoint does not implement): that is a note on that proxy, the proxy
is kept with what is known, and nothing is read as "no endpoints" or "no targets".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from monitor.models import Proxy, ProxyAuth, ProxyDatabase

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import (
        DBProxyEndpointTypeDef,
        DBProxyTargetTypeDef,
        DBProxyTypeDef,
        UserAuthConfigInfoTypeDef,
    )

    from monitor.sources.targets import Target

# What finding and describing proxies calls (monitor role): with discovery, and for
# configured `endpoint_type = "proxy"` targets.
PROXY_ACTIONS = (
    "rds:DescribeDBProxies",
    "rds:DescribeDBProxyEndpoints",
    "rds:DescribeDBProxyTargetGroups",
    "rds:DescribeDBProxyTargets",
    "ec2:DescribeSubnets",
)

T = TypeVar("T")


@dataclass(frozen=True)
class Note:
    """What could not be described, said rather than read as "none": of one proxy
    (`proxy`), of a region's proxies (`proxy` None), or of an account (`region` None)."""

    text: str
    account_id: str
    region: str | None = None
    proxy: str | None = None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Backing:
    """One registered target of a proxy, as describe_db_proxy_targets states it."""

    kind: str  # TRACKED_CLUSTER, RDS_INSTANCE, RDS_SERVERLESS_ENDPOINT
    resource_id: str | None  # RdsResourceId: a cluster or an instance identifier
    cluster_id: str | None  # TrackedClusterId
    endpoint: str | None

    @property
    def cluster(self) -> str | None:
        """The Aurora cluster it stands for: a tracked cluster, or one of its instances."""
        return self.cluster_id or (self.resource_id if self.kind == "TRACKED_CLUSTER" else None)

    def reaches(self, t: Target) -> bool:
        """Whether `t` (same account and region) is this database, by id or by endpoint."""
        if self.cluster is not None:
            return t.cluster_id == self.cluster
        if self.kind == "RDS_INSTANCE" and self.resource_id and t.instance_id == self.resource_id:
            return True
        return self.endpoint is not None and t.endpoint == self.endpoint


@dataclass(frozen=True)
class FoundProxy:
    """A proxy as described, before it is linked to targets (`link` fills in `fronts`)."""

    proxy: Proxy
    backing: tuple[Backing, ...] = ()
    notes: tuple[Note, ...] = ()

    def fronts(self, t: Target) -> bool:
        """Whether `t` is behind this proxy: by its registered targets, or for a proxy read
        back from the store (discovery failed this run), by the names it fronted then."""
        p = self.proxy
        return (
            t.endpoint_type != "proxy"
            and (t.account_id, t.region) == (p.account_id, p.region)
            and (t.name in p.fronts or any(b.reaches(t) for b in self.backing))
        )


def auth_of(
    entries: Sequence[UserAuthConfigInfoTypeDef], default_scheme: str | None
) -> tuple[ProxyAuth, ...]:
    """Each secret's auth settings. With end-to-end IAM (`DefaultAuthScheme` IAM_AUTH) a
    proxy has no secret and takes an IAM token from every client: one REQUIRED entry."""
    auth = tuple(
        ProxyAuth(
            a.get("IAMAuth", "DISABLED"),
            a.get("SecretArn"),
            a.get("UserName"),
            a.get("ClientPasswordAuthType"),
        )
        for a in entries
    )
    return auth or ((ProxyAuth("REQUIRED"),) if default_scheme == "IAM_AUTH" else ())


def proxy_model(
    p: DBProxyTypeDef,
    account_id: str,
    region: str,
    endpoints: Sequence[DBProxyEndpointTypeDef] = (),
    networks: Sequence[str] = (),
) -> Proxy:
    """The model of one describe_db_proxies entry; `fronts` is filled in by `link`."""
    return Proxy(
        name=p.get("DBProxyName", ""),
        account_id=account_id,
        region=region,
        arn=p.get("DBProxyArn", ""),
        engine_family=p.get("EngineFamily", ""),
        endpoint=p.get("Endpoint", ""),
        require_tls=bool(p.get("RequireTLS")),
        debug_logging=bool(p.get("DebugLogging")),
        auth=auth_of(p.get("Auth", []), p.get("DefaultAuthScheme")),
        endpoints=tuple(
            e["Endpoint"] for e in endpoints if not e.get("IsDefault") and e.get("Endpoint")
        ),
        networks=tuple(sorted(networks)),
    )


def backing_of(targets: Sequence[DBProxyTargetTypeDef]) -> tuple[Backing, ...]:
    return tuple(
        Backing(
            t.get("Type", ""), t.get("RdsResourceId"), t.get("TrackedClusterId"), t.get("Endpoint")
        )
        for t in targets
    )


def databases_of(backing: Sequence[Backing]) -> tuple[ProxyDatabase, ...]:
    """The clusters and standalone instances behind a proxy, clusters first; an instance of
    an Aurora cluster (TrackedClusterId) stands for its cluster."""
    found: list[ProxyDatabase] = []
    for b in backing:
        if b.cluster:
            found.append(("cluster", b.cluster))
        elif b.kind == "RDS_INSTANCE" and b.resource_id:
            found.append(("instance", b.resource_id))
    return tuple(sorted(dict.fromkeys(found), key=lambda d: d[0] != "cluster"))


def link(
    targets: Sequence[Target], found: Sequence[FoundProxy]
) -> tuple[list[Target], list[Proxy]]:
    """Each proxy with the names of the targets it fronts, and each target with its proxies.

    A discovered proxy that fronts no target is dropped with its own target (its databases
    are not selected); a configured proxy target keeps its proxy whatever it fronts.
    """
    configured = {(t.account_id, t.region, t.proxy_name) for t in targets if not t.discovered}
    proxies: list[Proxy] = []
    in_front: dict[str, list[str]] = {}
    for f in found:
        p = f.proxy
        # The cluster endpoint's target first: events from the proxy's log are stored
        # under the first name.
        behind = sorted(
            (t for t in targets if f.fronts(t)), key=lambda t: t.endpoint_type != "cluster"
        )
        fronts = tuple(t.name for t in behind)
        if fronts or (p.account_id, p.region, p.name) in configured:
            proxies.append(replace(p, fronts=fronts))
            for name in fronts:
                in_front.setdefault(name, []).append(p.name)
    kept = {(p.account_id, p.region, p.name) for p in proxies}
    linked = [
        replace(t, proxies=tuple(in_front.get(t.name, ())))
        for t in targets
        if not (t.discovered and t.proxy_name) or (t.account_id, t.region, t.proxy_name) in kept
    ]
    return linked, proxies


# -- the describe calls -------------------------------------------------------------------------


def list_proxies(rds: RDSClient, name: str | None = None) -> list[DBProxyTypeDef]:
    """The region's proxies (or the one named); raises what the call raises."""
    pages = rds.get_paginator("describe_db_proxies")
    found = pages.paginate(DBProxyName=name) if name else pages.paginate()
    return [p for page in found for p in page.get("DBProxies", [])]


def describe_proxy(
    rds: RDSClient, ec2: EC2Client, p: DBProxyTypeDef, account_id: str, region: str
) -> FoundProxy:
    """One PostgreSQL proxy with its endpoints, networks and targets; a call that fails is
    a note and what it would have said stays unknown."""
    name = p.get("DBProxyName", "")
    notes: list[Note] = []

    def note(what: str, call: Callable[[], list[T]]) -> list[T] | None:
        try:
            return _described(call)
        except Undescribed as exc:
            text = f"proxy {name} ({account_id} {region}): {what}: {exc}"
            notes.append(Note(text, account_id, region, name))
            return None

    endpoints = note("its endpoints are unknown", lambda: _endpoints(rds, name))
    subnets = p.get("VpcSubnetIds", [])
    networks = note("the networks of its subnets are unknown", lambda: _networks(ec2, subnets))
    # Each proxy has one target group today, `default`: what it fronts is still read if
    # the groups cannot be listed.
    groups = note("its target groups are unknown", lambda: _groups(rds, name)) or ["default"]
    targets = note("what it fronts is unknown", lambda: _targets(rds, name, groups))
    model = proxy_model(p, account_id, region, endpoints or (), networks or ())
    backing = backing_of(targets or ())
    known = None if targets is None else databases_of(backing)
    return FoundProxy(replace(model, databases=known), backing, tuple(notes))


def describe_proxies(
    rds: RDSClient, ec2: EC2Client, account_id: str, region: str, name: str | None = None
) -> list[FoundProxy]:
    """The PostgreSQL proxies of a region (or the one named); `Undescribed` if they cannot
    be listed."""
    return [
        describe_proxy(rds, ec2, p, account_id, region)
        for p in _described(lambda: list_proxies(rds, name))
        if p.get("EngineFamily") == "POSTGRESQL"
    ]


def _endpoints(rds: RDSClient, name: str) -> list[DBProxyEndpointTypeDef]:
    pages = rds.get_paginator("describe_db_proxy_endpoints").paginate(DBProxyName=name)
    return [e for page in pages for e in page.get("DBProxyEndpoints", [])]


def _networks(ec2: EC2Client, subnets: list[str]) -> list[str]:
    """The CIDR blocks of the subnets (the database sees the proxy's connections from there)."""
    if not subnets:
        return []
    pages = ec2.get_paginator("describe_subnets").paginate(SubnetIds=subnets)
    return [s["CidrBlock"] for page in pages for s in page.get("Subnets", []) if s.get("CidrBlock")]


def _groups(rds: RDSClient, name: str) -> list[str]:
    pages = rds.get_paginator("describe_db_proxy_target_groups").paginate(DBProxyName=name)
    return [
        g.get("TargetGroupName", "default") for page in pages for g in page.get("TargetGroups", [])
    ]


def _targets(rds: RDSClient, name: str, groups: list[str]) -> list[DBProxyTargetTypeDef]:
    paginator = rds.get_paginator("describe_db_proxy_targets")
    return [
        t
        for group in groups
        for page in paginator.paginate(DBProxyName=name, TargetGroupName=group)
        for t in page.get("Targets", [])
    ]


class Undescribed(Exception):
    """A describe call failed (its error, on one line)."""


def _described(call: Callable[[], list[T]]) -> list[T]:
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    try:
        return call()
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        # ResponseParserError: an endpoint that does not implement the API (moto has no
        # DescribeDBProxyEndpoints) answers with an HTML error page.
        raise Undescribed(" ".join(str(exc).split())[:200]) from None
