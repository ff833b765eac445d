"""Prometheus metrics, /healthz and /readyz for `pgwarden run` (off unless [metrics] enabled).

Two kinds of metric:

- what a job run observes (runs and their outcome, each target's poll time, the bytes
  Athena scanned), counted in the daemon as jobs finish;
- the state of the store (targets up, sessions by state, auth failures, open findings,
  the outbox, cursor lag), read at scrape time by `StoreCollector` over a read-only
  connection, so a scrape always shows what is committed and costs the jobs nothing.

Label values are bounded: job ids, stage-defined cursor sources, session states, detectors
and severities, and target names. A target is an inventory entry an operator configures
or discovers (one series each, like Prometheus's own `up`); no label ever carries a user,
a client host or anything else an attacker could multiply.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobSubmissionEvent,
)
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from monitor.clock import Clock
from monitor.errors import StoreError
from monitor.stages.base import StageResult
from monitor.store.metrics import sample
from monitor.store.sqlite import Store

log = logging.getLogger(__name__)

POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# What socketserver hands a TCP server per connection (typeshed: _RequestType).
Request = socket.socket | tuple[bytes, socket.socket]


# name, help, labels, and the store query (monitor/store/metrics.py): each row is the label
# values, then the value.
_STORE_METRICS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("pgwarden_target_up", "1 if the target's last poll succeeded, else 0.", ("target",),
     "metrics_target_up"),
    ("pgwarden_sessions", "Sessions open at the last poll, by state.", ("state",),
     "metrics_sessions_by_state"),
    ("pgwarden_auth_failures", "Failed logins read from the PostgreSQL logs.", (),
     "metrics_auth_failures"),
    ("pgwarden_findings_open", "Open findings, by detector and severity.",
     ("detector", "severity"), "metrics_findings_open"),
    ("pgwarden_outbox_pending", "Alerts waiting in the outbox for Slack to accept them.", (),
     "metrics_outbox_pending"),
    ("pgwarden_alert_channel_parked",
     "1 for each Slack channel parked after a permanent error; its alerts wait.", ("channel",),
     "metrics_alert_channel_parked"),
    ("pgwarden_cursor_lag_seconds",
     "Seconds since the source last moved its cursor (committed new data).", ("source",),
     "metrics_cursor_lag"),
    ("pgwarden_proxy_log_unrecognised_ratio",
     "Share of an RDS Proxy's last window of log lines pgwarden did not recognise.", ("proxy",),
     "metrics_proxy_log_unrecognised"),
)  # fmt: skip
_COUNTERS = frozenset({"pgwarden_auth_failures"})


class StoreCollector(Collector):
    """Gauges and counters computed from the store at each scrape."""

    def __init__(self, path: Path, clock: Clock, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.clock = clock
        self.busy_timeout_ms = busy_timeout_ms

    def describe(self) -> list[Metric]:
        return [self._family(name, text, labels) for name, text, labels, _ in _STORE_METRICS]

    def collect(self) -> Iterator[Metric]:
        try:
            store = Store.open(self.path, writer=False, busy_timeout_ms=self.busy_timeout_ms)
        except StoreError as exc:
            # Before the first run there is no store: the scrape shows job metrics only.
            log.warning("metrics: %s", exc)
            return
        now = self.clock.now()
        with store:
            for name, text, labels, query in _STORE_METRICS:
                family = self._family(name, text, labels)
                for values, value in sample(store, query, now):
                    family.add_metric(values, value)
                yield family

    @staticmethod
    def _family(
        name: str, text: str, labels: tuple[str, ...]
    ) -> GaugeMetricFamily | CounterMetricFamily:
        kind = CounterMetricFamily if name in _COUNTERS else GaugeMetricFamily
        return kind(name, text, labels=list(labels))


@dataclass
class JobState:
    last_ok: datetime | None = None
    last_error: str | None = None


class Health:
    """What /readyz wants: every source job recent, the store writable, enough targets up."""

    def __init__(self, max_targets_down: float = 0.5) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobState] = {}
        self._expect: dict[str, float] = {}
        self.max_targets_down = max_targets_down
        self._targets = (0, 0)  # down, of how many, at the last poll
        self._store_problem: str | None = None

    def expect(self, jobs: dict[str, float]) -> None:
        """The source jobs now scheduled, each with how old its last success may be (s)."""
        with self._lock:
            self._expect = dict(jobs)

    def record(self, job: str, report: StageResult, now: datetime) -> None:
        with self._lock:
            state = self._jobs.setdefault(job, JobState())
            if report.error is None:
                state.last_ok = now
            state.last_error = report.error

    def targets(self, down: int, total: int) -> None:
        """How many targets the last activity poll found down, of how many."""
        with self._lock:
            self._targets = (down, total)

    def store_written(self, problem: str | None) -> bool:
        """A write committed (None) or the volume refused it; True if that is news."""
        with self._lock:
            changed = (problem is None) != (self._store_problem is None)
            self._store_problem = problem
            return changed

    @property
    def store_writable(self) -> bool:
        with self._lock:
            return self._store_problem is None

    def problems(self, now: datetime) -> list[str]:
        """Why the daemon is not ready; empty when it is."""
        with self._lock:
            out = [self._store_problem] if self._store_problem else []  # "...: store cannot write"
            down, total = self._targets
            if total and down / total > self.max_targets_down:
                out.append(
                    f"targets down: {down} of {total}, more than "
                    f"ready_max_targets_down = {self.max_targets_down:g}"
                )
            for job, max_age in sorted(self._expect.items()):
                state = self._jobs.get(job, JobState())
                error = f" (last error: {state.last_error})" if state.last_error else ""
                if state.last_ok is None:
                    out.append(f"{job}: no successful run yet{error}")
                elif (age := (now - state.last_ok).total_seconds()) > max_age:
                    out.append(f"{job}: last success {age:.0f} s ago{error}")
            return out


class Metrics:
    """The daemon's registry: job metrics it counts, and the store's state read at scrape."""

    def __init__(self, store_path: Path, clock: Clock, busy_timeout_ms: int = 5000) -> None:
        self.registry = CollectorRegistry()
        self.job_runs = Counter(
            "pgwarden_job_runs",
            "Job runs by outcome: ok, partial (some targets or accounts failed), failed.",
            ["job", "outcome"],
            registry=self.registry,
        )
        self.job_last_success = Gauge(
            "pgwarden_job_last_success_timestamp_seconds",
            "When each job last ran without failing (Unix time).",
            ["job"],
            registry=self.registry,
        )
        self.poll_duration = Histogram(
            "pgwarden_poll_duration_seconds",
            "Time to poll one target's pg_stat_activity, connecting included.",
            buckets=POLL_BUCKETS,
            registry=self.registry,
        )
        self.job_skipped = Counter(
            "pgwarden_job_runs_skipped",
            "Job runs that did not happen: running (the previous run was still going), "
            "missed (later than misfire_grace_s), coalesced (folded into one late run).",
            ["job", "reason"],
            registry=self.registry,
        )
        self.store_writable = Gauge(
            "pgwarden_store_writable",
            "0 while the store's volume refuses writes (full, read-only), else 1.",
            registry=self.registry,
        )
        self.store_writable.set(1)
        self._last_fire: dict[str, datetime] = {}  # each job's last scheduled run
        self.athena_scanned = Counter(
            "pgwarden_athena_scanned_bytes",
            "Bytes scanned by pgwarden's Athena queries (Athena bills per TB scanned).",
            registry=self.registry,
        )
        self.log_source_up = Gauge(
            "pgwarden_log_source_up",
            "1 if the last read of a target's log source found its logs (a log group with "
            "streams, readable files), else 0: silence from a 0 is not a quiet database.",
            ["target", "source"],
            registry=self.registry,
        )
        self.discovery_notes = Gauge(
            "pgwarden_discovery_not_described",
            "What the last target resolution could not describe (an account, a region's "
            "proxies, a proxy's endpoints or targets): 0 when everything was.",
            registry=self.registry,
        )
        self.registry.register(StoreCollector(store_path, clock, busy_timeout_ms))

    def count_skipped(self, event: JobEvent, every: float | None) -> None:
        """Runs that never happened: a run still going, too late, or folded into one.
        `every`: the job's interval in seconds (None for the weekly report)."""
        job_id = event.job_id
        if event.code == EVENT_JOB_MISSED:
            self.job_skipped.labels(job_id, "missed").inc()
            return
        if event.code == EVENT_JOB_MAX_INSTANCES:
            self.job_skipped.labels(job_id, "running").inc()
        assert isinstance(event, JobSubmissionEvent)
        # With coalesce, APScheduler hands over only the last of the due run times: those
        # before it show as a gap of more than one interval since the previous fire.
        fire: datetime = event.scheduled_run_times[-1]
        previous, self._last_fire[job_id] = self._last_fire.get(job_id), fire
        if previous is not None and every:
            folded = round((fire - previous).total_seconds() / every) - 1
            if folded > 0:
                self.job_skipped.labels(job_id, "coalesced").inc(folded)

    def observe(self, job: str, report: StageResult, now: datetime) -> None:
        outcome = "failed" if report.error else "partial" if report.failures else "ok"
        self.job_runs.labels(job, outcome).inc()
        if report.error is None:
            self.job_last_success.labels(job).set(now.timestamp())
        for seconds in report.poll_seconds:
            self.poll_duration.observe(seconds)
        if report.bytes_scanned:
            self.athena_scanned.inc(report.bytes_scanned)
        if report.stage == "pglogs" and report.error is None:
            self.log_source_up.clear()  # a target no longer watched leaves no stale series
            for target, source, up in report.log_sources:
                self.log_source_up.labels(target, source).set(int(up))


class _BoundedServer(HTTPServer):
    """An HTTP server with a fixed pool of threads and a bounded queue of connections.

    ThreadingHTTPServer starts a thread per connection, with no timeout: 300 idle sockets
    made 310 threads. Here `workers` threads serve, at most `queued` connections wait for
    one, and a connection beyond that is closed at once. Each connection must send its
    request within the handler's timeout. A client that drops or stalls is logged at
    DEBUG, never as a traceback.
    """

    # The kernel's accept backlog: a burst of connections is taken and sorted out here,
    # rather than left to SYN retries (the default of 5 makes clients wait seconds).
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        workers: int,
        queued: int,
    ) -> None:
        super().__init__(address, handler)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="metrics-http")
        self._room = threading.BoundedSemaphore(workers + queued)

    def process_request(self, request: Request, client_address: object) -> None:
        if not self._room.acquire(blocking=False):
            log.debug("metrics http: too many connections; closing one from %s", client_address)
            self.shutdown_request(request)
            return
        self._pool.submit(self._serve, request, client_address)

    def _serve(self, request: Request, client_address: object) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - the job boundary of one connection
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._room.release()

    def handle_error(self, request: Request, client_address: object) -> None:
        # socketserver would print the traceback to stderr, i.e. into the daemon's log.
        log.debug("metrics http: client %s: %s", client_address, sys.exc_info()[1])

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class MetricsServer:
    """/metrics, /healthz (the process answers) and /readyz (every source recent) on one port.

    There is no TLS and no authentication: an address other than loopback is warned about.
    """

    WORKERS = 4
    QUEUED = 32
    TIMEOUT_S = 5.0

    def __init__(
        self,
        address: str,
        port: int,
        registry: CollectorRegistry,
        readiness: Callable[[], list[str]],
        *,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.registry = registry
        self.readiness = readiness
        self.timeout_s = timeout_s
        if not ipaddress.ip_address(address).is_loopback:
            log.warning(
                "metrics on %s: not a loopback address, and the endpoint has no TLS or"
                " authentication; keep it behind a firewall or use 127.0.0.1",
                address,
            )
        self._server = _BoundedServer((address, port), self._handler(), self.WORKERS, self.QUEUED)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for a serve_forever that never began
            self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            # A connection that sends nothing is closed after this, freeing its thread.
            timeout = server.timeout_s

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                    self._answer(200, encoder(server.registry), content_type)
                elif path == "/healthz":
                    self._answer(200, b"ok\n")
                elif path == "/readyz":
                    problems = server.readiness()
                    body = "\n".join(problems or ["ready"]) + "\n"
                    self._answer(503 if problems else 200, body.encode())
                else:
                    self._answer(404, b"not found: try /metrics, /healthz or /readyz\n")

            def _answer(
                self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("metrics http: " + format, *args)

        return Handler
