"""The daemon's jobs, triggers, reload and job boundary, without starting the scheduler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.clock import FrozenClock
from monitor.config import ReportsConfig, load_config
from monitor.scheduler import JOBS, WEEKLY_REPORT, Daemon, weekly_trigger
from monitor.stages import known_stages
from monitor.stages.base import StageContext, StageReport

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # a Monday

CONFIG = """
[store]
path = "p.db"
[pglogs]
sources = ["files"]
[cloudtrail]
enabled = {trail}
local_dir = "trail"
interval_s = 120
[scheduler]
detect_interval_s = {detect}
misfire_grace_s = 17
jitter_s = 0
"""


def write_config(path: Path, *, trail: str = "true", detect: float = 60) -> Path:
    path.write_text(CONFIG.format(trail=trail, detect=detect))
    return path


@pytest.fixture
def daemon(tmp_path: Path) -> Daemon:
    path = write_config(tmp_path / "p.toml")
    return Daemon(path, load_config(path), clock=FrozenClock(NOW))


def test_scheduler_one_job_per_stage_with_the_stable_ids() -> None:
    assert [(j.id, j.stage) for j in JOBS] == [
        ("poll-activity", "activity"),
        ("ingest-logs", "pglogs"),
        ("ingest-cloudtrail", "cloudtrail"),
        ("refresh-grants", "grants"),
        ("prune-store", "retention"),
        ("detect", "detect"),
        ("deliver-alerts", "alerts"),
    ]
    assert {j.stage for j in JOBS} == set(known_stages()), "a stage without a job"


def test_scheduler_jobs_take_their_interval_and_policy_from_config(daemon: Daemon) -> None:
    daemon._schedule(first=True)
    jobs = {job.id: job for job in daemon.scheduler.get_jobs()}
    assert set(jobs) == {j.id for j in JOBS} | {WEEKLY_REPORT}
    weekly = jobs.pop(WEEKLY_REPORT).trigger  # [reports] defaults: Monday 07:00 UTC
    assert weekly.get_next_fire_time(None, NOW) == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    seconds = {i: job.trigger.interval.total_seconds() for i, job in jobs.items()}
    assert seconds == {
        "poll-activity": 10,
        "ingest-logs": 60,
        "ingest-cloudtrail": 120,
        "refresh-grants": 3600,
        "prune-store": 86400,
        "detect": 60,
        "deliver-alerts": 15,
    }
    for job in jobs.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 17)
        assert job.next_run_time == NOW  # the first run at once
        assert str(job.trigger.timezone) == "UTC"
    # Jitter spreads the jobs, but the poll keeps its beat: each target every interval_s.
    spread = daemon.config.scheduler.model_copy(update={"jitter_s": 1.0})
    daemon.config = daemon.config.model_copy(update={"scheduler": spread})
    jitters = {i: t.jitter for i, t in daemon._triggers().items() if i != WEEKLY_REPORT}
    assert jitters.pop("poll-activity") is None
    assert set(jitters.values()) == {1.0}


def test_scheduler_reload_rejects_a_bad_file_and_keeps_the_running_config(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    daemon._schedule(first=True)
    daemon.config_path.write_text("[scheduler]\ndetect_interval_s = -1\n[nope]\n")
    assert daemon.reload() is False
    assert daemon.config.scheduler.detect_interval_s == 60
    assert daemon.scheduler.get_job("detect").trigger.interval == timedelta(seconds=60)
    (line,) = [r.getMessage() for r in caplog.records if "reload rejected" in r.getMessage()]
    assert "scheduler.detect_interval_s: " in line and "nope: unknown key" in line
    assert "\n" not in line


def test_scheduler_reload_rejects_what_needs_a_restart(daemon: Daemon) -> None:
    daemon.config_path.write_text(daemon.config_path.read_text().replace("p.db", "q.db"))
    assert daemon.reload() is False
    assert daemon.config.store.path.name == "p.db"


def test_scheduler_reload_resolves_every_secret_before_accepting(
    daemon: Daemon, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon._schedule(first=True)
    monkeypatch.delenv("PGWARDEN_TEST_NO_SUCH_TOKEN", raising=False)
    slack = '[alerts.slack]\nenabled = true\ntoken = "env:PGWARDEN_TEST_NO_SUCH_TOKEN"\n'
    daemon.config_path.write_text(daemon.config_path.read_text() + slack)
    assert daemon.reload() is False
    assert daemon.config.alerts.slack.enabled is False  # the running config stays
    (line,) = [r.getMessage() for r in caplog.records if "reload rejected" in r.getMessage()]
    assert "alerts.slack.token: env:PGWARDEN_TEST_NO_SUCH_TOKEN: environment variable" in line
    monkeypatch.setenv("PGWARDEN_TEST_NO_SUCH_TOKEN", "xoxb-now-set")
    assert daemon.reload() is True
    assert daemon.config.alerts.slack.enabled is True


def test_scheduler_counts_skipped_missed_and_coalesced_runs(daemon: Daemon) -> None:
    from apscheduler.events import (
        EVENT_JOB_MAX_INSTANCES,
        EVENT_JOB_MISSED,
        EVENT_JOB_SUBMITTED,
        JobExecutionEvent,
        JobSubmissionEvent,
    )

    every = timedelta(seconds=60)  # detect_interval_s
    for fire in (NOW, NOW + every, NOW + 5 * every):  # 3 runs due in the gap: folded into one
        daemon._count_skipped(JobSubmissionEvent(EVENT_JOB_SUBMITTED, "detect", "default", [fire]))
    running = JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, "detect", "default", [NOW + 6 * every])
    daemon._count_skipped(running)
    daemon._count_skipped(JobExecutionEvent(EVENT_JOB_MISSED, "detect", "default", NOW))
    skipped = daemon.metrics.registry.get_sample_value
    by = {"job": "detect"}
    assert skipped("pgwarden_job_runs_skipped_total", {**by, "reason": "coalesced"}) == 3
    assert skipped("pgwarden_job_runs_skipped_total", {**by, "reason": "running"}) == 1
    assert skipped("pgwarden_job_runs_skipped_total", {**by, "reason": "missed"}) == 1


def test_scheduler_says_once_that_the_store_cannot_write(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="monitor.scheduler")
    problem = "p.db: store cannot write: database or disk is full; free space on ..."
    for _ in range(3):
        daemon._store_written(problem)
    assert daemon.metrics.registry.get_sample_value("pgwarden_store_writable") == 0
    assert daemon.ready()[0] == problem
    for _ in range(3):
        daemon._store_written(None)
    assert daemon.metrics.registry.get_sample_value("pgwarden_store_writable") == 1
    said = [r.getMessage() for r in caplog.records]
    assert sum("store cannot write" in m for m in said) == 1
    assert sum("takes writes again" in m for m in said) == 1


def test_scheduler_reload_applies_a_good_file(daemon: Daemon) -> None:
    daemon._schedule(first=True)
    write_config(daemon.config_path, trail="false", detect=5)
    assert daemon.reload() is True
    assert daemon.scheduler.get_job("detect").trigger.interval == timedelta(seconds=5)
    assert daemon.scheduler.get_job("ingest-cloudtrail") is None
    daemon.config_path.write_text(daemon.config_path.read_text() + "[reports]\nenabled = false\n")
    assert daemon.reload() is True
    assert daemon.scheduler.get_job(WEEKLY_REPORT) is None


def test_scheduler_failed_job_is_counted_and_keeps_the_daemon_unready(daemon: Daemon) -> None:
    daemon._schedule(first=True)
    daemon._run_job("ingest-cloudtrail")  # local_dir "trail" does not exist
    daemon._run_job("ingest-logs")
    runs = daemon.metrics.registry.get_sample_value
    assert runs("pgwarden_job_runs_total", {"job": "ingest-cloudtrail", "outcome": "failed"}) == 1
    assert runs("pgwarden_job_runs_total", {"job": "ingest-logs", "outcome": "ok"}) == 1
    problems = daemon.ready()
    assert any(
        p.startswith("ingest-cloudtrail: no successful run yet (last error: ") for p in problems
    )
    assert not any(p.startswith("ingest-logs") for p in problems)
    assert daemon._finish() == []


def test_scheduler_weekly_trigger_follows_reports_time_zone() -> None:
    trigger = weekly_trigger(ReportsConfig(weekday="mon", time="07:00", timezone="Europe/Berlin"))
    assert trigger is not None
    fire = trigger.get_next_fire_time(None, NOW)
    assert fire.astimezone(UTC) == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 07:00 CET
    summer = trigger.get_next_fire_time(None, datetime(2026, 7, 1, tzinfo=UTC))
    assert summer.astimezone(UTC) == datetime(2026, 7, 6, 5, 0, tzinfo=UTC)  # 07:00 CEST
    assert weekly_trigger(ReportsConfig(enabled=False)) is None


def test_scheduler_weekly_report_job_writes_the_access_review(daemon: Daemon) -> None:
    daemon._run_job(WEEKLY_REPORT)
    sample = daemon.metrics.registry.get_sample_value
    assert sample("pgwarden_job_runs_total", {"job": WEEKLY_REPORT, "outcome": "ok"}) == 1
    written = sorted(p.name for p in daemon.config.reports.dir.iterdir())
    assert "access-review-2026-W47-users.csv" in written, written  # the last complete week
    daemon._finish()


def test_scheduler_weekly_report_job_runs_through_the_job_boundary(tmp_path: Path) -> None:
    path = write_config(tmp_path / "p.toml")
    seen: list[StageContext] = []

    def report(ctx: StageContext) -> StageReport:
        seen.append(ctx)
        raise RuntimeError("disk full")

    daemon = Daemon(path, load_config(path), clock=FrozenClock(NOW), weekly_report=report)
    daemon._schedule(first=True)
    job = daemon.scheduler.get_job(WEEKLY_REPORT)
    assert (job.coalesce, job.max_instances) == (True, 1)
    assert str(job.trigger) == "cron[day_of_week='mon', hour='7', minute='0']"
    daemon._run_job(WEEKLY_REPORT)
    assert len(seen) == 1
    sample = daemon.metrics.registry.get_sample_value
    assert sample("pgwarden_job_runs_total", {"job": WEEKLY_REPORT, "outcome": "failed"}) == 1
    daemon._finish()


def test_scheduler_and_metrics_options_documented_in_the_example() -> None:
    import tomllib

    from monitor.config import MetricsConfig, SchedulerConfig

    example = tomllib.loads((Path(__file__).parents[2] / "config.example.toml").read_text())
    assert set(example["scheduler"]) == set(SchedulerConfig.model_fields)
    assert set(example["metrics"]) == set(MetricsConfig.model_fields)
    assert SchedulerConfig.model_validate(example["scheduler"]) == SchedulerConfig()


def test_scheduler_stop_lets_the_transaction_in_flight_commit_then_abandons_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from monitor import scheduler
    from monitor.store.sqlite import Store

    monkeypatch.setattr(scheduler, "STOP_DEADLINE_S", 0.1)
    in_transaction, release = threading.Event(), threading.Event()

    def slow(ctx: StageContext) -> StageReport:
        with ctx.store.transaction() as conn:
            conn.execute("INSERT INTO cursors VALUES ('slow', 'k', '1', 'now')")
            in_transaction.set()
            time.sleep(0.5)  # still inside when the stop deadline passes
        release.wait(10)  # then the job overruns: it is abandoned
        with ctx.store.transaction() as conn:  # never reached before the process exits
            conn.execute("INSERT INTO cursors VALUES ('slow', 'k2', '1', 'now')")
        return StageReport("slow", (), [])

    path = write_config(tmp_path / "p.toml")
    daemon = Daemon(path, load_config(path), clock=FrozenClock(NOW), weekly_report=slow)
    worker = threading.Thread(target=daemon._run_job, args=[WEEKLY_REPORT])
    worker.start()
    assert in_transaction.wait(10)
    started = time.monotonic()
    assert daemon._finish() == [WEEKLY_REPORT]
    assert time.monotonic() - started >= 0.3  # it waited for the commit
    with Store.open(daemon.config.store.path, writer=False) as store:
        keys = store.conn.execute("SELECT key FROM cursors WHERE source = 'slow'").fetchall()
    assert keys == [("k",)]
    release.set()
    time.sleep(0.2)
    with Store.open(daemon.config.store.path, writer=False) as store:
        after = store.conn.execute("SELECT key FROM cursors WHERE source = 'slow'").fetchall()
    assert after == [("k",)], "a transaction began after the stop"
    daemon._gate.release()  # let the worker end, as the exiting process would
    worker.join(10)


def test_scheduler_readyz_names_a_parked_slack_channel(daemon: Daemon) -> None:
    from monitor.store.sqlite import Store, to_text

    daemon.health.expect({})
    assert daemon.ready() == []
    with Store.open(daemon.config.store.path) as store, store.transaction() as conn:
        conn.execute(
            "INSERT INTO parked_channels (channel, error, parked_at) VALUES (?, ?, ?)",
            ("#sec", "is_archived", to_text(NOW)),
        )
    (reason,) = daemon.ready()
    assert reason.startswith("slack channel #sec parked since") and "is_archived" in reason
    assert reason.endswith("pgwarden alerts retry-parked --channel '#sec'")


def test_scheduler_counts_what_discovery_could_not_describe(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gauge follows each resolution: a proxy whose endpoints could not be described
    shows as 1, and the next clean resolution, once [scheduler] discovery_interval_s has
    passed, puts it back to 0. Discovery itself is stood in for here (no AWS in this unit
    test); test_proxy_scenario makes the note for real, and test_daemon_targets counts the
    describe calls of real resolutions."""
    from monitor.sources import targets
    from monitor.sources.proxies import Note

    notes = [Note("orders-proxy: endpoints not described: HTTP 500", "111111111111")]
    monkeypatch.setattr(
        targets, "collect_targets", lambda *a, **k: targets.Resolved([], [], list(notes))
    )
    daemon._schedule(first=True)
    gauge = daemon.metrics.registry.get_sample_value
    daemon._run_job("ingest-logs")
    assert gauge("pgwarden_discovery_not_described") == 1
    daemon._run_job("detect")  # resolves no targets: the gauge keeps the last resolution's
    assert gauge("pgwarden_discovery_not_described") == 1
    notes.clear()
    daemon._run_job("ingest-logs")  # within the interval: the shared resolution's notes
    assert gauge("pgwarden_discovery_not_described") == 1
    assert isinstance(daemon.clock, FrozenClock)
    daemon.clock.advance(timedelta(seconds=daemon.config.scheduler.discovery_interval_s))
    daemon._run_job("ingest-logs")
    assert gauge("pgwarden_discovery_not_described") == 0
    assert daemon._finish() == []
