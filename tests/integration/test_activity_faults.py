"""Faults: a server that goes away and comes back, and targets that never answer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from monitor.clock import SystemClock
from monitor.sandbox.pam import IamPg
from monitor.sources.activity import PollResult
from tests.conftest import MotoServer
from tests.support.activity import Harness, make_config, target_table


def run_until(
    h: Harness,
    done: Callable[[list[tuple[float, PollResult]]], bool],
    limit: float,
    on_result: Callable[[PollResult], None] | None = None,
) -> list[tuple[float, PollResult]]:
    """Poll every `interval_s`, as the daemon's poll job does (its event loop running in
    between, for the reconnects), until `done(results)` or `limit` seconds."""
    seen: list[tuple[float, PollResult]] = []

    async def main() -> None:
        async with asyncio.timeout(limit):
            while True:
                started = time.monotonic()
                results = await h.source.poll_all()
                with h.store.transaction() as conn:
                    for result in results:
                        h.recorder.record(conn, result)
                for result in results:
                    seen.append((time.monotonic(), result))
                    if on_result:
                        on_result(result)
                    if done(seen):
                        return
                await asyncio.sleep(h.config.activity.interval_s - (time.monotonic() - started))

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
