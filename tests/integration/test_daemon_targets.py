"""The daemon's jobs share one resolution of the targets, against the moto server.

Discovery's describe calls are counted at botocore's event hooks (tests/support/aws_calls.py)
while they go to moto over HTTP. The daemon runs in process on a frozen clock, so the
interval (`[scheduler] discovery_interval_s`) passes when the test says; its jobs are run as
the scheduler runs them (`_run_job`), on the stages themselves. The discovered clusters'
endpoints do not resolve: each poll finds them down, at once.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FrozenClock
from monitor.config import load_config
from monitor.sandbox.aws import Account
from monitor.scheduler import Daemon
from monitor.stages import run_once
from monitor.store.sqlite import Store
from tests.conftest import MotoServer
from tests.integration.test_discovery_logs import ACCOUNT, ROLE
from tests.support.aws_calls import AwsCalls
from tests.support.daemon import write_toml

pytestmark = pytest.mark.integration

ORDERS = "prod/us-east-1/orders"
BILLING = "prod/us-east-1/billing"
POLL, LOGS = "poll-activity", "ingest-logs"
# One resolution, one account and region, no proxies: these three describe calls.
ONE_DISCOVERY = Counter(
    {
        ("rds", "DescribeDBClusters"): 1,
        ("rds", "DescribeDBInstances"): 1,
        ("rds", "DescribeDBProxies"): 1,
    }
)


def raw_config(tmp_path: Path, moto: MotoServer, **scheduler: float) -> dict[str, Any]:
    return {
        "store": {"path": str(tmp_path / "pgwarden.db")},
        "aws": {"endpoint_url": moto.url},
        "accounts": [
            {
                "id": ACCOUNT, "name": "prod", "role_arn": ROLE, "discover": True,
                "discover_tags": {"pgwarden": "monitor"},
            }
        ],
        "pglogs": {"sources": ["cloudwatch"]},
        "cloudtrail": {"enabled": False},
        "scheduler": {"jitter_s": 0, **scheduler},
    }  # fmt: skip


@pytest.fixture
def account(moto_server: MotoServer) -> Account:
    moto_server.reset()
    made = Account(moto_server.sandbox, ACCOUNT)
    made.create_cluster("orders", 5432)
    return made


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def calls(clock: FrozenClock) -> AwsCalls:
    return AwsCalls(clock)


def make_daemon(path: Path, raw: dict[str, Any], clock: FrozenClock, calls: AwsCalls) -> Daemon:
    write_toml(path, raw)
    return Daemon(path, load_config(path), clock=clock, aws=calls.sessions)


def last_seen(daemon: Daemon) -> dict[str, str]:
    """Each saved target's last save, as the store has it."""
    with Store.open(daemon.config.store.path, writer=False) as store:
        return dict(store.conn.execute("SELECT name, last_seen FROM targets").fetchall())


def polled(daemon: Daemon, target: str) -> bool:
    """Whether a poll has reached the target (its status is stored, down here)."""
    return daemon.metrics.registry.get_sample_value("pgwarden_target_up", {"target": target}) == 0


def runs(daemon: Daemon, job: str) -> float:
    sample = daemon.metrics.registry.get_sample_value
    return sum(
        sample("pgwarden_job_runs_total", {"job": job, "outcome": o}) or 0
        for o in ("ok", "partial")
    )


def test_daemon_targets_polls_within_the_interval_share_one_discovery(
    account: Account,
    moto_server: MotoServer,
    tmp_path: Path,
    clock: FrozenClock,
    calls: AwsCalls,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    daemon = make_daemon(tmp_path / "p.toml", raw_config(tmp_path, moto_server), clock, calls)
    start = clock.now()
    try:
        for _ in range(6):  # a minute of polls at the default 10 s, and a log read
            daemon._run_job(POLL)
            clock.advance(timedelta(seconds=10))
        daemon._run_job(LOGS)
        assert calls.describes() == ONE_DISCOVERY
        assert runs(daemon, POLL) == 6 and polled(daemon, ORDERS)
        saved = last_seen(daemon)
        assert list(saved) == [ORDERS]  # saved once, by the first poll:
        assert datetime.fromisoformat(saved[ORDERS]) == start
        (said,) = [r for r in caplog.records if r.getMessage().startswith("targets resolved")]
        assert said.getMessage().startswith(
            "targets resolved: 1 targets, 0 proxies, 0 not described"
        )
        ages = [
            r.__dict__.get("targets_age_s")
            for r in caplog.records
            if r.getMessage().startswith("job ")
        ]
        assert ages == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]

        account.create_cluster("billing", 5433)  # not seen until the interval has passed
        clock.advance(timedelta(seconds=230))  # 290 s after the resolution
        daemon._run_job(POLL)
        assert calls.discoveries() == 1 and not polled(daemon, BILLING)
        clock.advance(timedelta(seconds=10))  # 300 s: resolved again, by the next job
        daemon._run_job(POLL)
        assert calls.describes() == ONE_DISCOVERY + ONE_DISCOVERY
        assert polled(daemon, BILLING)
        again = start + timedelta(seconds=300)
        assert {t: datetime.fromisoformat(s) for t, s in last_seen(daemon).items()} == {
            ORDERS: again, BILLING: again,
        }  # fmt: skip
        said = [
            r.getMessage() for r in caplog.records if r.getMessage().startswith("targets resolved")
        ][-1]
        assert said.startswith("targets resolved: 2 targets") and "the last were 300 s old" in said
    finally:
        assert daemon._finish() == []


def test_daemon_targets_jobs_needing_them_at_once_cause_one_discovery(
    account: Account,
    moto_server: MotoServer,
    tmp_path: Path,
    clock: FrozenClock,
    calls: AwsCalls,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two jobs in their own threads, as the scheduler's pool runs them. The first holds
    its DescribeDBClusters call until the test lets it go: with no targets yet, the other
    waits for that resolution; once the targets are old, the other goes on with the old ones
    while the first resolves them again."""
    caplog.set_level(logging.INFO)
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        release.wait(20)

    calls.before["DescribeDBClusters"] = hold
    daemon = make_daemon(tmp_path / "p.toml", raw_config(tmp_path, moto_server), clock, calls)

    def both(second_done_first: bool) -> None:
        entered.clear()
        release.clear()
        first = threading.Thread(target=daemon._run_job, args=[POLL])
        second = threading.Thread(target=daemon._run_job, args=[LOGS])
        first.start()
        assert entered.wait(20), "the first job never resolved the targets"
        second.start()
        if second_done_first:
            second.join(20)
            assert not second.is_alive(), "the second job waited for the new resolution"
        else:
            second.join(0.5)  # the second job now waits: it has no targets yet
            assert second.is_alive()
        release.set()
        first.join(20)
        second.join(20)
        assert not first.is_alive() and not second.is_alive()

    try:
        both(second_done_first=False)
        assert calls.describes() == ONE_DISCOVERY
        assert runs(daemon, POLL) == 1 and runs(daemon, LOGS) == 1
        assert polled(daemon, ORDERS)  # both jobs worked on the one resolution's target
        read = daemon.metrics.registry.get_sample_value
        assert read("pgwarden_log_source_up", {"target": ORDERS, "source": "cloudwatch"}) == 0

        clock.advance(timedelta(seconds=300))
        both(second_done_first=True)
        assert calls.describes() == ONE_DISCOVERY + ONE_DISCOVERY
        ages = {
            r.__dict__["job"]: r.__dict__.get("targets_age_s")
            for r in caplog.records
            if r.getMessage().startswith("job ")
        }
        # The second job used the old targets (300 s), the first the ones it made (0 s).
        assert ages == {POLL: 0.0, LOGS: 300.0}
    finally:
        release.set()
        assert daemon._finish() == []


def test_daemon_targets_reload_starts_afresh_with_the_new_interval(
    account: Account,
    moto_server: MotoServer,
    tmp_path: Path,
    clock: FrozenClock,
    calls: AwsCalls,
) -> None:
    path = tmp_path / "p.toml"
    daemon = make_daemon(path, raw_config(tmp_path, moto_server), clock, calls)
    try:
        daemon._run_job(POLL)
        clock.advance(timedelta(seconds=10))
        daemon._run_job(POLL)
        assert calls.discoveries() == 1
        write_toml(path, raw_config(tmp_path, moto_server, discovery_interval_s=30))
        assert daemon.reload() is True
        daemon._run_job(POLL)  # a new config: resolved afresh, within the old interval
        assert calls.discoveries() == 2
        clock.advance(timedelta(seconds=29))
        daemon._run_job(POLL)
        assert calls.discoveries() == 2
        clock.advance(timedelta(seconds=1))  # the new interval, 30 s
        daemon._run_job(POLL)
        assert calls.describes() == ONE_DISCOVERY + ONE_DISCOVERY + ONE_DISCOVERY
        assert runs(daemon, POLL) == 5
    finally:
        assert daemon._finish() == []


def test_daemon_targets_once_still_resolves_once_per_cycle(
    account: Account, moto_server: MotoServer, tmp_path: Path, clock: FrozenClock, calls: AwsCalls
) -> None:
    path = tmp_path / "p.toml"
    write_toml(path, raw_config(tmp_path, moto_server))
    config = load_config(path)
    for cycle in (1, 2):  # a cycle every few seconds, as cron might: each resolves afresh
        reports = run_once(config, ["activity", "pglogs"], clock=clock, aws=calls.sessions(config))
        assert [r.stage for r in reports] == ["activity", "pglogs"]
        assert calls.discoveries() == cycle
        clock.advance(timedelta(seconds=5))
    assert calls.describes() == ONE_DISCOVERY + ONE_DISCOVERY
