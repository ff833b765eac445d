"""Targets: the database endpoints pgwarden polls, configured or discovered, and their rows.

A `Target` is the resolved form of a `[[targets]]` table (or a discovered cluster/instance):
defaults filled in from its account and from `[activity]`, so the activity source never
reads the config again.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Literal

from monitor.config import AccountConfig, Config
from monitor.store.sqlite import to_text

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


def merge(configured: list[Target], discovered: list[Target]) -> list[Target]:
    """Configured targets win over discovered ones with the same endpoint or name.

    A configured target takes the resource id discovery found for its endpoint: that id is
    what `rds-db:connect` grants name, so without it no grant maps onto the target.
    """
    found_ids = {(t.endpoint, t.port): t.resource_id for t in discovered if t.resource_id}
    resolved = [
        replace(t, resource_id=found_ids[(t.endpoint, t.port)])
        if t.resource_id is None and (t.endpoint, t.port) in found_ids
        else t
        for t in configured
    ]
    seen = {(t.endpoint, t.port) for t in configured} | {t.name for t in configured}
    extra = [t for t in discovered if (t.endpoint, t.port) not in seen and t.name not in seen]
    return [*resolved, *extra]


def save_targets(conn: sqlite3.Connection, targets: list[Target], now: datetime) -> None:
    """Upsert the targets table; call inside `Store.transaction()`."""
    stamp = to_text(now)
    conn.executemany(
        "INSERT INTO targets (name, account_id, region, endpoint, endpoint_type, port, database,"
        " db_user, cluster_id, instance_id, proxy_name, resource_id, discovered, tags,"
        " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET account_id = excluded.account_id,"
        " region = excluded.region, endpoint = excluded.endpoint,"
        " endpoint_type = excluded.endpoint_type, port = excluded.port,"
        " database = excluded.database, db_user = excluded.db_user,"
        " cluster_id = excluded.cluster_id, instance_id = excluded.instance_id,"
        " proxy_name = excluded.proxy_name,"
        " resource_id = COALESCE(excluded.resource_id, targets.resource_id),"
        " discovered = excluded.discovered, tags = excluded.tags, last_seen = excluded.last_seen",
        [
            (
                t.name,
                t.account_id,
                t.region,
                t.endpoint,
                t.endpoint_type,
                t.port,
                t.database,
                t.db_user,
                t.cluster_id,
                t.instance_id,
                t.proxy_name,
                t.resource_id,
                int(t.discovered),
                json.dumps(t.tags, sort_keys=True),
                stamp,
                stamp,
            )
            for t in targets
        ],
    )
