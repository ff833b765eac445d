"""PostgreSQL logs into `auth_events`: CloudWatch Logs, the RDS API, Athena, local files.

Edge code: it holds clients and reads the clock; the parsing is `monitor.parsing.pglog`.
Each read stores its events and moves its cursor in one transaction, so a crash never
skips a line and never stores one twice (rows are also unique by `AuthEvent.dedup_key`).

Every read is for one resolved target (monitor/sources/targets.py), configured or discovered, and
its events carry that target's name. Silence is never taken for quiet: a target whose log
group is missing or has no streams, whose files are gone, or that no source reads at all,
comes back as a `ReadResult` with a `problem`; the stage reports it and `once` exits 1.

Contract (STYLE.md rule 4). TOML:

    [pglogs]
    sources = ["cloudwatch", "rds-api", "files"]
    log_line_prefix = "%t:%r:%u@%d:[%p]:"

    [[pglogs.files]]
    target = "orders"
    paths = ["/var/log/postgresql"]

IAM actions, per source (`SOURCE_IAM_ACTIONS`, monitor role): CloudWatch Logs reads on the
targets' log groups (cloudwatch); the RDS log file API (rds-api). The athena source runs
with pgwarden's own role (`pipeline.ATHENA_ACTIONS`); files need none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from monitor.clock import Clock
from monitor.config import PgLogsConfig
from monitor.errors import AwsError
from monitor.parsing.pglog import LogParser, parse_messages
from monitor.parsing.pglog_stats import ParseStats
from monitor.sources.targets import Target
from monitor.store.events import save_auth_events
from monitor.store.sqlite import Store

log = logging.getLogger(__name__)

# What the monitor role needs for each source; policies.py grants only enabled sources'.
SOURCE_IAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "cloudwatch": ("logs:FilterLogEvents", "logs:DescribeLogStreams"),
    "rds-api": (
        "rds:DescribeDBClusters",
        "rds:DescribeDBLogFiles",
        "rds:DownloadDBLogFilePortion",
    ),
    "athena": (),
    "files": (),
}

# CloudWatch Logs filter pattern: only connection and auth lines leave AWS. `?` ORs terms;
# "Connection matched" keeps the DETAIL that follows an authentication failure.
FILTER_PATTERN = " ".join(
    f'?"{term}"'
    for term in (
        "connection received",
        "connection authenticated",
        "connection authorized",
        "disconnection",
        "pam_authenticate",
        "authentication failed",
        "pg_hba.conf",
        "Connection matched",
        "does not exist",
        "not permitted to log in",
        "too many",
        "reserved for",
        "Failed to authenticate",
    )
)
# CloudWatch Logs may deliver an event minutes after its timestamp. Each read starts this
# far before the cursor and skips the event ids it has already seen in that window.
INGESTION_DELAY = timedelta(minutes=5)
MAX_PAGES = 1000  # per log group and read: a bound, not an expected number


class PgLogClients(Protocol):
    """Where boto3 clients come from (monitor/aws.py in production, moto in tests)."""

    def client(self, service: str, target: Target) -> Any: ...


# The athena source's query, given its parameters -> rows: Athena through pyathena, or
# DuckDB over a local copy (pglogs_athena.open_log_query).
LogQuery = Callable[[Sequence[Any]], list[tuple[Any, ...]]]


@dataclass
class ReadResult:
    """What one read of one log source for one target found."""

    source: str
    target: str | None = None
    records: int = 0  # log records fetched (CloudWatch events, lines of files, ...)
    events: int = 0  # auth events parsed
    stored: int = 0  # new rows in auth_events
    stats: ParseStats = field(default_factory=ParseStats)
    # Why nothing could be read where something should have been (a missing log group...).
    problem: str | None = None

    @property
    def kind(self) -> str:
        """The source's name (cloudwatch, rds-api, athena, files), for metrics."""
        return self.source.split(":", 1)[0]


@dataclass
class RecordWindow:
    """A record cursor: the newest timestamp read, and the ids read shortly before it."""

    newest: int = 0
    seen: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, store: Store, source: str, key: str) -> RecordWindow:
        value = store.get_cursor(source, key) or {}
        return cls(
            int(value.get("ts", 0)), {str(k): int(v) for k, v in value.get("seen", {}).items()}
        )

    def start_ms(self, now: datetime, lookback_hours: int) -> int:
        if self.newest:
            return self.newest - int(INGESTION_DELAY.total_seconds() * 1000)
        return int(now.timestamp() * 1000) - lookback_hours * 3600 * 1000

    def take(self, records: Iterable[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
        """The records not read before, in time order; remembers them."""
        fresh = []
        for event_id, ts, message in records:
            if event_id not in self.seen:
                self.seen[event_id] = ts
                fresh.append((event_id, ts, message))
        # Stable sort: records with one timestamp keep the order the service gave them,
        # which keeps a LOG line before its FATAL.
        fresh.sort(key=lambda r: r[1])
        if self.seen:
            self.newest = max(self.newest, *self.seen.values())
        return fresh

    def value(self) -> dict[str, Any]:
        horizon = self.newest - int(INGESTION_DELAY.total_seconds() * 1000)
        return {"ts": self.newest, "seen": {i: t for i, t in self.seen.items() if t >= horizon}}


def store_records(
    store: Store,
    target: Target,
    group: str,
    source: str,
    cursor: tuple[str, str, RecordWindow],
    records: Sequence[tuple[str, int, str]],
    opts: PgLogsConfig,
    now: datetime,
) -> ReadResult:
    """Parse log records of one group and store them with the moved cursor."""
    fmt = "iam-db-auth-error" if group.endswith("/iam-db-auth-error") else "stderr"
    parser = LogParser(fmt, opts.log_line_prefix, source=source)
    events = parse_messages(((ts, message) for _, ts, message in records), parser)
    cursor_source, key, window = cursor
    stored = save_auth_events(
        store,
        target.name,
        source,
        events,
        parser.stats,
        [(cursor_source, key, window.value())],
        now,
        parser.take_suspicious(),
    )
    return ReadResult(source, target.name, len(records), len(events), stored, parser.stats)


def read_cloudwatch(
    store: Store,
    logs: Any,
    target: Target,
    opts: PgLogsConfig,
    now: datetime,
    page_size: int | None = None,
) -> list[ReadResult]:
    """`filter_log_events` on each of the target's log groups since its cursor; one
    transaction per group.

    The cursor is the newest event timestamp read, plus the ids of the events read within
    INGESTION_DELAY before it: the next read starts that far back and skips those ids,
    so late arrivals are read once and nothing is read twice.
    """
    results = []
    for group in target.log_groups:
        key = f"{target.name}:{group}"
        window = RecordWindow.load(store, "pglogs.cloudwatch", key)
        kwargs: dict[str, Any] = {
            "logGroupName": group,
            "startTime": window.start_ms(now, opts.initial_lookback_hours),
            "endTime": int(now.timestamp() * 1000),
            "filterPattern": FILTER_PATTERN,
        }
        if page_size:
            kwargs["limit"] = page_size
        records = _filter_events(logs, kwargs)
        source = f"cloudwatch:{group}"
        problem = _silence(logs, group, records, ever_read=bool(window.newest))
        if problem is not None and group.endswith("/postgresql"):
            results.append(ReadResult(source, target.name, problem=problem))
            continue
        if problem is not None:  # only clusters that export it have one; doctor says so
            log.info("pglogs %s: %s", target.name, problem, extra={"target": target.name})
        fresh = window.take(records or [])
        cursor = ("pglogs.cloudwatch", key, window)
        results.append(store_records(store, target, group, source, cursor, fresh, opts, now))
    return results


def _filter_events(logs: Any, kwargs: dict[str, Any]) -> list[tuple[str, int, str]] | None:
    """Every page of `filter_log_events`; None when the log group does not exist."""
    records: list[tuple[str, int, str]] = []
    for _ in range(MAX_PAGES):
        try:
            page = logs.filter_log_events(**kwargs)
        except logs.exceptions.ResourceNotFoundException:
            return None
        # Event ids are unique in a log group on AWS; with the stream name in front
        # they stay unique where a service numbers them per stream (moto does).
        records += [
            (f"{e.get('logStreamName', '')}/{e['eventId']}", int(e["timestamp"]), e["message"])
            for e in page.get("events", [])
        ]
        token = page.get("nextToken")
        if not token:
            break
        kwargs["nextToken"] = token
    return records


def _silence(
    logs: Any, group: str, records: list[tuple[str, int, str]] | None, *, ever_read: bool
) -> str | None:
    """Why a read that found nothing is not a quiet database, or None if it may be."""
    kind = group.rsplit("/", 1)[-1]
    if records is None:
        return f"no log group {group}: RDS does not export the {kind} log (see pgwarden doctor)"
    if records or ever_read or kind != "postgresql":
        return None
    # Nothing read yet: a quiet database, or a group nothing has ever written to. Asked
    # only until the first event (DescribeLogStreams has a low per-account rate quota).
    streams = logs.describe_log_streams(logGroupName=group, limit=1).get("logStreams", [])
    if not streams:
        return f"log group {group} has no streams: RDS has written no log there yet"
    return None


def ingest(
    store: Store,
    targets: Sequence[Target],
    opts: PgLogsConfig,
    clients: PgLogClients,
    clock: Clock,
    athena: LogQuery | None = None,
) -> list[ReadResult]:
    """Read each target's log sources once (the scheduler's job). `athena` runs the
    athena source's query (pglogs_athena.open_log_query); without it that source is
    reported unread."""
    from botocore.exceptions import BotoCoreError, ClientError

    now = clock.now()
    results: list[ReadResult] = []
    if not opts.enabled:
        return results
    for target in targets:
        try:
            results += _read_target(store, target, opts, clients, now, athena)
        except (AwsError, ClientError, BotoCoreError) as exc:
            # One account's denial or outage must not silence the other targets' logs.
            reason = " ".join(str(exc).split())[:200]
            results.append(ReadResult("-", target.name, problem=f"logs not read: {reason}"))
    named = {t.name for t in targets}
    if "files" in opts.sources:
        results += [
            ReadResult(
                "files", e.target, problem="no configured or discovered target has this name"
            )
            for e in opts.files
            if e.target not in named
        ]
    for r in results:
        if r.problem:
            log.warning("pglogs %s: %s", r.target, r.problem, extra={"target": r.target})
    return results


def _read_target(
    store: Store,
    target: Target,
    opts: PgLogsConfig,
    clients: PgLogClients,
    now: datetime,
    athena: LogQuery | None,
) -> list[ReadResult]:
    if not target.log_sources:
        if not target.expects_logs:
            return []
        problem = (
            "no [pglogs] source reads this target's logs: add "
            f'[[pglogs.files]] target = "{target.name}", or "cloudwatch" to sources'
        )
        return [ReadResult("-", target.name, problem=problem)]
    results: list[ReadResult] = []
    if "cloudwatch" in target.log_sources:
        results += read_cloudwatch(store, clients.client("logs", target), target, opts, now)
    if "rds-api" in target.log_sources:
        from monitor.sources.pglogs_rds import read_rds_api

        results += read_rds_api(store, clients.client("rds", target), target, opts, now)
    if "athena" in target.log_sources:
        from monitor.sources.pglogs_athena import read_athena

        if athena is None:
            results.append(ReadResult("athena", target.name, problem="no Athena engine open"))
        else:
            results += read_athena(store, athena, target, opts, now)
    if "files" in target.log_sources:
        from monitor.sources.logfiles import read_files

        results += read_files(store, target, opts, now)
    return results
