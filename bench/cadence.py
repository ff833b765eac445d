"""Benchmark: how regularly healthy targets are polled while many targets never answer.

    PYTHONPATH=. python bench/cadence.py --dead 20 --rounds 10 --interval 2

It starts its own PostgreSQL with TLS (as bench/poll.py does), points 2 healthy targets at
it, and `--dead` targets at ports on 127.0.0.1 that accept TCP and never answer, listed
first. It runs `--rounds` poll rounds on the poll job's beat (every `--interval` seconds,
a round that overruns skips the ticks it missed, as APScheduler does), twice in one run:

- now: `ActivitySource.poll_all`, as the daemon's poll job runs it (a dead target is
  retried by a task of its own, outside the rounds);
- before: every target polled inline in each round, dead ones retried when due (the
  previous poll_all), on the same sources and settings.

It prints, for each, the round times and the gaps between the healthy targets' polls.
Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from poll import open_sessions, start_server  # type: ignore[import-not-found]

from monitor.clock import SystemClock
from monitor.config import ActivityConfig
from monitor.sandbox.tls import FAKE_RDS_HOSTS
from monitor.sources.activity import ActivitySource, PollResult
from monitor.sources.targets import Target


def target(name: str, port: int, ca: Path) -> Target:
    return Target(
        name=name,
        account_id="222222222222",
        account_name="bench",
        region="us-east-1",
        endpoint=FAKE_RDS_HOSTS[0],
        endpoint_type="cluster",
        port=port,
        database="postgres",
        db_user="pgmonitor",
        ca_bundle=ca,
        hostaddr="127.0.0.1",
    )


async def on_the_beat(
    round_: Callable[[], Awaitable[list[PollResult]]], rounds: int, interval: float
) -> tuple[list[float], list[float]]:
    """Round durations, and the gaps between the healthy targets' poll starts."""
    durations: list[float] = []
    starts: dict[str, list[float]] = {}
    begin, tick = time.monotonic(), 0
    for _ in range(rounds):
        while begin + tick * interval < time.monotonic() - 0.05:
            tick += 1  # a tick that came during the last round is skipped
        await asyncio.sleep(max(0.0, begin + tick * interval - time.monotonic()))
        tick += 1
        began = time.monotonic()
        for r in await round_():
            if r.target.startswith("healthy") and r.status == "ok":
                starts.setdefault(r.target, []).append(r.polled_at.timestamp())
        durations.append(time.monotonic() - began)
    gaps = [b - a for s in starts.values() for a, b in itertools.pairwise(s[1:])]
    return durations, gaps


def show(label: str, durations: list[float], gaps: list[float], interval: float) -> None:
    worst = max((abs(g - interval) for g in gaps), default=float("nan"))
    median = statistics.median(durations[1:])
    print(
        f"{label:7} rounds: first {durations[0]:.2f} s, then median {median:.3f} s,"
        f" max {max(durations[1:]):.2f} s | healthy gaps: {len(gaps)},"
        f" mean {statistics.fmean(gaps) if gaps else float('nan'):.2f} s,"
        f" worst off the {interval:g}-s beat {worst:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dead", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pgwarden-bench-"))
    server, ca = start_server(base, 0, 4)
    try:
        open_sessions(server, 0)  # the pgmonitor role, which logs in by trust here
        with contextlib.ExitStack() as stack:
            dead = []
            for i in range(args.dead):
                sock = stack.enter_context(socket.socket())
                sock.bind(("127.0.0.1", 0))
                sock.listen(1)
                dead.append(target(f"dead{i:02d}", int(sock.getsockname()[1]), ca))
            targets = [*dead, *(target(f"healthy{i}", server.port, ca) for i in range(2))]
            options = ActivityConfig(
                interval_s=args.interval,
                poll_deadline_s=args.interval * 0.75,
                connect_timeout_s=5,
                reconnect_backoff_s=0.5,
                reconnect_backoff_max_s=3,
            )
            print(
                f"{args.dead} dead + 2 healthy targets, interval {args.interval:g} s, deadline"
                f" {options.poll_deadline_s:g} s, max_parallel {options.max_parallel}"
            )

            async def run() -> None:
                for label in ("now", "before"):
                    source = ActivitySource(targets, options, lambda t: "trust", SystemClock())

                    async def inline(source: ActivitySource = source) -> list[PollResult]:
                        return list(await asyncio.gather(*(source.poll(t) for t in targets)))

                    round_ = source.poll_all if label == "now" else inline
                    durations, gaps = await on_the_beat(round_, args.rounds, args.interval)
                    await source.close()
                    show(label, durations, gaps, args.interval)

            asyncio.run(run())
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
