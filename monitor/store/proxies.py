"""The proxies table: the RDS Proxies discovery found, their auth settings and what they front."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from monitor import sql
from monitor.models import Proxy, ProxyAuth
from monitor.store.sqlite import Conn, Store, to_text


def save_proxies(conn: Conn, proxies: Sequence[Proxy], now: datetime) -> None:
    """Upsert the proxies; call inside `Store.transaction()`."""
    conn.executemany(
        sql.load("store/proxy_upsert"),
        [
            {
                "account_id": p.account_id,
                "region": p.region,
                "name": p.name,
                "arn": p.arn,
                "engine_family": p.engine_family,
                "endpoint": p.endpoint,
                "require_tls": int(p.require_tls),
                "debug_logging": int(p.debug_logging),
                "auth": json.dumps([asdict(a) for a in p.auth], sort_keys=True),
                "fronts": json.dumps(list(p.fronts)),
                "endpoints": json.dumps(list(p.endpoints)),
                "networks": json.dumps(list(p.networks)),
                "seen_at": to_text(now),
            }
            for p in proxies
        ],
    )


def retire_proxies(conn: Conn, kept: Sequence[Proxy], now: datetime) -> None:
    """Retire every proxy but `kept` (all those resolved): a retired proxy is no longer
    loaded, so its subnets no longer mark addresses "via proxy"; saved again, it is back.
    Call inside `Store.transaction()`."""
    keys = [[p.account_id, p.region, p.name] for p in kept]
    conn.execute(sql.load("store/proxies_retire"), {"kept": json.dumps(keys), "now": to_text(now)})


def load_proxies(conn: Conn) -> list[Proxy]:
    """Every stored proxy not retired."""
    return [_proxy(row) for row in conn.execute(sql.load("store/proxies_all"))]


def proxies(store: Store) -> list[Proxy]:
    """Every stored proxy not retired, read outside a transaction."""
    return load_proxies(store.conn)


def _proxy(row: tuple[object, ...]) -> Proxy:
    (account, region, name, arn, family, endpoint, tls, debug, auth, fronts, endpoints, nets) = row
    return Proxy(
        name=str(name),
        account_id=str(account),
        region=str(region),
        arn=str(arn),
        engine_family=str(family),
        endpoint=str(endpoint),
        require_tls=bool(tls),
        debug_logging=bool(debug),
        auth=tuple(ProxyAuth(**a) for a in json.loads(str(auth))),
        fronts=tuple(json.loads(str(fronts))),
        endpoints=tuple(json.loads(str(endpoints))),
        networks=tuple(json.loads(str(nets))),
    )


def auth_event_count(store: Store, target: str, since: datetime) -> int:
    """The target's auth events since `since`, of any kind: none means no evidence either way."""
    params = {"target": target, "since": to_text(since)}
    return int(store.conn.execute(sql.load("store/auth_event_count"), params).fetchone()[0])
