"""PostgreSQL logs into `auth_events`: CloudWatch Logs, the RDS API, Athena, local files.

Edge code: it holds clients and reads the clock; the parsing is `monitor.parsing.pglog`.
Each read stores its events and moves its cursor in one transaction, so a crash never
skips a line and never stores one twice (rows are also unique by `AuthEvent.dedup_key`).

Contract (STYLE.md rule 4). TOML:

    [pglogs]
    sources = ["cloudwatch", "rds-api", "files"]
    log_line_prefix = "%t:%r:%u@%d:[%p]:"

IAM actions: `logs:FilterLogEvents` on the targets' log groups (cloudwatch);
`rds:DescribeDBClusters`, `rds:DescribeDBLogFiles`, `rds:DownloadDBLogFilePortion`
(rds-api); Athena, Glue and S3 read on the log table (athena, see `pglogs_athena`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from monitor.clock import Clock
from monitor.config import Config, PgLogsConfig, TargetConfig
from monitor.models import AuthEvent, SuspiciousEntry
from monitor.parsing.pglog import LogParser, parse_messages
from monitor.parsing.pglog_stats import ParseStats
from monitor.sql import load
from monitor.store.sqlite import Store, to_text

log = logging.getLogger(__name__)

REQUIRED_IAM_ACTIONS = (
    "logs:FilterLogEvents",
    "rds:DescribeDBClusters",
    "rds:DescribeDBLogFiles",
    "rds:DownloadDBLogFilePortion",
)

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

    def client(self, service: str, target: TargetConfig) -> Any: ...


@dataclass
class ReadResult:
    """What one read of one log source for one target found."""

    source: str
    records: int = 0  # log records fetched (CloudWatch events, lines of files, ...)
    events: int = 0  # auth events parsed
    stored: int = 0  # new rows in auth_events
    stats: ParseStats = field(default_factory=ParseStats)


def log_groups(target: TargetConfig) -> list[str]:
    """RDS publishes to /aws/rds/{cluster|instance}/<id>/{postgresql|iam-db-auth-error}."""
    if target.cluster_id:
        base = f"/aws/rds/cluster/{target.cluster_id}"
    elif target.instance_id:
        base = f"/aws/rds/instance/{target.instance_id}"
    else:
        return []
    return [f"{base}/postgresql", f"{base}/iam-db-auth-error"]


def save(
    store: Store,
    target: str | None,
    source: str,
    events: Sequence[AuthEvent],
    stats: ParseStats,
    cursors: Iterable[tuple[str, str, Any]],
    now: datetime,
    suspicious: Sequence[SuspiciousEntry] = (),
) -> int:
    """Store events, suspicious entries, unparsed-line samples and cursors in one
    transaction; new event rows."""
    insert = load("store/auth_events_insert")
    with store.transaction() as conn:
        conn.executemany(
            load("store/auth_log_suspicious_insert"),
            [
                {
                    "target": target,
                    "source": source,
                    "time": to_text(s.time),
                    "client_host": s.client_host,
                    "client_port": s.client_port,
                    "reason": s.reason,
                    "line": s.line,
                    "seen_at": to_text(now),
                    "dedup_key": s.dedup_key(target),
                }
                for s in suspicious
            ],
        )
        before = conn.total_changes
        conn.executemany(
            insert,
            [
                {
                    **e.to_json(),
                    "time": to_text(e.time),
                    "target": target,
                    "dedup_key": e.dedup_key(target),
                }
                for e in events
            ],
        )
        stored = conn.total_changes - before
        if stats.unparsed:
            conn.execute(
                load("store/auth_log_unparsed_insert"),
                {
                    "target": target,
                    "source": source,
                    "seen_at": to_text(now),
                    "lines": stats.lines,
                    "unparsed": stats.unparsed,
                    "samples": json.dumps(stats.samples, ensure_ascii=False),
                },
            )
        for cursor_source, key, value in cursors:
            store.set_cursor(cursor_source, key, value, now)
    return stored


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
    target: TargetConfig,
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
    stored = save(
        store,
        target.name,
        source,
        events,
        parser.stats,
        [(cursor_source, key, window.value())],
        now,
        parser.take_suspicious(),
    )
    return ReadResult(source, len(records), len(events), stored, parser.stats)


def read_cloudwatch(
    store: Store,
    logs: Any,
    target: TargetConfig,
    opts: PgLogsConfig,
    now: datetime,
    groups: Sequence[str] | None = None,
    page_size: int | None = None,
) -> list[ReadResult]:
    """`filter_log_events` on each log group since its cursor; one transaction per group.

    The cursor is the newest event timestamp read, plus the ids of the events read within
    INGESTION_DELAY before it: the next read starts that far back and skips those ids,
    so late arrivals are read once and nothing is read twice.
    """
    results = []
    for group in groups if groups is not None else log_groups(target):
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
        records: list[tuple[str, int, str]] = []
        for _ in range(MAX_PAGES):
            try:
                page = logs.filter_log_events(**kwargs)
            except logs.exceptions.ResourceNotFoundException:
                log.info("no log group %s", group, extra={"target": target.name})
                page = {}
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
        fresh = window.take(records)
        cursor = ("pglogs.cloudwatch", key, window)
        results.append(
            store_records(store, target, group, f"cloudwatch:{group}", cursor, fresh, opts, now)
        )
    return results


def ingest(store: Store, config: Config, clients: PgLogClients, clock: Clock) -> list[ReadResult]:
    """Read every configured log source for every target once (the scheduler's job)."""
    opts = config.pglogs
    now = clock.now()
    results: list[ReadResult] = []
    if not opts.enabled:
        return results
    for target in config.targets:
        if "cloudwatch" in opts.sources:
            results += read_cloudwatch(store, clients.client("logs", target), target, opts, now)
        if "rds-api" in opts.sources:
            from monitor.sources.pglogs_rds import read_rds_api

            results += read_rds_api(store, clients.client("rds", target), target, opts, now)
    if "files" in opts.sources:
        from monitor.sources.logfiles import read_files

        results += read_files(store, opts, now)
    if "athena" in opts.sources:
        results += _read_athena_locally(store, config, now)
    return results


def _read_athena_locally(store: Store, config: Config, now: datetime) -> list[ReadResult]:
    opts = config.pglogs
    if opts.athena_local_dir is None:
        # read_athena takes a pyathena runner too; building Athena connections (workgroup,
        # results location) for pglogs is not configured yet.
        log.warning("pglogs source athena: set pglogs.athena_local_dir; Athena itself is not wired")
        return []
    import duckdb

    from monitor.sources.pglogs_athena import create_duckdb_table, duckdb_runner, read_athena

    results: list[ReadResult] = []
    with duckdb.connect() as con:
        create_duckdb_table(con, opts.athena_local_dir)
        for target in config.targets:
            results += read_athena(store, duckdb_runner(con), target, opts, now, "duckdb")
    return results
