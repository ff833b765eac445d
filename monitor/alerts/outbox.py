"""Delivery from the outbox: in order, at least once, marked sent only after Slack accepts.

Rows are sent oldest first. A failure stops the run (later alerts never overtake an
earlier one) and backs the head of the queue off exponentially. A flood (more than
`max_per_run` fresh alerts) or a backlog older than `max_age` goes out as one digest.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.alerts.render import Message, render_digest, render_finding
from monitor.alerts.slack import Sink
from monitor.errors import AlertDeliveryFailed
from monitor.models import Finding
from monitor.store.sqlite import Store, to_text

log = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)


@dataclass
class DeliverySummary:
    sent: int = 0
    digested: int = 0
    pending: int = 0
    error: str | None = None


@dataclass(frozen=True)
class _Row:
    id: int
    fingerprint: str
    kind: str
    finding: Finding
    count: int
    created_at: datetime
    attempts: int
    next_attempt_at: datetime


def deliver(
    store: Store, sink: Sink, now: datetime, *, max_per_run: int, max_age: timedelta
) -> DeliverySummary:
    """Send what is due. Returns counts; a failure is reported in `error`, never raised."""
    rows = _pending(store)
    summary = DeliverySummary(pending=len(rows))
    if not rows or rows[0].next_attempt_at > now:
        return summary
    stale = [r for r in rows if r.created_at < now - max_age]
    fresh = [r for r in rows if r.created_at >= now - max_age]
    fold = stale
    reason = f"These waited more than {max_age} to be delivered."
    if len(fresh) > max_per_run:
        fold = rows
        reason = f"More than {max_per_run} alerts at once: folded into one message."
    folded = {r.id for r in fold}
    try:
        if fold:
            message = render_digest([(r.finding, r.kind) for r in fold], reason)
            _send(store, sink, message, fold, now, digest=True)
            summary.digested = len(fold)
        for row in rows:
            if row.id in folded:
                continue
            message = render_finding(row.finding, row.kind, row.count)
            _send(store, sink, message, [row], now, digest=False)
            summary.sent += 1
    except AlertDeliveryFailed as exc:
        summary.error = str(exc)
        _back_off(store, str(exc), now)
    summary.pending = len(rows) - summary.sent - summary.digested
    return summary


def _pending(store: Store) -> list[_Row]:
    cursor = store.conn.execute(
        "SELECT id, fingerprint, kind, payload, created_at, attempts, next_attempt_at"
        " FROM outbox WHERE sent_at IS NULL ORDER BY id"
    )
    rows = []
    for ident, fp, kind, payload, created, attempts, next_at in cursor.fetchall():
        data = json.loads(payload)
        finding = Finding.from_json(data["finding"])
        count = int(data.get("count", 1))
        created_at, next_at_dt = datetime.fromisoformat(created), datetime.fromisoformat(next_at)
        rows.append(_Row(ident, fp, kind, finding, count, created_at, attempts, next_at_dt))
    return rows


def _thread_of(store: Store, fingerprint: str) -> str | None:
    """The ts of the finding's last message sent on its own: repeats and resolves go there."""
    rows = store.conn.execute(
        "SELECT slack_ts FROM outbox WHERE fingerprint = ? AND kind = 'new'"
        " AND sent_at IS NOT NULL AND digest = 0 AND slack_ts IS NOT NULL"
        " ORDER BY id DESC LIMIT 1",
        (fingerprint,),
    ).fetchall()
    return str(rows[0][0]) if rows else None


def _send(
    store: Store, sink: Sink, message: Message, rows: list[_Row], now: datetime, *, digest: bool
) -> None:
    head = rows[0]
    thread = None if digest or head.kind == "new" else _thread_of(store, head.fingerprint)
    ts = sink.send(message, head.id, thread)
    # Mark right after Slack accepted: a crash between the two resends at most this message,
    # and its metadata (fingerprint, outbox id) lets the duplicate be recognised.
    with store.transaction() as tx:
        tx.executemany(
            "UPDATE outbox SET sent_at = ?, slack_ts = ?, digest = ?, attempts = attempts + 1,"
            " last_error = NULL WHERE id = ?",
            [(to_text(now), None if digest else ts, int(digest), r.id) for r in rows],
        )
    log.info(
        "alert delivered",
        extra={"fingerprint": head.fingerprint, "kind": "digest" if digest else head.kind},
    )


def _back_off(store: Store, error: str, now: datetime) -> None:
    """Delay the head of the queue; everything behind it waits its turn."""
    head = store.conn.execute(
        "SELECT id, attempts, (SELECT count(*) FROM outbox WHERE sent_at IS NULL)"
        " FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT 1"
    ).fetchall()
    if not head:
        return
    ident, attempts, waiting = head[0]
    attempts += 1
    retry_at = now + min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_MAX)
    with store.transaction() as tx:
        tx.execute(
            "UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
            (attempts, error, to_text(retry_at), ident),
        )
    log.warning(
        "%s; %d alerts wait in the outbox, next try at %s",
        error,
        waiting,
        retry_at.isoformat(timespec="seconds"),
    )
