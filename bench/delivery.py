"""Benchmark: what stays at-least-once in Slack delivery, and what the store's locks cost.

Each fault runs two delivery passes (the second after the back-off) of ALERTS alerts
against the sandbox's Slack endpoint (monitor/sandbox/slack.py) through the real
slack-sdk client, and prints how often each outbox row was posted. Then it times small
write transactions through Store.transaction (write lock, WAL bound) against bare
BEGIN IMMEDIATE/COMMIT on the same file.

    .venv/bin/python bench/delivery.py [--alerts 5] [--transactions 5000]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import logging
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.judge.findings import record
from monitor.models import EvidenceItem, Finding
from monitor.outputs.alerts.budget import Limits
from monitor.outputs.alerts.outbox import deliver
from monitor.outputs.alerts.slack import SlackSink, make_web_client
from monitor.sandbox.slack import AfterPost, SlackEndpoint
from monitor.store.sqlite import WAL_LIMIT_BYTES, Store

NOW = datetime.now(UTC)
HOUR = timedelta(hours=1)
TIMEOUT_S = 1.0  # the client's timeout here (15 s in pgwarden), so a pass takes seconds


def finding(i: int) -> Finding:
    return Finding(
        detector="failure-burst", subject=f"orders/user/u{i}", severity="high",
        title=f"5 failed logins as u{i}", why="bench", remedy="bench", account="222222222222",
        target="orders", db_user=f"u{i}",
        evidence=(EvidenceItem(NOW, f"auth_failed as u{i}", "10.0.0.5", 5),),
    )  # fmt: skip


def killed() -> None:
    raise KeyboardInterrupt("killed")  # the process dies between Slack's answer and the mark


def run_fault(
    alerts: int, setup: Callable[[SlackEndpoint], None], crash: bool = False, deliverers: int = 1
) -> collections.Counter[int]:
    """Two passes under the fault `setup` makes; posts per outbox id."""
    slack = SlackEndpoint(["#pgwarden"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.db"
        with Store.open(path) as store:
            record(store, "failure-burst", [finding(i) for i in range(alerts)], NOW, realert=HOUR)
        client = make_web_client("xoxb-bench", slack.base_url)
        client.timeout = TIMEOUT_S
        sink = SlackSink(client, {}, "#pgwarden")
        setup(slack)

        def one_pass(at: datetime, faulty: bool) -> None:
            used = AfterPost(sink, killed) if faulty and crash else sink
            # KeyboardInterrupt: the crash, played.
            with Store.open(path, exclusive=False) as store, contextlib.suppress(KeyboardInterrupt):
                deliver(store, used, at, Limits(100, timedelta(days=1)))

        for at, faulty in ((NOW, True), (NOW + HOUR, False)):
            workers = [
                threading.Thread(target=one_pass, args=(at, faulty)) for _ in range(deliverers)
            ]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            slack.answer_delay_s = 0
    slack.close()
    return collections.Counter(m["metadata"]["event_payload"]["outbox_id"] for m in slack.messages)


def slow_answer(slack: SlackEndpoint) -> None:
    slack.answer_delay_s = TIMEOUT_S + 0.5


def slow_answer_no_history(slack: SlackEndpoint) -> None:
    slow_answer(slack)
    slack.history_scope = False


def slow_answer_stored_late(slack: SlackEndpoint) -> None:
    slow_answer(slack)
    slack.visible_after_s = 30  # in the channel only after the next pass has looked


def slow_slack(slack: SlackEndpoint) -> None:
    slack.answer_delay_s = 0.2  # every post; answered in time


def transactions(count: int, rounds: int = 10) -> dict[str, float]:
    """Seconds per small write transaction: through Store; bare sqlite3 with the store's
    pragmas (what the locks add); bare with SQLite's defaults (what the
    WAL bound's extra checkpoints add). Rounds of each in turn; the median
    round of each (the machine is shared and noisy)."""
    with tempfile.TemporaryDirectory() as tmp:
        # A file each: one connection's checkpoint must not be paid by another.
        store = Store.open(Path(tmp) / "store.db")
        for name in ("same.db", "default.db"):
            Store.open(Path(tmp) / name).close()
        same = sqlite3.connect(Path(tmp) / "same.db", isolation_level=None)
        for pragma in ("synchronous = NORMAL", "foreign_keys = ON",
                       f"journal_size_limit = {WAL_LIMIT_BYTES}",
                       f"wal_autocheckpoint = {WAL_LIMIT_BYTES // 4096}"):  # fmt: skip
            same.execute(f"PRAGMA {pragma}").fetchall()
        default = sqlite3.connect(Path(tmp) / "default.db", isolation_level=None)
        default.execute("PRAGMA synchronous = NORMAL")

        def through_store(i: int) -> None:
            with store.transaction() as tx:
                tx.execute("INSERT INTO cursors VALUES ('s', ?, '1', 't')", (str(i),))

        def bare(conn: sqlite3.Connection, source: str) -> Callable[[int], None]:
            def one(i: int) -> None:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO cursors VALUES (?, ?, '1', 't')", (source, str(i)))
                conn.execute("COMMIT")

            return one

        ways = {"store": through_store, "same": bare(same, "b"), "default": bare(default, "d")}
        times: dict[str, list[float]] = {name: [] for name in ways}
        per_round = count // rounds
        for r in range(rounds):
            for name, one in ways.items():
                started = time.perf_counter()
                for i in range(r * per_round, (r + 1) * per_round):
                    one(i)
                times[name].append((time.perf_counter() - started) / per_round)
        same.close()
        default.close()
        store.close()
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=5)
    parser.add_argument("--transactions", type=int, default=5000)
    args = parser.parse_args()
    logging.disable(logging.ERROR)  # the faults' own warnings are the point, not the output
    faults: list[tuple[str, Callable[[SlackEndpoint], None], bool, int]] = [
        ("answer after the client timeout", slow_answer, False, 1),
        ("crash between post and mark", lambda s: None, True, 1),
        ("two deliverers at once, slow Slack", slow_slack, False, 2),
        ("answer after timeout, token without history scopes", slow_answer_no_history, False, 1),
        ("answer after timeout, stored after the next look", slow_answer_stored_late, False, 1),
    ]
    print(f"{args.alerts} alerts per fault, two delivery passes each")
    for name, setup, crash, deliverers in faults:
        posts = run_fault(args.alerts, setup, crash, deliverers)
        spread = collections.Counter(posts.values())
        shown = ", ".join(f"{rows} rows x{n}" for n, rows in sorted(spread.items()))
        print(f"  {name:55} {sum(posts.values()):3} posts for {len(posts)} rows ({shown})")
    t = transactions(args.transactions)
    print(
        f"write transaction: {t['store'] * 1e6:.0f} us through Store, "
        f"{t['same'] * 1e6:.0f} us bare with its pragmas, {t['default'] * 1e6:.0f} us bare "
        f"with SQLite's defaults; locks x{t['store'] / t['same']:.2f}, "
        f"WAL bound x{t['same'] / t['default']:.2f}"
    )


if __name__ == "__main__":
    main()
