"""Faults: a server that goes away and comes back, and targets that never answer."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from monitor.clock import SystemClock
from monitor.sandbox.pam import IamPg
from monitor.sources.activity import PollResult
from tests.conftest import MotoServer
from tests.support.activity import ACCOUNT_A, Harness, make_config, target_table


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port whose kernel completes the TCP handshake, and then nothing ever answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # never accepted: the SSLRequest waits forever
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def run_until(
    h: Harness,
    done: Callable[[list[tuple[float, PollResult]]], bool],
    limit: float,
    on_result: Callable[[PollResult], None] | None = None,
) -> list[tuple[float, PollResult]]:
    """Run the daemon loop until `done(results)` or `limit` seconds; return (time, result)."""
    seen: list[tuple[float, PollResult]] = []
    stop = asyncio.Event()

    def sink(result: PollResult) -> None:
        seen.append((time.monotonic(), result))
        with h.store.transaction() as conn:
            h.recorder.record(conn, result)
        if on_result:
            on_result(result)
        if done(seen):
            stop.set()

    async def main() -> None:
        async with asyncio.timeout(limit):
            await h.source.run(sink, stop, spread=False)

    with contextlib.suppress(TimeoutError):
        h.loop.run_until_complete(main())
    return seen


def test_activity_server_restart_goes_down_then_recovers_with_new_token(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path
) -> None:
    config = make_config(
        tmp_path,
        moto_server.url,
        [target_table(iam_pg)],
        interval_s=1.0,
        poll_deadline_s=0.9,
        reconnect_backoff_s=0.2,
        reconnect_backoff_max_s=1.0,
    )
    h = Harness(config, SystemClock())
    bystander = psycopg.connect(iam_pg.server.dsn(), application_name="bystander")
    phase = {"name": "before"}
    pids: list[int | None] = []

    def on_result(result: PollResult) -> None:
        pids.append(h.source.state("demo").backend_pid)
        oks = [r for r in seen_results if r.status == "ok"]
        if phase["name"] == "before" and len(oks) >= 2:
            phase["name"] = "stopped"
            iam_pg.server.stop()  # blocks the loop for a moment, as a real outage would not
        elif phase["name"] == "stopped" and result.status == "down":
            phase["name"] = "restarted"
            iam_pg.server.start()

    seen_results: list[PollResult] = []

    def done(seen: list[tuple[float, PollResult]]) -> bool:
        seen_results[:] = [r for _, r in seen]
        return phase["name"] == "restarted" and seen[-1][1].status == "ok"

    try:
        seen = run_until(h, done, limit=40, on_result=on_result)
        statuses = [r.status for _, r in seen]
        assert statuses[:2] == ["ok", "ok"]
        assert "down" in statuses and statuses[-1] == "ok", statuses
        down = next(r for _, r in seen if r.status == "down")
        assert down.reason and ("terminat" in down.reason or "connection" in down.reason)
        # A new connection after the outage, with a token minted for it.
        assert h.source.state("demo").tokens_minted >= 2
        assert pids[0] != pids[-1]
        ok_logins = [d for d in iam_pg.decisions() if d["ok"]]
        assert len(ok_logins) >= 2
        # The bystander's backend died with the server: its session has ended.
        ended = h.rows(
            "SELECT ended_at, last_seen, end_gap_s FROM sessions"
            " WHERE application_name = 'bystander'"
        )
        # It ended during the outage: at its last sight, not at the first good poll after,
        # and the blind spot is the time from that sight to the first good poll.
        first_ok_after = next(r.polled_at for _, r in reversed(seen) if r.status == "ok").isoformat(
            timespec="microseconds"
        )
        assert len(ended) == 1 and ended[0][0] == ended[0][1]
        gap = datetime.fromisoformat(first_ok_after) - datetime.fromisoformat(ended[0][1])
        assert ended[0][2] == pytest.approx(gap.total_seconds(), abs=0.01) and ended[0][2] > 0
        assert h.rows("SELECT status FROM target_status") == [("ok",)]
    finally:
        bystander.close()
        h.close()
        if not (iam_pg.server.datadir / "postmaster.pid").exists():
            iam_pg.server.start()


def test_activity_dead_targets_time_out_while_healthy_keeps_cadence(
    iam_pg: IamPg,
    moto_server: MotoServer,
    tmp_path: Path,
    blackhole: int,
    free_port: Callable[[], int],
) -> None:
    closed = free_port()
    targets = [
        target_table(iam_pg, "healthy"),
        target_table(iam_pg, "blackholed", port=blackhole),
        target_table(iam_pg, "closed", port=closed),
    ]
    config = make_config(
        tmp_path, moto_server.url, targets, interval_s=2.0, poll_deadline_s=1.2, connect_timeout_s=5
    )
    h = Harness(config, SystemClock())
    try:
        # Connect the healthy target first (AssumeRole, PAM login): on a loaded CI machine
        # that first login alone can take longer than the deadline. Cadence is the point here.
        h.aws.token_generator(ACCOUNT_A, "us-east-1")(iam_pg.host, iam_pg.port, "pgmonitor")
        warm = h.loop.run_until_complete(h.source.poll(h.source.targets[0]))
        assert warm.status == "ok", warm.reason
        seen = run_until(h, lambda s: False, limit=6.7)
    finally:
        h.close()
    by_target: dict[str, list[tuple[float, PollResult]]] = {}
    for at, result in seen:
        by_target.setdefault(result.target, []).append((at, result))
    healthy = by_target["healthy"]
    assert [r.status for _, r in healthy] == ["ok"] * 4, [r.reason for _, r in healthy]
    # Polls start on the 2-s beat, although two other targets hang or fail on every beat.
    starts = [r.polled_at.timestamp() for _, r in healthy]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(1.9 <= g <= 2.1 for g in gaps), gaps
    first_black = by_target["blackholed"][0][1]
    assert (first_black.status, first_black.reason) == ("down", "deadline exceeded")
    assert 1200 <= first_black.duration_ms < 1200 + 250
    first_closed = by_target["closed"][0][1]
    assert first_closed.status == "down" and "Connection refused" in (first_closed.reason or "")
    # Later polls of dead targets back off instead of hammering them.
    assert all(r.status == "down" for _, r in by_target["blackholed"] + by_target["closed"])
    assert h.source.state("blackholed").failures >= 1
