"""cloudwatch: each target's log groups in CloudWatch Logs (`filter_log_events`), for
configured and discovered targets alike: `/aws/rds/cluster/NAME/postgresql` (or
`/aws/rds/instance/...`) and `/iam-db-auth-error`. It has no options of its own.

Example:
    [pglogs]
    sources = ["cloudwatch"]

IAM (monitor role): CloudWatch Logs reads on the targets' log groups.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from monitor.config.fields import SECTION
from monitor.registry import Access
from monitor.sources.pglogs.ingest import (
    LOG_SOURCES,
    MAX_PAGES,
    LogSource,
    ReadResult,
    RecordWindow,
    SourceRun,
    store_records,
)
from monitor.store.sqlite import Store

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import FilterLogEventsRequestTypeDef

    from monitor.sources.pglogs import PgLogsConfig
    from monitor.sources.targets import Target

log = logging.getLogger(__name__)


class CloudWatchOptions(BaseModel):
    """`[pglogs]` keys of the cloudwatch source: none of its own."""

    model_config = SECTION


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
        # iam-db-auth-error: AWS writes "authorize" for NotAuthorized, throttling and
        # internal errors ("Troubleshooting for IAM DB authentication").
        "Failed to authenticate",
        "Failed to authorize",
    )
)


def read_cloudwatch(
    store: Store,
    logs: CloudWatchLogsClient,
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
        kwargs: FilterLogEventsRequestTypeDef = {
            "logGroupName": group,
            "startTime": window.start_ms(now, opts.initial_lookback_hours),
            "endTime": int(now.timestamp() * 1000),
            "filterPattern": FILTER_PATTERN,
        }
        if page_size:
            kwargs["limit"] = page_size
        records = filter_events(logs, kwargs)
        source = f"cloudwatch:{group}"
        kind = group.rsplit("/", 1)[-1]
        problem = silence(
            logs,
            group,
            records,
            ever_read=bool(window.newest),
            missing=f"RDS does not export the {kind} log (see pgwarden doctor)",
            required=kind == "postgresql",
        )
        if problem is not None and kind == "postgresql":
            results.append(ReadResult(source, target.name, problem=problem))
            continue
        if problem is not None:  # only clusters that export it have one; doctor says so
            log.info("pglogs %s: %s", target.name, problem, extra={"target": target.name})
        fresh = window.take(records or [])
        cursor = ("pglogs.cloudwatch", key, window)
        results.append(store_records(store, target, group, source, cursor, fresh, opts, now))
    return results


def filter_events(
    logs: CloudWatchLogsClient, kwargs: FilterLogEventsRequestTypeDef
) -> list[tuple[str, int, str]] | None:
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


def silence(
    logs: CloudWatchLogsClient,
    group: str,
    records: list[tuple[str, int, str]] | None,
    *,
    ever_read: bool,
    missing: str,
    required: bool = True,
) -> str | None:
    """Why a read that found nothing is not a quiet database, or None if it may be.
    `missing` says why a group may not exist; only a `required` group's streams are asked
    about."""
    if records is None:
        return f"no log group {group}: {missing}"
    if records or ever_read or not required:
        return None
    # Nothing read yet: a quiet database, or a group nothing has ever written to. Asked
    # only until the first event (DescribeLogStreams has a low per-account rate quota).
    streams = logs.describe_log_streams(logGroupName=group, limit=1).get("logStreams", [])
    if not streams:
        return f"log group {group} has no streams: RDS has written no log there yet"
    return None


def _read(run: SourceRun, target: Target) -> list[ReadResult]:
    logs = run.clients.client("logs", target)
    return read_cloudwatch(run.store, logs, target, run.opts, run.now)


SOURCE = LOG_SOURCES.add(
    LogSource(
        "cloudwatch",
        CloudWatchOptions,
        _read,
        Access(monitor=("logs:FilterLogEvents", "logs:DescribeLogStreams")),
    )
)
