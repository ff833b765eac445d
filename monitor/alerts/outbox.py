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


@dataclass(frozen=True)
class Batch:
    """One message to send, and the outbox rows it covers (many for a digest)."""

    message: Message
    rows: list[_Row]
    digest: bool


def plan(
    store: Store, now: datetime, *, max_per_run: int, max_age: timedelta
) -> tuple[list[Batch], int]:
    """The messages due now, in order, and how many rows are pending in all."""
    rows = _pending(store)
    if not rows or rows[0].next_attempt_at > now:
        return [], len(rows)
    fold = [r for r in rows if r.created_at < now - max_age]
    reason = f"These waited more than {max_age} to be delivered."
    if len(rows) - len(fold) > max_per_run:
        fold = rows
        reason = f"More than {max_per_run} alerts at once: folded into one message."
    batches = []
    if fold:
        digest = render_digest([(r.finding, r.kind) for r in fold], reason)
        batches.append(Batch(digest, fold, digest=True))
    folded = {r.id for r in fold}
    batches.extend(
        Batch(render_finding(r.finding, r.kind, r.count), [r], digest=False)
        for r in rows
        if r.id not in folded
    )
    return batches, len(rows)


def deliver(
    store: Store, sink: Sink, now: datetime, *, max_per_run: int, max_age: timedelta
) -> DeliverySummary:
    """Send what is due. Returns counts; a failure is reported in `error`, never raised."""
    batches, pending = plan(store, now, max_per_run=max_per_run, max_age=max_age)
    summary = DeliverySummary(pending=pending)
    try:
        for batch in batches:
            _send(store, sink, batch, now)
            if batch.digest:
                summary.digested += len(batch.rows)
            else:
                summary.sent += 1
    except AlertDeliveryFailed as exc:
        summary.error = str(exc)
        _back_off(store, str(exc), now)
    summary.pending = pending - summary.sent - summary.digested
    return summary


def preview(
    store: Store, sink: Sink, now: datetime, *, max_per_run: int, max_age: timedelta
) -> int:
    """Hand what is due to `sink` (the console) without marking anything sent."""
    batches, _ = plan(store, now, max_per_run=max_per_run, max_age=max_age)
    for batch in batches:
        sink.send(batch.message, batch.rows[0].id, _thread_for(store, batch))
    return len(batches)


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


def _thread_for(store: Store, batch: Batch) -> str | None:
    """The ts of the finding's last message sent on its own: repeats and resolves go there."""
    head = batch.rows[0]
    if batch.digest or head.kind == "new":
        return None
    rows = store.conn.execute(
        "SELECT slack_ts FROM outbox WHERE fingerprint = ? AND kind = 'new'"
        " AND sent_at IS NOT NULL AND digest = 0 AND slack_ts IS NOT NULL"
        " ORDER BY id DESC LIMIT 1",
        (head.fingerprint,),
    ).fetchall()
    return str(rows[0][0]) if rows else None


def _send(store: Store, sink: Sink, batch: Batch, now: datetime) -> None:
    head = batch.rows[0]
    ts = sink.send(batch.message, head.id, _thread_for(store, batch))
    # Mark right after Slack accepted: a crash between the two resends at most this message,
    # and its metadata (fingerprint, outbox id) lets the duplicate be recognised.
    with store.transaction() as tx:
        tx.executemany(
            "UPDATE outbox SET sent_at = ?, slack_ts = ?, digest = ?, attempts = attempts + 1,"
            " last_error = NULL WHERE id = ?",
            [
                (to_text(now), None if batch.digest else ts, int(batch.digest), r.id)
                for r in batch.rows
            ],
        )
    log.info(
        "alert delivered",
        extra={"fingerprint": head.fingerprint, "kind": "digest" if batch.digest else head.kind},
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
