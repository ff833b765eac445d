"""What the store counts: for /metrics (each gauge and counter is one query, run at scrape
time) and for the demo's summary."""

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


def row_counts(store: Store) -> dict[str, int]:
    """How many sessions, auth events and assume-role events the store holds."""
    sessions, auth, assumed = store.conn.execute(sql.load("store/row_counts")).fetchall()[0]
    return {"sessions": sessions, "auth events": auth, "assume-role events": assumed}
