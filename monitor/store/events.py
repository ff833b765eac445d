"""The event tables: auth events from the PostgreSQL logs, and CloudTrail's assume-role and
access-change events. Each batch commits with the cursor that covers it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from monitor import sql
from monitor.models import AuthEvent, SuspiciousEntry
from monitor.parsing.pglog_stats import ParseStats
from monitor.store.sqlite import Conn, Store, to_text

if TYPE_CHECKING:
    from monitor.parsing.cloudtrail import AccessChangeEvent, AssumeRoleEvent


def save_auth_events(
    store: Store,
    target: str | None,
    source: str,
    events: Sequence[AuthEvent],
    stats: ParseStats,
    cursors: Iterable[tuple[str, str, object]],
    now: datetime,
    suspicious: Sequence[SuspiciousEntry] = (),
) -> int:
    """Store events, suspicious entries, unparsed-line samples and cursors in one
    transaction; new event rows."""
    with store.transaction() as conn:
        conn.executemany(
            sql.load("store/auth_log_suspicious_insert"),
            [
                {
                    "target": target,
                    "source": source,
                    "time": to_text(s.time),
                    "client_host": s.client_host,
                    "client_port": s.client_port,
                    "reason": s.reason,
                    "line": s.line,
                    "seen_at": to_text(now),
                    "dedup_key": s.dedup_key(target),
                }
                for s in suspicious
            ],
        )
        before = conn.total_changes
        conn.executemany(
            sql.load("store/auth_events_insert"),
            [
                {
                    **e.to_json(),
                    "time": to_text(e.time),
                    "target": target,
                    "dedup_key": e.dedup_key(target),
                }
                for e in events
            ],
        )
        stored = conn.total_changes - before
        if stats.unparsed:
            conn.execute(
                sql.load("store/auth_log_unparsed_insert"),
                {
                    "target": target,
                    "source": source,
                    "seen_at": to_text(now),
                    "lines": stats.lines,
                    "unparsed": stats.unparsed,
                    "samples": json.dumps(stats.samples, ensure_ascii=False),
                },
            )
        for cursor_source, key, value in cursors:
            store.set_cursor(cursor_source, key, value, now)
    return stored


def store_assume_role_events(conn: Conn, events: Iterable[AssumeRoleEvent], now: datetime) -> int:
    """Insert events not stored yet (by eventID); the number inserted."""
    inserted = 0
    text = sql.load("store/insert_assume_role_event")
    for event in events:
        row = event.as_dict()
        row["event_time"] = to_text(event.event_time)
        row["external_id_present"] = int(event.external_id_present)
        row["hidden"] = json.dumps(list(event.hidden))
        row["ingested_at"] = to_text(now)
        inserted += conn.execute(text, row).rowcount
    return inserted


def store_access_changes(conn: Conn, events: Iterable[AccessChangeEvent], now: datetime) -> int:
    """Insert access changes not stored yet (by eventID); the number inserted."""
    inserted = 0
    text = sql.load("store/insert_access_change_event")
    for event in events:
        row = event.as_dict()
        row["event_time"] = to_text(event.event_time)
        row["iam_auth"] = None if event.iam_auth is None else int(event.iam_auth)
        row["hidden"] = json.dumps(list(event.hidden))
        row["ingested_at"] = to_text(now)
        inserted += conn.execute(text, row).rowcount
    return inserted
