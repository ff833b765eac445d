"""What the access review reads, and the review decisions it reads back.

A review is aggregated in SQL (queries/store/report_*.sql) into temporary tables, inside one
read transaction on a read-only connection of its own: the files agree with each other
while the daemon keeps writing. Rows come back in chunks through pandas, so memory stays
flat however many users there are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from monitor import sql
from monitor.store.fronting import load_fronting
from monitor.store.sqlite import Conn, Store, to_text

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 5_000
# A report row: column name to value, NULL as None (nullable dtypes keep ints ints).
Record = dict[str, Any]


class ReviewSnapshot:
    """The store as one review sees it: one read transaction, the period's temp tables."""

    def __init__(self, conn: Conn, params: Mapping[str, str]) -> None:
        self._conn = conn
        self._params = dict(params)

    def users(self) -> Iterator[list[Record]]:
        """One row per (target, db user), in chunks."""
        return self._chunks("store/report_users")

    def principals(self) -> Iterator[list[Record]]:
        """One row per principal and grant, a principal's rows together, in chunks."""
        return self._chunks("store/report_principals")

    def failed_logins_by_caller(self) -> dict[str, int]:
        """The period's failed logins per caller ARN the database's own log names."""
        rows = self._conn.execute(sql.load("store/report_failed_callers"), self._params)
        return {str(arn): int(n) for arn, n in rows}

    def plan_grants(self) -> Iterator[Record]:
        """The grants behind the principals recommended for revocation."""
        for chunk in self._chunks("store/report_plan_grants"):
            yield from chunk

    def hourly(self) -> pd.DataFrame:
        """Sessions per target and auth failures, per hour of the period."""
        import pandas as pd

        return pd.read_sql_query(sql.load("store/report_daily"), self._conn, params=self._params)

    def trail_history_start(self) -> str | None:
        """The first CloudTrail event held, as stored text."""
        (start,) = self._conn.execute(sql.load("store/trail_history_start")).fetchall()[0]
        return cast("str | None", start)

    def revoke_users(self, rows: list[tuple[str, str, str]]) -> None:
        """(target, db user, reason) recommended for revocation, for the plan's queries."""
        self._conn.executemany(sql.load("store/report_revoke_user_insert"), rows)

    def revoke_principals(self, rows: list[tuple[str, str]]) -> None:
        """(principal ARN, reason) recommended for revocation, for the plan's queries."""
        self._conn.executemany(sql.load("store/report_revoke_principal_insert"), rows)

    def _chunks(self, query: str) -> Iterator[list[Record]]:
        import pandas as pd

        for frame in pd.read_sql_query(
            sql.load(query),
            self._conn,
            params=self._params,
            chunksize=CHUNK_ROWS,
            dtype_backend="numpy_nullable",
        ):
            yield cast("list[Record]", frame.to_dict("records"))


@contextlib.contextmanager
def review_snapshot(store: Store, start: datetime, end: datetime) -> Iterator[ReviewSnapshot]:
    """The period's aggregates in temp tables, read in one transaction, then dropped."""
    conn = store.conn
    params = {"start": to_text(start), "end": to_text(end)}
    conn.executescript(sql.load("store/report_tables"))
    conn.execute("BEGIN")
    try:
        conn.execute(sql.load("store/report_sessions"), params)
        _mark_proxied(conn)
        conn.execute(sql.load("store/report_use"), params)
        yield ReviewSnapshot(conn, params)
    finally:
        conn.execute("ROLLBACK")  # only the temp tables changed


def _mark_proxied(conn: Conn) -> None:
    """Sessions from a fronting proxy's subnets say "via proxy <name>", not the proxy's
    address (inferred from the subnets, monitor/store/fronting.py)."""
    fronting = load_fronting(conn)
    if not fronting.proxies:
        return
    clients = conn.execute(sql.load("store/report_session_clients")).fetchall()
    conn.executemany(
        sql.load("store/report_session_via"),
        [
            {"via": f"via proxy {via}", "target": target, "client": client}
            for target, client in clients
            if (via := fronting.via(target, client))
        ],
    )


def save_decision(
    tx: Conn, subject: Sequence[str], source: str, now: datetime, keep_until: datetime | None
) -> None:
    """Store a reviewer's decision, `subject` being (kind, target, db user, principal ARN,
    decision, reviewer, notes); a later one on the same subject replaces it."""
    until = to_text(keep_until) if keep_until else None
    tx.execute(sql.load("store/review_decision_upsert"), (*subject, source, to_text(now), until))


def target_known(store: Store, name: str) -> bool:
    return bool(store.conn.execute(sql.load("store/target_known"), (name,)).fetchall())


def principal_known(store: Store, arn: str) -> bool:
    """Whether the grants inventory has ever seen `arn`."""
    return bool(store.conn.execute(sql.load("store/principal_known"), (arn,)).fetchall())
