"""Each target keeps its own cadence in the daemon's poll job (`ActivityPoller`, one round
per job run), against the real PostgreSQL: dead targets never slow the healthy ones, and a
database that restarts is polled again within the reconnect backoff's cap."""

from __future__ import annotations

import contextlib
import itertools
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.clock import SystemClock
from monitor.config import Config
from monitor.sandbox.pam import IamPg
from monitor.sources.activity import PollResult, TokenSource
from monitor.sources.activity_poller import ActivityPoller
from monitor.sources.targets import Target, configured_targets
from tests.conftest import MotoServer
from tests.support.activity import ACCOUNT_A, make_config, target_table

INTERVAL = 2.0


@pytest.fixture
def blackholes() -> Iterator[list[int]]:
    """20 ports on 127.0.0.1 whose kernel completes the handshake, then nothing answers."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(20):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            sock.listen(1)
            ports.append(int(sock.getsockname()[1]))
        yield ports


def rounds(
    poller: ActivityPoller, targets: list[Target], count: int
) -> list[tuple[float, list[PollResult]]]:
    """`count` job runs on the poll job's beat (an IntervalTrigger without jitter), as
    APScheduler runs them; how long each took, and its results."""
    out = []
    start, tick = time.monotonic(), 0
    for _ in range(count):
        # A tick that came while the last run was still going is skipped (max_instances=1).
        while start + tick * INTERVAL < time.monotonic() - 0.05:
            tick += 1
        time.sleep(max(0.0, start + tick * INTERVAL - time.monotonic()))
        tick += 1
        began = time.monotonic()
        results = poller.poll(targets)
        out.append((time.monotonic() - began, results))
    return out


def warm(config: Config, iam_pg: IamPg) -> None:
    # The first AssumeRole and PAM login can take longer than a deadline on a loaded
    # machine; the cadence is the point here, as in test_activity_faults.py.
    from monitor.aws import AwsSessions

    aws = AwsSessions.from_config(config, clock=SystemClock(), hostname="testhost")
    aws.token_generator(ACCOUNT_A, "us-east-1")(iam_pg.host, iam_pg.port, "pgmonitor")


def test_activity_cadence_healthy_targets_keep_the_beat_beside_20_dead(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path, blackholes: list[int]
) -> None:
    dead = [target_table(iam_pg, f"dead{i:02d}", port=port) for i, port in enumerate(blackholes)]
    healthy = [target_table(iam_pg, "healthy-a"), target_table(iam_pg, "healthy-b")]
    # Dead ones listed first, and a connect timeout longer than the interval.
    config = make_config(
        tmp_path,
        moto_server.url,
        [*dead, *healthy],
        interval_s=INTERVAL,
        poll_deadline_s=1.5,
        connect_timeout_s=5,
        reconnect_backoff_s=0.5,
        reconnect_backoff_max_s=3,
    )
    warm(config, iam_pg)
    targets = configured_targets(config)
    poller = ActivityPoller(config.activity, _tokens(config), SystemClock())
    try:
        seen = rounds(poller, targets, 8)
    finally:
        poller.close()
    # The first round, when nothing is known yet, tries every target inline: 20 dead ones
    # take the 16 connect slots for a deadline, then the rest connect (two deadlines, plus
    # logins on a loaded machine). From then on no round waits on the dead, and the healthy
    # targets are polled on the beat.
    durations = [took for took, _ in seen]
    assert durations[0] < 3 * 1.5, durations
    assert all(took < 0.5 for took in durations[1:]), durations
    for name in ("healthy-a", "healthy-b"):
        results = [next(r for r in results if r.target == name) for _, results in seen]
        assert [r.status for r in results] == ["ok"] * 8, [r.reason for r in results]
        starts = [r.polled_at.timestamp() for r in results[1:]]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert all(abs(g - INTERVAL) <= 0.2 for g in gaps), (name, gaps)
    for _, results in seen:
        assert all(r.status == "down" for r in results if r.target.startswith("dead"))
    # Reconnects ran outside the rounds, on their own backoff, and were reported by them.
    reasons = [r.reason or "" for _, results in seen[1:] for r in results if r.target == "dead00"]
    assert any("(reconnecting)" in x for x in reasons), reasons
    assert any(x == "deadline exceeded" for x in reasons), reasons


def test_activity_cadence_reconnects_within_the_backoff_cap_after_a_restart(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path
) -> None:
    cap = 3.0
    config = make_config(
        tmp_path,
        moto_server.url,
        [target_table(iam_pg, "restarting")],
        interval_s=1.0,
        poll_deadline_s=0.9,
        reconnect_backoff_s=0.2,
        reconnect_backoff_max_s=cap,
    )
    warm(config, iam_pg)
    targets = configured_targets(config)
    poller = ActivityPoller(config.activity, _tokens(config), SystemClock())
    try:
        assert poller.poll(targets)[0].status == "ok"
        iam_pg.server.stop()
        # Long enough for the backoff to reach its cap several times over.
        outage_end = time.monotonic() + 4 * cap
        while time.monotonic() < outage_end:
            assert poller.poll(targets)[0].status == "down"
            time.sleep(1.0)
        iam_pg.server.start()
        back = time.monotonic()
        while (result := poller.poll(targets)[0]).status != "ok":
            assert time.monotonic() - back < cap + 2.0, result.reason
            time.sleep(0.2)
        # Polled again within the cap (plus the login) of the server's return.
        assert time.monotonic() - back <= cap + 2.0
    finally:
        poller.close()
        if not (iam_pg.server.datadir / "postmaster.pid").exists():
            iam_pg.server.start()


def _tokens(config: Config) -> TokenSource:
    from monitor.aws import AwsSessions

    return AwsSessions.from_config(config, clock=SystemClock(), hostname="testhost").token_for
