"""The targets table: every database pgwarden watches, configured or discovered."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from monitor import sql
from monitor.store.sqlite import Conn, Store, to_text

if TYPE_CHECKING:
    from monitor.sources.targets import EndpointType, Target


@dataclass(frozen=True)
class StoredTarget:
    """A discovered target as the store remembers it."""

    name: str
    region: str
    endpoint: str
    endpoint_type: EndpointType
    port: int
    database: str
    db_user: str
    cluster_id: str | None
    instance_id: str | None
    proxy_name: str | None
    resource_id: str | None


def save_targets(conn: Conn, targets: list[Target], now: datetime) -> None:
    """Upsert the targets table; call inside `Store.transaction()`."""
    stamp = to_text(now)
    conn.executemany(
        sql.load("store/target_upsert"),
        [
            (
                t.name, t.account_id, t.region, t.endpoint, t.endpoint_type, t.port, t.database,
                t.db_user, t.cluster_id, t.instance_id, t.proxy_name, t.resource_id,
                int(t.discovered), json.dumps(t.tags, sort_keys=True), stamp, stamp,
            )
            for t in targets
        ],
    )  # fmt: skip


def retire_targets(conn: Conn, kept: Sequence[Target], now: datetime) -> None:
    """Retire every target but `kept` (all those resolved): history stays, but a retired
    target is no longer watched, so nothing judges it quiet or unused; saved again, it is
    back. Call inside `Store.transaction()`."""
    params = {"kept": json.dumps([t.name for t in kept]), "now": to_text(now)}
    conn.execute(sql.load("store/targets_retire"), params)


def discovered(store: Store, account_id: str) -> list[StoredTarget]:
    """The targets discovery found in `account_id` on earlier runs."""
    rows = store.conn.execute(sql.load("store/targets_discovered"), (account_id,)).fetchall()
    return [StoredTarget(*r) for r in rows]


def accounts(store: Store) -> dict[str, str]:
    """Each known target's account id, by target name."""
    return dict(store.conn.execute(sql.load("store/target_accounts")).fetchall())
