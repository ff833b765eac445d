"""Delivery from the outbox: in order, marked sent only after Slack accepts, posted once.

Rows are sent oldest first. A failure stops the run (later alerts never overtake an
earlier one) and backs the head of the queue off exponentially. A flood (more than
`max_per_run` fresh alerts) or a backlog older than `max_age` goes out as one digest.

Once, not at least once:
- One deliverer at a time: a run holds `<store>.deliver.lock`; a second deliverer (the
  daemon's job, `alerts deliver`) finds it taken and sends nothing.
- Claim before post: the rows a message covers get a claim id in the store first. A claim
  the store cannot write (disk full, read-only) means no post, and the run stops.
- A claimed row not marked sent (a timeout, a crash, a mark the disk refused) may already be
  in Slack. The claim travels in the message's metadata, so the next run looks for it in
  the channel (`conversations.history`/`.replies` with `include_all_metadata`) and marks
  the row sent instead of posting again. What stays at least once: a sink that cannot read
  history (a webhook, a token without the history scopes), and a post that Slack stores
  after the next run has looked for it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.alerts.render import Message, render_digest, render_finding
from monitor.alerts.slack import Sink
from monitor.errors import AlertDeliveryFailed, AlertHistoryUnavailable
from monitor.models import Finding
from monitor.store.locks import FileLock
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
    found: int = 0  # claimed messages found already in Slack: marked sent, not posted again
    busy: bool = False  # another deliverer held the outbox: this run sent nothing


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
    claim_id: int | None
    claimed_at: datetime | None
    digest: bool


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
    """Send what is due. Returns counts; a Slack failure is reported in `error`, never raised.

    A store that cannot write raises StoreCannotWrite: nothing was posted that is not claimed.
    """
    with _deliverer(store) as held:
        if not held:
            return DeliverySummary(pending=len(_pending(store)), busy=True)
        summary = DeliverySummary()
        try:
            summary.found = _settle(store, sink, now)
            batches, _ = plan(store, now, max_per_run=max_per_run, max_age=max_age)
            for batch in batches:
                _send(store, sink, batch, now)
                if batch.digest:
                    summary.digested += len(batch.rows)
                else:
                    summary.sent += 1
        except AlertDeliveryFailed as exc:
            summary.error = str(exc)
            _back_off(store, str(exc), now)
        summary.pending = len(_pending(store))
        return summary


@contextmanager
def _deliverer(store: Store) -> Iterator[bool]:
    """Hold `<store>.deliver.lock` for the run, if no other deliverer holds it."""
    lock = FileLock(store.path, ".deliver.lock")
    try:
        held = lock.try_acquire()
        if not held:
            log.info("another pgwarden process is delivering alerts: this run sends nothing")
        yield held
    finally:
        lock.close()


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
        "SELECT id, fingerprint, kind, payload, created_at, attempts, next_attempt_at,"
        " claim_id, claimed_at, digest FROM outbox WHERE sent_at IS NULL ORDER BY id"
    )
    rows = []
    for ident, fp, kind, payload, created, attempts, next_at, claim, claimed, digest in cursor:
        data = json.loads(payload)
        finding = Finding.from_json(data["finding"])
        count = int(data.get("count", 1))
        rows.append(
            _Row(
                ident, fp, kind, finding, count, datetime.fromisoformat(created), attempts,
                datetime.fromisoformat(next_at), claim,
                datetime.fromisoformat(claimed) if claimed else None, bool(digest),
            )
        )  # fmt: skip
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


def _claim_key(store: Store, claim_id: int) -> str:
    """What the message's metadata carries: this store's identity and the claim."""
    identity = store.conn.execute("SELECT id FROM store_identity").fetchall()[0][0]
    return f"{identity}.{claim_id}"


def _settle(store: Store, sink: Sink, now: datetime) -> int:
    """Claims left unsent by an earlier run: mark those Slack has, release the others.

    Returns how many were found in Slack. Slack unreachable raises AlertDeliveryFailed.
    """
    claims: dict[int, list[_Row]] = {}
    for row in _pending(store):
        if row.claim_id is not None:
            claims.setdefault(row.claim_id, []).append(row)
    found = 0
    for claim_id, rows in claims.items():
        message = (
            render_digest([(r.finding, r.kind) for r in rows], "")
            if rows[0].digest
            else render_finding(rows[0].finding, rows[0].kind, rows[0].count)
        )
        batch = Batch(message, rows, rows[0].digest)
        claimed_at = rows[0].claimed_at or now
        key = _claim_key(store, claim_id)
        try:
            ts = sink.find(message, _thread_for(store, batch), key, claimed_at)
        except AlertHistoryUnavailable as exc:
            log.warning(
                "cannot tell whether Slack already has the alert of outbox row %s (%s): "
                "posting it again, maybe twice",
                rows[0].id,
                exc,
            )
            ts = None
        if ts is None:
            _release(store, rows)
            continue
        log.info(
            "alert of outbox row %s was already in Slack: marked sent, not posted again",
            rows[0].id,
            extra={"fingerprint": rows[0].fingerprint},
        )
        _mark(store, batch, ts, now)
        found += 1
    return found


def _send(store: Store, sink: Sink, batch: Batch, now: datetime) -> None:
    head = batch.rows[0]
    key = _claim(store, batch, now)
    try:
        ts = sink.send(batch.message, head.id, _thread_for(store, batch), claim=key)
    except AlertDeliveryFailed as exc:
        # Surely refused: the claim goes back. Maybe posted (a timeout, a 5xx): it stays,
        # for the next run to look for in the channel.
        if not exc.maybe_sent:
            _release(store, batch.rows)
        raise
    _mark(store, batch, ts, now)
    log.info(
        "alert delivered",
        extra={"fingerprint": head.fingerprint, "kind": "digest" if batch.digest else head.kind},
    )


def _claim(store: Store, batch: Batch, now: datetime) -> str:
    """Claim the batch's rows in the store before the post; raises if the store can't."""
    ids = [(r.id,) for r in batch.rows]
    with store.transaction() as tx:
        claim_id = int(
            tx.execute("SELECT coalesce(max(claim_id), 0) + 1 FROM outbox").fetchall()[0][0]
        )
        tx.executemany(
            "UPDATE outbox SET claim_id = ?, claimed_at = ?, digest = ?"
            " WHERE id = ? AND sent_at IS NULL",
            [(claim_id, to_text(now), int(batch.digest), i) for (i,) in ids],
        )
    return _claim_key(store, claim_id)


def _mark(store: Store, batch: Batch, ts: str | None, now: datetime) -> None:
    with store.transaction() as tx:
        tx.executemany(
            "UPDATE outbox SET sent_at = ?, slack_ts = ?, digest = ?, attempts = attempts + 1,"
            " last_error = NULL WHERE id = ?",
            [
                (to_text(now), None if batch.digest else ts, int(batch.digest), r.id)
                for r in batch.rows
            ],
        )


def _release(store: Store, rows: list[_Row]) -> None:
    """Slack does not have these: they may be claimed and posted again."""
    with store.transaction() as tx:
        tx.executemany(
            "UPDATE outbox SET claim_id = NULL, claimed_at = NULL WHERE id = ?",
            [(r.id,) for r in rows],
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
