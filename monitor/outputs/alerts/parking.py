"""Parked Slack channels: a channel Slack refuses for good stops holding every other alert.

A permanent error (`channel_not_found`, `not_in_channel`, `is_archived`, `invalid_auth`,
`account_inactive`...) cannot be waited out the way an outage can. The channel is parked:
its alerts stay in the outbox, unsent, while every other channel keeps delivering in order.
A parked channel shows in the metrics (`pgwarden_alert_channel_parked`), in `/readyz`, in
`pgwarden doctor`, and in one alert sent through the first channel that still works.
`pgwarden alerts retry-parked` resumes it; its alerts then go out, in order, once.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from monitor.errors import ChannelUnusable, StoreError
from monitor.outputs.alerts.render import render_parked
from monitor.outputs.alerts.slack import Sink
from monitor.store import outbox as stored
from monitor.store.sqlite import Store

log = logging.getLogger(__name__)


def found(row: stored.ParkedRow) -> str:
    """What doctor and /readyz say of a parked channel."""
    return (
        f"slack channel {row.channel} parked since {row.parked_at:%Y-%m-%d %H:%M}Z"
        f" ({row.error}): its alerts wait until it is fixed and resumed"
    )


def retry_command(channel: str) -> str:
    # Quoted: a channel name starts with #, which a shell reads as a comment.
    return f"pgwarden alerts retry-parked --channel {shlex.quote(channel)}"


def park(store: Store, exc: ChannelUnusable, now: datetime) -> None:
    stored.park(store, exc.channel, exc.error, now)
    log.error(
        "%s: channel parked; its alerts wait until `pgwarden alerts retry-parked --channel %s`",
        exc,
        exc.channel,
        extra={"channel": exc.channel, "slack_error": exc.error},
    )


def resume(store: Store, channels: Sequence[str] = ()) -> list[str]:
    """Unpark `channels` (all when empty); returns the ones that were parked."""
    chosen = stored.unpark(store, channels)
    for channel in chosen:
        log.info("channel %s resumed: its alerts go out at the next delivery", channel)
    return chosen


def announce(store: Store, sink: Sink, now: datetime, waiting: dict[str, int]) -> None:
    """One alert per newly parked channel, through the first channel that still works.

    A channel found unusable on the way is parked too; an outage leaves the alert for the
    next run. Raises AlertDeliveryFailed only for an outage.
    """
    stuck = stored.parked(store.conn)
    for entry in list(stuck.values()):
        if entry.alerted_at is not None:
            continue
        count = waiting.get(entry.channel, 0)
        message = render_parked(entry.channel, entry.error, count, retry_command(entry.channel))
        for channel in sink.destinations():
            if channel in stuck:
                continue
            try:
                sink.send(message.to(channel), 0, None)
            except ChannelUnusable as exc:
                park(store, exc, now)
                stuck = stored.parked(store.conn)
                continue
            stored.parked_alerted(store, entry.channel, now)
            break
        else:
            # Every channel is parked: nothing can say so until one is resumed; the parking
            # itself was logged, and /readyz, the doctor and the metrics show it.
            log.debug("channel %s is parked and no channel works to say so", entry.channel)


def parked_in(path: Path, busy_timeout_ms: int) -> list[stored.ParkedRow]:
    """The parked channels of the store at `path`, read-only; none before it exists."""
    try:
        store = Store.open(path, writer=False, busy_timeout_ms=busy_timeout_ms)
    except StoreError:
        return []  # no store yet: nothing can be parked
    with store:
        return list(stored.parked_if_migrated(store).values())


def readiness(path: Path, busy_timeout_ms: int) -> list[str]:
    """/readyz reasons: one line per parked channel."""
    return [f"{found(p)}: {retry_command(p.channel)}" for p in parked_in(path, busy_timeout_ms)]
