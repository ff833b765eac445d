"""Delivery from the outbox: in order, marked sent only after Slack accepts, posted once.

Rows are sent oldest first, critical and high ones ahead of the rest
(monitor/outputs/alerts/budget.py decides what is folded: a flood, a spike from one host or
detector, an old backlog). An outage stops the run (later alerts never overtake an earlier
one) and backs the queue off for at most BACKOFF_MAX. A channel Slack refuses for good is
parked instead (monitor/outputs/alerts/parking.py): its rows wait, and every other channel
keeps delivering.

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

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.errors import AlertDeliveryFailed, AlertHistoryUnavailable, ChannelUnusable
from monitor.outputs.alerts import parking
from monitor.outputs.alerts.budget import Limits, budget
from monitor.outputs.alerts.render import Message, render_digest, render_finding
from monitor.outputs.alerts.slack import Sink
from monitor.store import outbox as stored
from monitor.store.locks import FileLock
from monitor.store.outbox import OutboxRow
from monitor.store.sqlite import Store

log = logging.getLogger(__name__)

# Slack is probed again at most BACKOFF_MAX after a failure, however long the outage: below
# the daemon's delivery interval (15 s), so each delivery run during an outage sends one
# probe, and the first alert goes out within one interval (plus the call) of Slack's return.
# One chat.postMessage per 15 s is far inside Slack's rate limits (1 per second a channel).
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(seconds=10)


@dataclass
class DeliverySummary:
    sent: int = 0
    digested: int = 0
    pending: int = 0
    parked: int = 0  # of the pending, how many wait for a parked channel
    error: str | None = None
    found: int = 0  # claimed messages found already in Slack: marked sent, not posted again
    busy: bool = False  # another deliverer held the outbox: this run sent nothing


@dataclass(frozen=True)
class Batch:
    """One message to send, and the outbox rows it covers (many for a digest)."""

    message: Message
    rows: list[OutboxRow]
    digest: bool

    def channel(self, sink: Sink) -> str:
        return self.message.channel or sink.channel(self.message.severity)


def plan(store: Store, sink: Sink, now: datetime, limits: Limits) -> tuple[list[Batch], int]:
    """The messages due now, in order, and how many rows are pending in all.

    Rows for a parked channel are left out: they wait, and hold up no other channel.
    """
    rows = stored.pending(store)
    stuck = stored.parked(store.conn)
    active = [r for r in rows if sink.channel(r.finding.severity) not in stuck]
    # _back_off delays the head of this queue: while it waits, everything behind it does.
    if not active or active[0].next_attempt_at > now:
        return [], len(rows)
    chosen = budget(active, now, limits)
    batches = [
        Batch(render_finding(r.finding, r.kind, r.count), [r], digest=False) for r in chosen.urgent
    ]
    for fold in chosen.folds:
        digest = render_digest([(r.finding, r.kind) for r in fold.rows], fold.reason, fold.title)
        batches.append(Batch(digest, fold.rows, digest=True))
    batches.extend(
        Batch(render_finding(r.finding, r.kind, r.count), [r], digest=False) for r in chosen.alone
    )
    return batches, len(rows)


def deliver(store: Store, sink: Sink, now: datetime, limits: Limits) -> DeliverySummary:
    """Send what is due. Returns counts; a Slack failure is reported in `error`, never raised.

    A channel Slack refuses for good is parked and skipped from then on; an outage stops
    the run and backs off. A store that cannot write raises StoreCannotWrite: nothing was
    posted that is not claimed.
    """
    with _deliverer(store) as held:
        if not held:
            return DeliverySummary(pending=stored.pending_count(store), busy=True)
        summary = DeliverySummary()
        try:
            summary.found = _settle(store, sink, now)
            batches, _ = plan(store, sink, now, limits)
            for batch in batches:
                if batch.channel(sink) in stored.parked(store.conn):
                    continue  # parked earlier in this run: its rows wait with the channel
                try:
                    _send(store, sink, batch, now)
                except ChannelUnusable as exc:
                    parking.park(store, exc, now)
                    summary.error = str(exc)
                    continue
                if batch.digest:
                    summary.digested += len(batch.rows)
                else:
                    summary.sent += 1
            parking.announce(store, sink, now, _waiting(store, sink))
        except AlertDeliveryFailed as exc:
            summary.error = str(exc)
            _back_off(store, sink, str(exc), now)
        summary.pending = stored.pending_count(store)
        summary.parked = sum(_waiting(store, sink).values())
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


def preview(store: Store, sink: Sink, now: datetime, limits: Limits) -> int:
    """Hand what is due to `sink` (the console) without marking anything sent."""
    batches, _ = plan(store, sink, now, limits)
    for batch in batches:
        sink.send(batch.message, batch.rows[0].id, _thread_for(store, batch))
    return len(batches)


def _waiting(store: Store, sink: Sink) -> dict[str, int]:
    """Pending rows per parked channel."""
    stuck = stored.parked(store.conn)
    counts: dict[str, int] = {}
    for row in stored.pending(store):
        channel = sink.channel(row.finding.severity)
        if channel in stuck:
            counts[channel] = counts.get(channel, 0) + 1
    return counts


def _thread_for(store: Store, batch: Batch) -> str | None:
    """The ts of the finding's last message sent on its own: repeats and resolves go there."""
    head = batch.rows[0]
    if batch.digest or head.kind == "new":
        return None
    return stored.thread_ts(store, head.fingerprint)


def _claim_key(store: Store, claim_id: int) -> str:
    """What the message's metadata carries: this store's identity and the claim."""
    return f"{stored.identity(store)}.{claim_id}"


def _settle(store: Store, sink: Sink, now: datetime) -> int:
    """Claims left unsent by an earlier run: mark those Slack has, release the others.

    Returns how many were found in Slack. Slack unreachable raises AlertDeliveryFailed.
    """
    claims: dict[int, list[OutboxRow]] = {}
    for row in stored.pending(store):
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
    claim_id = stored.claim(store, [r.id for r in batch.rows], batch.digest, now)
    return _claim_key(store, claim_id)


def _mark(store: Store, batch: Batch, ts: str | None, now: datetime) -> None:
    ts = None if batch.digest else ts  # a digest is no thread for later alerts
    stored.mark_sent(store, [r.id for r in batch.rows], ts, batch.digest, now)


def _release(store: Store, rows: list[OutboxRow]) -> None:
    """Slack does not have these: they may be claimed and posted again."""
    stored.release(store, [r.id for r in rows])


def _back_off(store: Store, sink: Sink, error: str, now: datetime) -> None:
    """Delay the head of the queue (parked channels aside); everything behind it waits."""
    stuck = stored.parked(store.conn)
    rows = [r for r in stored.pending(store) if sink.channel(r.finding.severity) not in stuck]
    if not rows:
        return
    head = rows[0]
    attempts = head.attempts + 1
    # The exponent is bounded too: 5 s * 2**50 overflows timedelta after a long outage.
    retry_at = now + min(BACKOFF_BASE * 2 ** min(attempts - 1, 16), BACKOFF_MAX)
    stored.back_off(store, head.id, attempts, error, retry_at)
    log.warning(
        "%s; %d alerts wait in the outbox, next try at %s",
        error,
        len(rows),
        retry_at.isoformat(timespec="seconds"),
    )
