"""The alert outbox and the parked channels, as delivery reads and moves them.

What is sent, folded, claimed or parked is decided in monitor/outputs/alerts/; this module
only reads and writes the rows. Each write is its own short transaction: a claim commits
before its post, and a mark after Slack accepted it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor import sql
from monitor.models import Finding
from monitor.store.sqlite import Conn, Store, to_text


@dataclass(frozen=True)
class OutboxRow:
    """An alert not yet sent."""

    id: int
    fingerprint: str
    kind: str
    finding: Finding
    count: int
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    claim_id: int | None
    claimed_at: datetime | None
    digest: bool


@dataclass(frozen=True)
class ParkedRow:
    channel: str
    error: str
    parked_at: datetime
    alerted_at: datetime | None


def pending(store: Store) -> list[OutboxRow]:
    """Every alert not yet sent, oldest first."""
    rows = []
    for row in store.conn.execute(sql.load("store/outbox_pending")):
        ident, fp, kind, payload, created, attempts, next_at, claim, claimed, digest = row
        data = json.loads(payload)
        rows.append(
            OutboxRow(
                ident, fp, kind, Finding.from_json(data["finding"]), int(data.get("count", 1)),
                datetime.fromisoformat(created), attempts, datetime.fromisoformat(next_at),
                claim, datetime.fromisoformat(claimed) if claimed else None, bool(digest),
            )
        )  # fmt: skip
    return rows


def pending_count(store: Store) -> int:
    return int(store.conn.execute(sql.load("store/outbox_pending_count")).fetchall()[0][0])


def thread_ts(store: Store, fingerprint: str) -> str | None:
    """The ts of the finding's last alert sent on its own, if Slack gave one."""
    rows = store.conn.execute(sql.load("store/outbox_thread"), (fingerprint,)).fetchall()
    return str(rows[0][0]) if rows else None


def identity(store: Store) -> str:
    """This store's own random identity, which claims carry into Slack."""
    return str(store.conn.execute(sql.load("store/store_identity")).fetchall()[0][0])


def claim(store: Store, ids: Sequence[int], digest: bool, now: datetime) -> int:
    """Claim the rows not yet sent under a new claim id, and return it."""
    with store.transaction() as tx:
        claim_id = int(tx.execute(sql.load("store/outbox_next_claim")).fetchall()[0][0])
        tx.executemany(
            sql.load("store/outbox_claim"),
            [(claim_id, to_text(now), int(digest), i) for i in ids],
        )
    return claim_id


def mark_sent(
    store: Store, ids: Sequence[int], ts: str | None, digest: bool, now: datetime
) -> None:
    with store.transaction() as tx:
        tx.executemany(
            sql.load("store/outbox_sent"), [(to_text(now), ts, int(digest), i) for i in ids]
        )


def release(store: Store, ids: Sequence[int]) -> None:
    """Drop the rows' claim: they may be claimed and posted again."""
    with store.transaction() as tx:
        tx.executemany(sql.load("store/outbox_release"), [(i,) for i in ids])


def back_off(store: Store, row_id: int, attempts: int, error: str, retry_at: datetime) -> None:
    with store.transaction() as tx:
        tx.execute(sql.load("store/outbox_back_off"), (attempts, error, to_text(retry_at), row_id))


def parked(conn: Conn) -> dict[str, ParkedRow]:
    """The parked channels, by name, first parked first."""
    rows = conn.execute(sql.load("store/parked_channels")).fetchall()
    return {
        channel: ParkedRow(
            channel,
            error,
            datetime.fromisoformat(at),
            datetime.fromisoformat(alerted) if alerted else None,
        )
        for channel, error, at, alerted in rows
    }


def parked_if_migrated(store: Store) -> dict[str, ParkedRow]:
    """The parked channels; none in a store from before parking existed (the daemon
    migrates it)."""
    try:
        return parked(store.conn)
    except sqlite3.OperationalError:
        return {}


def park(store: Store, channel: str, error: str, now: datetime) -> None:
    """Park a channel; one already parked keeps its first error and time."""
    with store.transaction() as tx:
        tx.execute(sql.load("store/parked_channel_insert"), (channel, error, to_text(now)))


def unpark(store: Store, channels: Sequence[str] = ()) -> list[str]:
    """Unpark `channels` (all when empty); returns the ones that were parked."""
    with store.transaction() as tx:
        chosen = [c for c in parked(tx) if not channels or c in channels]
        tx.executemany(sql.load("store/parked_channel_delete"), [(c,) for c in chosen])
    return chosen


def parked_alerted(store: Store, channel: str, now: datetime) -> None:
    """The alert that says `channel` is parked went out."""
    with store.transaction() as tx:
        tx.execute(sql.load("store/parked_channel_alerted"), (to_text(now), channel))
