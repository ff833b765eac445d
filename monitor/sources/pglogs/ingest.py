"""What the log sources share: a read's result, storing events with their cursor, the
record window, the log source registry, and one pass over every target (`ingest`).

Edge code: it holds clients and reads the clock; the parsing is `monitor.parsing.pglog`.
Each read stores its events and moves its cursor in one transaction, so a crash never
skips a line and never stores one twice (rows are also unique by `AuthEvent.dedup_key`).

Every read is for one resolved target (monitor/sources/targets.py), configured or
discovered, and its events carry that target's name. Silence is never taken for quiet: a
target whose log group is missing or has no streams, whose files are gone, or that no
source reads at all, comes back as a `ReadResult` with a `problem`; the stage reports it
and `once` exits 1.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

from pydantic import BaseModel

from monitor.clock import Clock
from monitor.errors import AwsError
from monitor.parsing.pglog import LogParser, parse_messages
from monitor.parsing.pglog_stats import ParseStats
from monitor.registry import Access, Registry
from monitor.store.events import save_auth_events
from monitor.store.sqlite import Store

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_rds import RDSClient

    from monitor.sources.pglogs import PgLogsConfig
    from monitor.sources.targets import Target

log = logging.getLogger(__name__)

# CloudWatch Logs may deliver an event minutes after its timestamp. Each read starts this
# far before the cursor and skips the event ids it has already seen in that window.
INGESTION_DELAY = timedelta(minutes=5)
MAX_PAGES = 1000  # per log group and read: a bound, not an expected number


class PgLogClients(Protocol):
    """Where boto3 clients come from (monitor/aws.py in production, moto in tests)."""

    @overload
    def client(self, service: Literal["logs"], target: Target) -> CloudWatchLogsClient: ...
    @overload
    def client(self, service: Literal["rds"], target: Target) -> RDSClient: ...


# The athena source's query, given its parameters -> (id, timestamp in ms, message) rows:
# Athena through pyathena, or DuckDB over a local copy (athena.open_log_query).
LogQuery = Callable[[Sequence[str | int]], list[tuple[str, int, str]]]


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


@dataclass(frozen=True)
class SourceRun:
    """What a log source reads with, for one pass: the store, the options, the clients,
    the time, the athena source's query when its engine is open, and every target of the
    pass (the rds-proxy source stores a proxy's events under the database it fronts)."""

    store: Store
    opts: PgLogsConfig
    clients: PgLogClients
    now: datetime
    athena: LogQuery | None = None
    targets: Sequence[Target] = ()


Reader = Callable[[SourceRun, "Target"], list[ReadResult]]


@dataclass(frozen=True)
class LogSource:
    """A log source: its name in `[pglogs] sources`, its options (keys of `[pglogs]`), how
    it reads one target, and the access it needs (`needs_of`: for one config, when that is
    less than all it declares)."""

    name: str
    options: type[BaseModel]
    read: Reader
    access: Access
    needs_of: Callable[[PgLogsConfig], Access] | None = None
    section = "pglogs"

    @property
    def doc(self) -> str:
        """Its module's docstring, which carries its TOML example."""
        return inspect.getdoc(sys.modules[self.read.__module__]) or ""

    def needs(self, opts: PgLogsConfig) -> Access:
        return self.needs_of(opts) if self.needs_of is not None else self.access


# Registration order (monitor/sources/pglogs/__init__.py) is the order a target's sources
# are read in.
LOG_SOURCES: Registry[LogSource] = Registry("log source")


@dataclass
class RecordWindow:
    """A record cursor: the newest timestamp read, and the ids read shortly before it."""

    newest: int = 0
    seen: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, store: Store, source: str, key: str) -> RecordWindow:
        return cls.from_value(store.get_cursor(source, key) or {})

    @classmethod
    def from_value(cls, value: Mapping[str, Any]) -> RecordWindow:
        """The window a stored cursor value holds (a source may keep more beside it)."""
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

    def value(self) -> dict[str, object]:
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


def ingest(
    store: Store,
    targets: Sequence[Target],
    opts: PgLogsConfig,
    clients: PgLogClients,
    clock: Clock,
    athena: LogQuery | None = None,
) -> list[ReadResult]:
    """Read each target's log sources once (the scheduler's job). `athena` runs the
    athena source's query (athena.open_log_query); without it that source is reported
    unread."""
    from botocore.exceptions import BotoCoreError, ClientError

    results: list[ReadResult] = []
    if not opts.enabled:
        return results
    run = SourceRun(store, opts, clients, clock.now(), athena, targets)
    for target in targets:
        try:
            results += _read_target(run, target)
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


def _read_target(run: SourceRun, target: Target) -> list[ReadResult]:
    if not target.log_sources:
        if not target.expects_logs:
            return []
        problem = (
            "no [pglogs] source reads this target's logs: add "
            f'[[pglogs.files]] target = "{target.name}", or "cloudwatch" to sources'
        )
        return [ReadResult("-", target.name, problem=problem)]
    results: list[ReadResult] = []
    for source in LOG_SOURCES:
        if source.name in target.log_sources:
            results += source.read(run, target)
    return results
