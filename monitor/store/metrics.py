"""The store's side of /metrics: each gauge and counter is one query, run at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from monitor import sql
from monitor.store.sqlite import Store, to_text


def sample(store: Store, query: str, now: datetime) -> Iterator[tuple[list[str], float]]:
    """The label values and value of each row of `queries/store/<query>.sql`, a metrics_*
    query, at `now`."""
    for *values, value in store.conn.execute(sql.load(f"store/{query}"), {"now": to_text(now)}):
        yield [str(v) for v in values], float(value)
