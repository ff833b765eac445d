"""Benchmark: how soon alerts go out again after a Slack outage ends.

    PYTHONPATH=. python bench/slack_recovery.py

The real outbox (a SQLite store, `deliver`) is run on the daemon's delivery beat (every
15 s) in simulated time, with a sink that fails like Slack during an outage and accepts
after it. For outages of about 90 s, 10 min and 1 h (ending between two runs) it prints
the delay between Slack's return and the first alert delivered, with the backoff now
(capped at BACKOFF_MAX) and before (30 s doubling to 1 h), in one run. Not a test: nothing
asserts.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.errors import AlertDeliveryFailed
from monitor.judge.findings import record
from monitor.models import Finding
from monitor.outputs.alerts import outbox
from monitor.outputs.alerts.budget import Limits
from monitor.outputs.alerts.render import Message
from monitor.store.sqlite import Store

START = datetime(2026, 1, 1, tzinfo=UTC)
BEAT = timedelta(seconds=15)  # [scheduler] alerts_interval_s


class FlakySlack:
    """Fails until `back_at`, then accepts."""

    def __init__(self, back_at: datetime) -> None:
        self.back_at = back_at
        self.now = START

    def send(
        self, message: Message, outbox_id: int, thread_ts: str | None, claim: str | None = None
    ) -> str | None:
        if self.now < self.back_at:
            raise AlertDeliveryFailed("Slack chat.postMessage failed: HTTP 503")
        return "1.0"

    def find(
        self, message: Message, thread_ts: str | None, claim: str, since: datetime
    ) -> str | None:
        return None  # every failed post was refused whole: nothing of it is in the channel

    def channel(self, severity: str) -> str:
        return "#pgwarden"

    def destinations(self) -> list[str]:
        return ["#pgwarden"]


def recovery(outage: timedelta, base: timedelta, cap: timedelta) -> timedelta:
    outbox.BACKOFF_BASE, outbox.BACKOFF_MAX = base, cap
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "p.db") as store:
        finding = Finding("failure-burst", "s", "medium", "5 failed logins", "why", "fix")
        record(store, "failure-burst", [finding], START, realert=timedelta(hours=1))
        slack = FlakySlack(START + outage)
        while True:
            summary = outbox.deliver(store, slack, slack.now, Limits(20, timedelta(days=1)))
            if summary.sent:
                return slack.now - slack.back_at
            slack.now += BEAT


def main() -> None:
    # Each refused post logs a warning; hundreds of them would bury the figures.
    logging.disable(logging.WARNING)
    now_policy = (outbox.BACKOFF_BASE, outbox.BACKOFF_MAX)
    before = (timedelta(seconds=30), timedelta(hours=1))
    print("first alert after Slack returns, delivery every 15 s (simulated time):")
    # Slack comes back 7 s after a delivery run: between two runs, as it would.
    for outage in (
        timedelta(seconds=97),
        timedelta(minutes=10, seconds=7),
        timedelta(hours=1, seconds=7),
    ):
        after_now = recovery(outage, *now_policy)
        after_before = recovery(outage, *before)
        print(
            f"  outage {outage!s:>8}: now {after_now.total_seconds():5.0f} s"
            f" (cap {now_policy[1].total_seconds():.0f} s),"
            f" before {after_before.total_seconds():5.0f} s"
        )


if __name__ == "__main__":
    main()
