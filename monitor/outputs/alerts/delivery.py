"""Delivering the outbox, as the alerts stage does it every 15 s and `pgwarden alerts
deliver` does it on demand: one function for both, so they cannot drift apart.

The caller builds the sink (`make_sink`) before it opens the store, so a missing token
fails before anything is written. The flood limits come from `[alerts.slack]` (budget.py);
what is sent, digested or held back is outbox.py's.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from monitor.errors import PgwardenError
from monitor.outputs.alerts.budget import Limits
from monitor.outputs.alerts.outbox import DeliverySummary, deliver, preview
from monitor.outputs.alerts.render import render_test
from monitor.outputs.alerts.sinks import console_sink
from monitor.outputs.alerts.slack import Sink, configured_channels

if TYPE_CHECKING:
    from monitor.config import SlackConfig
    from monitor.store.sqlite import Store


def deliver_alerts(store: Store, sink: Sink, slack: SlackConfig, now: datetime) -> DeliverySummary:
    """Send what waits in the outbox, oldest first, within `[alerts.slack]`'s limits."""
    return deliver(store, sink, now, Limits.of(slack))


def preview_alerts(store: Store, slack: SlackConfig, now: datetime) -> int:
    """Print on stdout the payloads delivery would send now; nothing is marked sent."""
    return preview(store, console_sink(slack), now, Limits.of(slack))


def send_test_messages(sink: Sink, slack: SlackConfig) -> list[tuple[str, str | None]]:
    """A test message to every configured channel: each channel and its error, if any."""
    results: list[tuple[str, str | None]] = []
    for severity, channel in configured_channels(slack):
        try:
            sink.send(render_test(severity, channel), 0, None)
        except PgwardenError as exc:
            results.append((channel, str(exc)))
        else:
            results.append((channel, None))
    return results
