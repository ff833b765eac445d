"""Targets: the database endpoints pgwarden watches, configured or discovered, and their rows.

A `Target` is the resolved form of a `[[targets]]` table or of a discovered cluster or
instance: defaults filled in from its account and from `[activity]`, and where its logs
are and which `[pglogs]` sources read them. Every stage and doctor check takes this
model; nothing downstream reads `TargetConfig`.

Where the logs are: RDS exports an Aurora cluster's logs, every member instance's stream
included, to `/aws/rds/cluster/<id>/...`, and a standalone instance's to
`/aws/rds/instance/<id>/...`. A reader (a reader endpoint, or a reader instance found with
`discover_readers`) is therefore covered by its cluster's target when that is watched
too, and its log lines are that target's; an RDS Proxy writes no PostgreSQL log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from monitor.config import AccountConfig, Config
from monitor.errors import AwsError
from monitor.models import Proxy, proxy_log_group
from monitor.sources.pglogs import PgLogsConfig
from monitor.sources.proxies import Note
from monitor.store import targets as stored
from monitor.store.proxies import proxies as stored_proxies
from monitor.store.sqlite import Store

if TYPE_CHECKING:
    from monitor.aws import AwsSessions
    from monitor.sources.discovery import Discovered

log = logging.getLogger(__name__)

EndpointType = Literal["cluster", "reader", "instance", "proxy"]


@dataclass(frozen=True)
class Target:
    name: str
    account_id: str
    account_name: str
    region: str
    endpoint: str
    endpoint_type: EndpointType
    port: int
    database: str
    db_user: str
    ca_bundle: Path | None = None
    hostaddr: str | None = None
    insecure_tls: bool = False
    cluster_id: str | None = None
    instance_id: str | None = None
    proxy_name: str | None = None
    resource_id: str | None = None
    discovered: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    # The RDS Proxies in front of this database (discovery links them), by name.
    proxies: tuple[str, ...] = ()
    # Filled in by `attach_logs`: the CloudWatch log groups this target's log lines are
    # read from, the [pglogs] sources that read them, its [[pglogs.files]], and for a
    # reader, the target whose logs hold its connections.
    log_groups: tuple[str, ...] = ()
    log_sources: tuple[str, ...] = ()
    log_files: tuple[Path, ...] = ()
    logs_via: str | None = None

    @property
    def expects_logs(self) -> bool:
        """Whether some source must read log lines for this target itself."""
        return self.endpoint_type != "proxy" and self.logs_via is None


def default_region(config: Config, account: AccountConfig) -> str:
    return account.regions[0] if account.regions else config.aws.region


def configured_targets(config: Config) -> list[Target]:
    """The `[[targets]]` tables, resolved against their accounts and `[activity]`."""
    found = []
    for t in config.targets:
        account = config.account(t.account)
        found.append(
            Target(
                name=t.name,
                account_id=account.id,
                account_name=account.name,
                region=t.region or default_region(config, account),
                endpoint=t.endpoint,
                endpoint_type=t.endpoint_type,
                port=t.port,
                database=t.database,
                db_user=t.db_user,
                ca_bundle=t.ca_bundle or config.activity.ca_bundle,
                hostaddr=t.hostaddr,
                insecure_tls=t.insecure_tls,
                cluster_id=t.cluster_id,
                instance_id=t.instance_id,
                proxy_name=t.proxy_name,
                tags=dict(t.tags),
            )
        )
    return found


def resource_key(t: Target) -> tuple[str, ...] | None:
    """What a target watches, whatever endpoint name reaches it: account, region, kind, id."""
    ident = t.proxy_name or t.instance_id or t.cluster_id
    if ident is None:
        return None
    return (t.account_id, t.region, t.endpoint_type, ident)


def merge(configured: list[Target], discovered: list[Target]) -> list[Target]:
    """Configured targets win over discovered ones with the same endpoint, name or resource.

    The resource (account, region, kind and cluster/instance/proxy id) catches a configured
    override that reaches a discovered cluster by another host name (a CNAME, a private
    zone). A configured target takes the resource id discovery found for it: that id is
    what `rds-db:connect` grants name, so without it no grant maps onto the target.
    """

    def keys(t: Target) -> set[object]:
        return {(t.endpoint, t.port), t.name} | ({resource_key(t)} - {None})

    resolved = []
    for t in configured:
        twin = next((d for d in discovered if d.resource_id and keys(d) & keys(t)), None)
        resolved.append(
            replace(t, resource_id=twin.resource_id) if t.resource_id is None and twin else t
        )
    seen = set().union(*(keys(t) for t in configured))
    extra = [t for t in discovered if not keys(t) & seen]
    return [*resolved, *extra]


def rds_log_groups(kind: Literal["cluster", "instance"], ident: str) -> tuple[str, ...]:
    """Where RDS exports the server log and the IAM auth errors of a cluster or instance."""
    return tuple(f"/aws/rds/{kind}/{ident}/{log}" for log in ("postgresql", "iam-db-auth-error"))


def attach_logs(targets: list[Target], pglogs: PgLogsConfig) -> list[Target]:
    """Each target with its log groups, the sources that read them and its files."""
    clusters: dict[tuple[str, str, str], str] = {}
    for t in targets:
        if t.endpoint_type == "cluster" and t.cluster_id:
            clusters.setdefault((t.account_id, t.region, t.cluster_id), t.name)
    files: dict[str, list[Path]] = {}
    for entry in pglogs.files:
        files.setdefault(entry.target, []).extend(entry.paths)
    out = []
    for t in targets:
        groups: tuple[str, ...] = ()
        via = None
        proxy = t.endpoint_type == "proxy"
        if not proxy and t.cluster_id:
            cluster = clusters.get((t.account_id, t.region, t.cluster_id))
            via = cluster if cluster != t.name else None
            groups = () if via else rds_log_groups("cluster", t.cluster_id)
        elif not proxy and t.instance_id:
            groups = rds_log_groups("instance", t.instance_id)
        elif proxy and t.proxy_name and "rds-proxy" in pglogs.sources:
            groups = (proxy_log_group(t.proxy_name),)
        # A proxy's own log is read by rds-proxy alone, a database's by the others.
        sources: list[str] = [
            s for s in pglogs.sources if s != "files" and groups and (s == "rds-proxy") == proxy
        ]
        if files.get(t.name) and "files" in pglogs.sources:
            sources.append("files")
        out.append(
            replace(
                t,
                log_groups=groups,
                log_sources=tuple(sources),
                log_files=tuple(files.get(t.name, ())),
                logs_via=via,
            )
        )
    return out


@dataclass(frozen=True)
class Resolved:
    """The targets, the RDS Proxies in front of them, and what could not be described
    (one line each: a proxy whose targets or endpoints are unknown, an account not listed)."""

    targets: list[Target]
    proxies: list[Proxy] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


def collect_targets(
    config: Config, aws: AwsSessions, store: Store | None = None, *, discover: bool = True
) -> Resolved:
    """Configured targets, plus those discovered in accounts with `discover = true`, and
    the proxies in front of them (`discover`: ask AWS at all).

    If discovery fails for an account (say AssumeRole is denied), the targets found there
    before are kept from the store, so they show up as down rather than vanish; so are a
    region's proxies that could not be listed, and a configured proxy not described. What
    a resolution does not return is retired (`monitor.store.targets.retire_targets`), so a
    passing failure must not drop anything.
    """
    from monitor.sources.discovery import Discovered, discover_account
    from monitor.sources.proxies import link

    configured = configured_targets(config)
    found = Discovered()
    for account in config.accounts if discover else ():
        if not account.discover:
            continue
        try:
            here = discover_account(aws, config, account)
        except AwsError as exc:
            found.notes.append(Note(str(exc), account.id))
            if store is not None:
                found += _stored_discovered(store, account.id, config)
            continue
        found += here
        unlisted = {n.region for n in here.notes if n.region and n.proxy is None}
        if store is not None:  # a region's proxies not listed: those found there last stay
            for region in sorted(unlisted):
                found += _stored_discovered(store, account.id, config, region)
    if discover:
        found += _configured_proxies(aws, configured, found, store)
    for note in found.notes:
        log.warning("%s", note, extra={"account": note.account_id})
    targets, proxies = link(merge(configured, found.targets), found.proxies)
    return Resolved(attach_logs(targets, config.pglogs), proxies, found.notes)


def _configured_proxies(
    aws: AwsSessions, configured: list[Target], found: Discovered, store: Store | None
) -> Discovered:
    """The proxies of `endpoint_type = "proxy"` targets that discovery did not describe,
    looked up by name; an account that cannot be reached, or a proxy not there, is a note
    (and the proxy as stored last is kept)."""
    from monitor.sources.discovery import Discovered
    from monitor.sources.proxies import FoundProxy, Undescribed, describe_proxies

    known = {(f.proxy.account_id, f.proxy.region, f.proxy.name) for f in found.proxies}
    more = Discovered()
    for t in configured:
        if t.proxy_name is None or (t.account_id, t.region, t.proxy_name) in known:
            continue
        try:
            rds = aws.rds(t.region, t.account_id)
            ec2 = aws.ec2(t.region, t.account_id)
            more.proxies += describe_proxies(rds, ec2, t.account_id, t.region, t.proxy_name)
        except (AwsError, Undescribed) as exc:
            text = f"proxy {t.proxy_name} of target {t.name}: not described: {exc}"
            more.notes.append(Note(text, t.account_id, t.region, t.proxy_name))
            if store is not None:
                key = (t.account_id, t.region, t.proxy_name)
                more.proxies += [
                    FoundProxy(p)
                    for p in stored_proxies(store)
                    if (p.account_id, p.region, p.name) == key
                ]
    more.notes += [n for f in more.proxies for n in f.notes]
    return more


def _stored_discovered(
    store: Store, account_id: str, config: Config, region: str | None = None
) -> Discovered:
    """The account's targets and proxies as discovery found them last; with `region`, only
    that region's proxies and their targets."""
    from monitor.sources.discovery import Discovered
    from monitor.sources.proxies import FoundProxy

    account = next(a for a in config.accounts if a.id == account_id)
    rows = [
        r
        for r in stored.discovered(store, account_id)
        if region is None or (r.region == region and r.proxy_name)
    ]
    proxies = [
        FoundProxy(p)
        for p in stored_proxies(store)
        if p.account_id == account_id and region in (None, p.region)
    ]
    targets = [
        Target(
            name=r.name,
            account_id=account_id,
            account_name=account.name,
            region=r.region,
            endpoint=r.endpoint,
            endpoint_type=r.endpoint_type,
            port=r.port,
            database=r.database,
            db_user=r.db_user,
            ca_bundle=config.activity.ca_bundle,
            cluster_id=r.cluster_id,
            instance_id=r.instance_id,
            proxy_name=r.proxy_name,
            resource_id=r.resource_id,
            discovered=True,
        )
        for r in rows
    ]
    return Discovered(targets, proxies)
