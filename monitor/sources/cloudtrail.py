"""CloudTrail: who assumed the watched roles, and who changed who can get in.

The stage reads `queries/athena/assume_role.sql` and `access_changes.sql` through one of
two engines (`trail_local.LocalTrail`, DuckDB over files; `trail_athena.AthenaTrail`,
pyathena), normalises the rows (`monitor.parsing.cloudtrail`) and stores them.

Incremental reads: the cursor is the end of the last window. The next window starts
`overlap_s` before it, because CloudTrail delivers a record up to about 15 minutes after
the event; records read twice are dropped by eventID. The cursor commits in the same
transaction as the events.

IAM actions (athena engine): athena:StartQueryExecution, athena:GetQueryExecution,
athena:GetQueryResults, athena:StopQueryExecution, glue:GetTable, s3:GetObject and
s3:ListBucket on the trail bucket, s3:GetObject/PutObject on the output location. The
local engine needs only read access to the directory.

Example config:

    [cloudtrail]
    engine = "athena"
    output_location = "s3://my-athena-results/pgwarden/"
    athena_table = "cloudtrail"
    overlap_s = 900
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from monitor.clock import Clock
from monitor.config import CloudTrailConfig, Config
from monitor.errors import ConfigError, PgwardenError
from monitor.parsing.cloudtrail import (
    AccessChangeEvent,
    AssumeRoleEvent,
    TrailRowError,
    format_time,
    parse_access_change,
    parse_assume_role,
    parse_time,
)
from monitor.progress import OnProgress, no_progress
from monitor.sources.trail_files import REGION, BadFile
from monitor.sources.trail_local import TrailResult
from monitor.sources.trailsql import ParamValue
from monitor.store.events import store_access_changes, store_assume_role_events
from monitor.store.grants import granting_roles
from monitor.store.sqlite import Store

log = logging.getLogger(__name__)

_Event = TypeVar("_Event", AssumeRoleEvent, AccessChangeEvent)

CURSOR_SOURCE = "cloudtrail"
CURSOR_KEY = "window_end"

_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)")


class TrailWindowError(PgwardenError):
    """A --since/--until value that is not a date or time, or an empty window."""


def parse_moment(text: str, option: str) -> datetime:
    """'2026-11-01', '2026-11-01T08:00', '2026-11-01T08:00:00Z' (UTC unless an offset is given)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise TrailWindowError(
            f'{option}: not a date or time: "{text}" (write 2026-11-01 or 2026-11-01T08:00:00Z)'
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def make_window(
    since: datetime,
    until: datetime,
    accounts: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
) -> TrailWindow:
    """A window from user input, with one-line errors naming the option at fault."""
    for region in regions or ():
        if not REGION.fullmatch(region):
            raise TrailWindowError(f'--region: not an AWS region: "{region}"')
    if until <= since:
        raise TrailWindowError(
            f"--until ({format_time(until)}) must be after --since ({format_time(since)})"
        )
    return TrailWindow(
        since,
        until,
        None if accounts is None else tuple(sorted(accounts)),
        None if regions is None else tuple(sorted(regions)),
    )


class TrailEngine(Protocol):
    def query(self, name: str, params: Mapping[str, ParamValue]) -> TrailResult: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class TrailWindow:
    """[since, until), and the partitions worth reading (None: all of them)."""

    since: datetime
    until: datetime
    accounts: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("trail windows need timezone-aware times")
        if self.until <= self.since:
            raise ValueError(
                f"empty window: until ({format_time(self.until)}) is not after "
                f"since ({format_time(self.since)})"
            )

    def params(self) -> dict[str, ParamValue]:
        last = (self.until - timedelta(microseconds=1)).astimezone(UTC)
        return {
            "day_from": f"{self.since.astimezone(UTC):%Y/%m/%d}",
            "day_to": f"{last:%Y/%m/%d}",
            # eventTime has whole seconds: round fractional bounds up, so [since, until)
            # holds exactly the whole seconds inside the window.
            "since": format_time(self.since + timedelta(microseconds=999_999)),
            "until": format_time(self.until + timedelta(microseconds=999_999)),
            "accounts": self.accounts,
            "regions": self.regions,
        }


def open_engine(
    trail: CloudTrailConfig,
    *,
    local_dir: Path | None = None,
    default_region: str = "us-east-1",
    progress: OnProgress = no_progress,
    **athena_connect: object,
) -> TrailEngine:
    """The engine the config asks for; `local_dir` forces the local engine, whose
    `progress` is the files it has checked."""
    from monitor.sources.trail_athena import AthenaSettings, AthenaTrail
    from monitor.sources.trail_local import LocalTrail

    if local_dir is not None or trail.engine == "local":
        directory = local_dir or trail.local_dir
        if directory is None:
            raise ConfigError(["cloudtrail.local_dir: required with engine = local (or --local)"])
        return LocalTrail(directory, progress=progress)
    if trail.output_location is None:
        raise ConfigError(["cloudtrail.output_location: required when engine is athena"])
    settings = AthenaSettings(
        output_location=trail.output_location,
        workgroup=trail.workgroup,
        database=trail.athena_database,
        table=trail.athena_table,
        region=trail.region or default_region,
        deadline_s=trail.query_deadline_s,
        result_reuse_minutes=trail.result_reuse_minutes,
    )
    return AthenaTrail(settings, **athena_connect)


def check_role_arns(arns: Sequence[str]) -> list[str]:
    for arn in arns:
        if not _ROLE_ARN.fullmatch(arn):
            raise TrailWindowError(f'--role-arn: not an IAM role ARN: "{arn}"')
    return list(arns)


def role_account(arn: str) -> str | None:
    match = _ROLE_ARN.fullmatch(arn)
    return match.group(1) if match else None


def role_accounts(roles: Iterable[str]) -> tuple[str, ...]:
    """The accounts the roles live in: an AssumeRole is recorded in the trail of the role's
    own account, so these are the ones to read."""
    return tuple(sorted({a for a in map(role_account, roles) if a}))


def role_name(arn: str) -> str | None:
    match = _ROLE_ARN.fullmatch(arn)
    return match.group(2) if match else None


def assume_role_events(
    engine: TrailEngine, window: TrailWindow, roles: Sequence[str] | None
) -> tuple[list[AssumeRoleEvent], TrailResult]:
    """AssumeRole* events into `roles` (None: every role) in the window."""
    params = {**window.params(), "roles": None if roles is None else sorted(set(roles))}
    result = engine.query("assume_role", params)
    return _parse(result, parse_assume_role), result


def access_change_events(
    engine: TrailEngine, window: TrailWindow, roles: Sequence[str]
) -> tuple[list[AccessChangeEvent], TrailResult]:
    """Control-plane changes to IAM database auth, proxies and the watched roles' policies."""
    names = sorted({n for n in (role_name(r) for r in roles) if n})
    result = engine.query("access_changes", {**window.params(), "role_names": names})
    return _parse(result, parse_access_change), result


def _parse(result: TrailResult, parse: Callable[[Mapping[str, object]], _Event]) -> list[_Event]:
    """The rows' events, first of each eventID (CloudTrail may deliver a record in more than
    one file). A row without eventID or eventTime is counted against its file, not raised."""
    seen: set[str] = set()
    out = []
    for row in result.rows:
        try:
            event = parse(row)
        except TrailRowError:
            source = str(row.get("source_file") or "the query result")
            result.bad_records[source] = result.bad_records.get(source, 0) + 1
            continue
        if event.event_id not in seen:
            seen.add(event.event_id)
            out.append(event)
    return out


def watched_roles(config: Config, store: Store | None = None) -> list[str]:
    """The monitor roles, the configured extra roles, and every role found granting connect."""
    roles = {a.role_arn for a in config.accounts if a.role_arn}
    roles.update(config.cloudtrail.watched_roles)
    if store is not None:
        roles.update(granting_roles(store.conn))
    return sorted(roles)


@dataclass
class IngestSummary:
    since: datetime
    until: datetime
    assume_role_events: int = 0
    assume_role_new: int = 0
    access_changes: int = 0
    access_changes_new: int = 0
    files_read: int = 0
    bad_files: list[BadFile] = field(default_factory=list)
    bad_records: dict[str, int] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    bytes_scanned: int = 0
    cost_usd: float = 0.0


def ingest(store: Store, config: Config, engine: TrailEngine, clock: Clock) -> IngestSummary:
    """Read the window since the cursor (minus the overlap) and store new events."""
    trail = config.cloudtrail
    until = clock.now().astimezone(UTC).replace(microsecond=0)
    previous = store.get_cursor(CURSOR_SOURCE, CURSOR_KEY)
    if previous is None:
        since = until - timedelta(days=trail.initial_lookback_days)
    else:
        since = parse_time(previous) - timedelta(seconds=trail.overlap_s)
    if since >= until:
        # The clock went back behind the cursor: nothing to read until it catches up.
        log.warning("cloudtrail: clock %s is behind the cursor %s", until, previous)
        return IngestSummary(since=since, until=until)
    roles = watched_roles(config, store)
    db_accounts = tuple(sorted({a.id for a in config.accounts})) or None
    summary = IngestSummary(since=since, until=until)
    role_window = TrailWindow(since, until, role_accounts(roles))
    assumed, first = assume_role_events(engine, role_window, roles)
    changes, second = access_change_events(engine, TrailWindow(since, until, db_accounts), roles)
    for result in (first, second):
        summary.files_read += result.files_read
        summary.bad_files.extend(b for b in result.bad_files if b not in summary.bad_files)
        # Each damaged record is counted by one query only: they select different events.
        for source, count in result.bad_records.items():
            summary.bad_records[source] = summary.bad_records.get(source, 0) + count
        summary.unexpected.extend(p for p in result.unexpected if p not in summary.unexpected)
        summary.bytes_scanned += result.bytes_scanned or 0
        summary.cost_usd += result.cost_usd or 0.0
    with store.transaction() as conn:
        summary.assume_role_new = store_assume_role_events(conn, assumed, clock.now())
        summary.access_changes_new = store_access_changes(conn, changes, clock.now())
        store.set_cursor(CURSOR_SOURCE, CURSOR_KEY, format_time(until), clock.now())
    summary.assume_role_events, summary.access_changes = len(assumed), len(changes)
    log.info(
        "cloudtrail: %s assume-role events (%s new), %s access changes (%s new), %s bad files, "
        "%s bad records",
        len(assumed),
        summary.assume_role_new,
        len(changes),
        summary.access_changes_new,
        len(summary.bad_files),
        sum(summary.bad_records.values()),
        extra={
            "since": format_time(since),
            "until": format_time(until),
            "bytes_scanned": summary.bytes_scanned,
            "cost_usd": summary.cost_usd,
        },
    )
    return summary
