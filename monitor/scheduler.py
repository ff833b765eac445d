"""`pgwarden run`: every stage as its own APScheduler job, until SIGTERM.

Each job runs its stage through the job boundary (`stages.run_stage`): a failure is
logged with its traceback and counted, and the next run resumes from the stage's cursor.
Jobs coalesce missed runs, never overlap themselves (`max_instances=1`), start up to
`jitter_s` late, and are dropped if more than `misfire_grace_s` late.

Jobs run side by side, each on its own connection to the store. The daemon holds the
store's writer lock (a second daemon refuses to start), and its jobs' write transactions
take turns through one in-process gate, as SQLite allows one writer anyway. On SIGTERM or
SIGINT no job starts any more; running jobs get `STOP_DEADLINE_S` to finish. A job still
running after that is abandoned between transactions (the gate is held, so none is cut
short) and redone from its cursor at the next start.

Signals are taken by a thread that waits for them (`signal.sigwait`), not by a handler:
stopping and reloading run as ordinary code. SIGHUP re-reads the config file and resolves
every secret reference in it; a file that does not validate, names a secret that cannot
be read, or changes what needs a restart, is rejected with a one-line reason and the
running config stays. The signals are blocked from the executable's first statement
(monitor/launch.py), so a SIGTERM at any moment, even during start-up, is a clean exit 0.

A write the store's volume refuses (full, read-only) fails its job with one line; the
daemon says once that the store cannot write (log, /readyz, `pgwarden_store_writable`)
and once that it writes again, and the jobs resume by themselves.

The jobs share one resolution of the targets (`SharedTargets`), made again once it is
`[scheduler] discovery_interval_s` old by the first job that needs targets then; a reload
starts afresh with the new config.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC
from pathlib import Path

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    EVENT_SCHEDULER_STARTED,
    JobEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.aws import AwsSessions
from monitor.clock import Clock, SystemClock
from monitor.config import Config, ReportsConfig, load_config
from monitor.errors import ConfigError, StoreCannotWrite
from monitor.launch import DAEMON_SIGNALS
from monitor.outputs.alerts.parking import readiness
from monitor.outputs.metrics import Health, Metrics, MetricsServer
from monitor.outputs.reports import access_review
from monitor.reload import reload_problems
from monitor.stages import run_stage, stage_specs
from monitor.stages.base import (
    KINDS,
    JobSpec,
    SharedTargets,
    Stage,
    StageContext,
    StageReport,
    StageResult,
)
from monitor.store.sqlite import MIN_START_FREE_BYTES, Conn, Store, free_bytes

log = logging.getLogger(__name__)

STOP_DEADLINE_S = 7.0  # SIGTERM to exit within 10 s, with room for closing
SIGNALS = DAEMON_SIGNALS  # blocked from the executable's first statement (monitor/launch.py)
# A source is "recent" for /readyz while its last success is younger than this many runs.
READY_MISSED_RUNS = 3


# One job per registered stage: its id, interval and readiness come with the stage
# (monitor/stages/); listed by what the stage does (KINDS), then in pipeline order.
JOBS: tuple[JobSpec, ...] = tuple(
    spec.job for spec in sorted(stage_specs(), key=lambda spec: KINDS.index(spec.kind))
)
WEEKLY_REPORT = "weekly-report"
POLL_JOB = "poll-activity"  # also: its report's failures are the targets down


def weekly_trigger(reports: ReportsConfig) -> CronTrigger | None:
    """When the weekly report runs: [reports] weekday and time, in its time zone."""
    if not reports.enabled:
        return None
    hour, minute = (int(part) for part in reports.time.split(":"))
    return CronTrigger(
        day_of_week=reports.weekday, hour=hour, minute=minute, timezone=reports.timezone
    )


class _JobStore(Store):
    """A job's own connection. Its write transactions pass through the daemon's `gate`, and
    each tells `written` whether the volume took it (None) or why not."""

    gate: threading.Lock
    written: Callable[[str | None], None]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Conn]:
        with self.gate:
            try:
                with super().transaction() as conn:
                    yield conn
            except StoreCannotWrite as exc:
                self.written(str(exc))
                raise
        self.written(None)


class Daemon:
    """The scheduler, its jobs' stores and contexts, metrics, and the signal thread."""

    def __init__(
        self,
        config_path: Path,
        config: Config,
        *,
        clock: Clock | None = None,
        jobs: Sequence[JobSpec] = JOBS,
        weekly_report: Stage = access_review.weekly_report,
        aws: Callable[[Config], AwsSessions] | None = None,
    ) -> None:
        self.config_path = config_path
        self.config = config
        self.clock = clock or SystemClock()
        self.jobs = {spec.id: spec for spec in jobs}
        self.weekly_report = weekly_report
        self.health = Health(config.metrics.ready_max_targets_down)
        self.metrics = Metrics(config.store.path, self.clock, config.store.busy_timeout_ms)
        self.scheduler = BlockingScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=len(self.jobs) + 1)},
        )
        self._gate = threading.Lock()
        self._lock = threading.Condition()
        self._running: set[str] = set()
        self._stopping = False
        self._stores: dict[str, _JobStore] = {}
        self._contexts: dict[str, StageContext] = {}
        self._sessions = aws or (lambda c: AwsSessions.from_config(c, clock=self.clock))
        self._aws = self._sessions(config)
        self._targets = self._shared_targets(config)
        self._owner: Store | None = None
        self._server: MetricsServer | None = None
        self.scheduler.add_listener(
            self._count_skipped, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED
        )

    # -- life cycle ----------------------------------------------------------------------------

    def run(self) -> list[str]:
        """Run until SIGTERM/SIGINT; return the jobs abandoned still running (normally none).

        Call from the main thread before any other thread starts: the signals are blocked
        here so that every thread inherits that, and only the signal thread receives them.
        """
        config = self.config
        # Taken first: a second daemon on the same store stops here, before doing anything.
        self._owner = Store.open(config.store.path, busy_timeout_ms=config.store.busy_timeout_ms)
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        # Signals wait (pending) until the scheduler runs, so stop() always finds it running.
        watcher = threading.Thread(target=self._watch_signals, name="signals", daemon=True)
        self.scheduler.add_listener(lambda _event: watcher.start(), EVENT_SCHEDULER_STARTED)
        if config.metrics.enabled:
            self._server = MetricsServer(
                config.metrics.address, config.metrics.port, self.metrics.registry, self.ready
            )
            self._server.start()
            log.info("metrics on http://%s:%s/metrics", config.metrics.address, self._server.port)
        self._schedule(first=True)
        log.info("pgwarden run: %s jobs", len(self.scheduler.get_jobs()))
        self.scheduler.start()  # returns once stop() has shut it down
        return self._finish()

    def stop(self) -> None:
        """No job starts any more; `run` then waits for the running ones."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
        log.info("stopping: waiting up to %s s for running jobs", STOP_DEADLINE_S)
        self.scheduler.shutdown(wait=False)

    def _finish(self) -> list[str]:
        deadline = time.monotonic() + STOP_DEADLINE_S
        with self._lock:
            self._lock.wait_for(lambda: not self._running, deadline - time.monotonic())
            abandoned = sorted(self._running)
        if abandoned:
            # Hold the gate: the transaction in flight commits, and no other begins.
            self._gate.acquire()
            log.warning(
                "stopped with %s still running: redone from its cursor at the next start",
                ", ".join(abandoned),
            )
        else:
            for ctx in self._contexts.values():
                ctx.close()
            for store in self._stores.values():
                store.close()
        if self._server is not None:
            self._server.close()
        if self._owner is not None:
            self._owner.close()
        log.info("pgwarden run: stopped")
        return abandoned

    def _watch_signals(self) -> None:
        while True:
            received = signal.sigwait(SIGNALS)
            if received == signal.SIGHUP:
                self.reload()
            else:
                log.info("received %s", signal.Signals(received).name)
                self.stop()

    # -- config --------------------------------------------------------------------------------

    def reload(self) -> bool:
        """Re-read the config file; apply it if it is valid and needs no restart."""
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            problems = exc.problems
        else:
            aws = self._sessions(config)
            problems = reload_problems(self.config, config, aws)
        if problems:
            log.error("config reload rejected, the running config stays: %s", "; ".join(problems))
            return False
        with self._lock:
            self.config = config
            self._aws = aws
            self._targets = self._shared_targets(config)
        self._schedule(first=False)
        log.info("config reloaded from %s", self.config_path)
        return True

    def _triggers(self) -> dict[str, BaseTrigger | None]:
        config = self.config
        jitter = config.scheduler.jitter_s or None
        triggers: dict[str, BaseTrigger | None] = {}
        for spec in self.jobs.values():
            every = spec.every(config)
            # Jitter spreads the jobs; the poll keeps its beat, so each target is seen every
            # interval_s (its rounds never outlast poll_deadline_s, which is shorter).
            spread = None if spec.id == POLL_JOB else jitter
            triggers[spec.id] = (
                None
                if every is None
                else IntervalTrigger(seconds=every, jitter=spread, timezone=UTC)
            )
        triggers[WEEKLY_REPORT] = weekly_trigger(config.reports)
        return triggers

    def _schedule(self, *, first: bool) -> None:
        config = self.config
        ready: dict[str, float] = {}
        for job_id, trigger in self._triggers().items():
            if trigger is None:
                if self.scheduler.get_job(job_id):
                    self.scheduler.remove_job(job_id)
                continue
            spec = self.jobs.get(job_id)
            if spec is not None and spec.source:
                every = spec.every(config) or 0
                ready[job_id] = READY_MISSED_RUNS * every + config.scheduler.misfire_grace_s
            if not first and self.scheduler.get_job(job_id):
                self.scheduler.reschedule_job(job_id, trigger=trigger)
                self.scheduler.modify_job(
                    job_id, misfire_grace_time=config.scheduler.misfire_grace_s
                )
                continue
            # Interval jobs run once at start, then on their interval; the report on its day.
            first_run = {} if job_id == WEEKLY_REPORT else {"next_run_time": self.clock.now()}
            self.scheduler.add_job(
                self._run_job,
                trigger,
                args=[job_id],
                id=job_id,
                name=job_id,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=config.scheduler.misfire_grace_s,
                replace_existing=True,
                **first_run,
            )
        self.health.expect(ready)

    # -- jobs ----------------------------------------------------------------------------------

    def _run_job(self, job_id: str) -> None:
        with self._lock:
            if self._stopping:
                return
            self._running.add(job_id)
            ctx = self._context(job_id)
            ctx.resolved = None  # each run is a cycle of its own: targets resolved afresh
        started = time.monotonic()
        report: StageResult
        try:
            if job_id == WEEKLY_REPORT:
                report = run_stage(WEEKLY_REPORT, ctx, self.weekly_report)
            else:
                report = run_stage(self.jobs[job_id].stage, ctx)
        except ConfigError as exc:
            # A stage found the config wrong at run time: the job fails, the daemon carries on.
            reason = "; ".join(exc.problems)
            report = StageReport(job_id, ("status", "error"), [("failed", reason)], 1, reason)
        finally:
            with self._lock:
                self._running.discard(job_id)
                self._lock.notify_all()
        now = self.clock.now()
        self.health.record(job_id, report, now)
        if job_id == POLL_JOB and report.error is None:
            self.health.targets(report.failures, len(report.rows))
        self.metrics.observe(job_id, report, now)
        took = time.monotonic() - started
        extra: dict[str, object] = {"job": job_id, "failures": report.failures}
        if ctx.resolved_at is not None and ctx.resolved is not None:  # it worked on targets
            extra["targets_age_s"] = round((now - ctx.resolved_at).total_seconds(), 1)
        if report.error:
            log.warning("job %s failed in %.2f s: %s", job_id, took, report.error, extra=extra)
        else:
            log.info("job %s done in %.2f s", job_id, took, extra=extra)

    def _context(self, job_id: str) -> StageContext:
        """The job's context for the current config, on the job's own store connection."""
        ctx = self._contexts.get(job_id)
        if ctx is not None and ctx.config is not self.config:
            ctx.close()  # the config was reloaded: what the job kept open starts afresh
            del self._contexts[job_id]
        if job_id not in self._contexts:
            store = self._stores.get(job_id)
            if store is None:
                store = _JobStore.open(
                    self.config.store.path,
                    exclusive=False,
                    busy_timeout_ms=self.config.store.busy_timeout_ms,
                )
                store.gate = self._gate
                store.written = self._store_written
                self._stores[job_id] = store
            self._contexts[job_id] = StageContext(
                self.config, store, self.clock, self._aws, shared=self._targets
            )
        return self._contexts[job_id]

    def _shared_targets(self, config: Config) -> SharedTargets:
        # Each resolution, by whichever job made it, sets the gauge.
        gauge = self.metrics.discovery_notes
        every = config.scheduler.discovery_interval_s
        return SharedTargets(self.clock, every, lambda found: gauge.set(len(found.notes)))

    def _store_written(self, problem: str | None) -> None:
        """Say once when the store stops taking writes, and once when it takes them again.

        On a full volume a small write can still fit in space SQLite holds already (the
        WAL is reused, not grown): the store counts as writable again only once the volume
        has room too, so the news does not flap with every job.
        """
        if (
            problem is None
            and not self.health.store_writable
            and free_bytes(self.config.store.path) < MIN_START_FREE_BYTES
        ):
            return
        if not self.health.store_written(problem):
            return
        self.metrics.store_writable.set(0 if problem else 1)
        if problem:
            log.error("%s; jobs fail until it can write again", problem)
        else:
            log.info("the store takes writes again")

    def _count_skipped(self, event: JobEvent) -> None:
        spec = self.jobs.get(event.job_id)
        self.metrics.count_skipped(event, spec.every(self.config) if spec else None)

    def ready(self) -> list[str]:
        """Why /readyz says no: sources without a recent success, the store unable to
        write, too many targets down, parked Slack channels. Empty when ready."""
        store = self.config.store
        parked = readiness(store.path, store.busy_timeout_ms)
        return self.health.problems(self.clock.now()) + parked
