"""rds-api: the RDS API's log files, `describe_db_log_files` and
`download_db_log_file_portion`. Edge code. It has no options of its own.

For a cluster, the log files live on each member instance. The cursor per instance holds,
per log file, the Marker to resume from and the LastWritten time already read; a file is
read to its current end, then its events and its new Marker commit together.

Example:
    [pglogs]
    sources = ["rds-api"]

IAM (monitor role): the RDS log file API, and the cluster's members.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from monitor.config.fields import SECTION
from monitor.models import AuthEvent
from monitor.parsing.pglog import LogParser
from monitor.registry import Access
from monitor.sources.pglogs.ingest import LOG_SOURCES, MAX_PAGES, LogSource, ReadResult, SourceRun
from monitor.store.events import save_auth_events
from monitor.store.sqlite import Store

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import (
        DescribeDBLogFilesDetailsTypeDef,
        DescribeDBLogFilesMessageTypeDef,
    )

    from monitor.sources.pglogs import PgLogsConfig
    from monitor.sources.targets import Target

log = logging.getLogger(__name__)

CURSOR = "pglogs.rds-api"


class RdsApiOptions(BaseModel):
    """`[pglogs]` keys of the rds-api source: none of its own."""

    model_config = SECTION


def instances(rds: RDSClient, target: Target) -> list[str]:
    """The instance ids whose logs hold the target's connections."""
    if target.instance_id:
        return [target.instance_id]
    if not target.cluster_id:
        return []
    clusters = rds.describe_db_clusters(DBClusterIdentifier=target.cluster_id)["DBClusters"]
    return sorted(
        m["DBInstanceIdentifier"] for c in clusters for m in c.get("DBClusterMembers", [])
    )


def _log_files(
    rds: RDSClient, instance: str, since_ms: int
) -> list[DescribeDBLogFilesDetailsTypeDef]:
    files: list[DescribeDBLogFilesDetailsTypeDef] = []
    kwargs: DescribeDBLogFilesMessageTypeDef = {
        "DBInstanceIdentifier": instance,
        "FileLastWritten": since_ms,
    }
    for _ in range(MAX_PAGES):
        page = rds.describe_db_log_files(**kwargs)
        files.extend(page.get("DescribeDBLogFiles", []))
        if not page.get("Marker"):
            break
        kwargs["Marker"] = page["Marker"]
    # Oldest first, so a LOG line and its FATAL in the next hour's file meet in order.
    return sorted(files, key=lambda f: (int(f.get("LastWritten", 0)), f["LogFileName"]))


def read_rds_api(
    store: Store, rds: RDSClient, target: Target, opts: PgLogsConfig, now: datetime
) -> list[ReadResult]:
    members = instances(rds, target)
    if not members:
        problem = f"cluster {target.cluster_id} has no instances whose log files could be read"
        return [ReadResult("rds-api", target.name, problem=problem)]
    results = []
    for instance in members:
        key = f"{target.name}:{instance}"
        cursor: dict[str, dict[str, int | str]] = store.get_cursor(CURSOR, key) or {}
        if cursor:
            since = min(int(f.get("last_written", 0)) for f in cursor.values())
        else:
            since = int(now.timestamp() * 1000) - opts.initial_lookback_hours * 3600 * 1000
        listed = _log_files(rds, instance, since)
        for entry in listed:
            name = entry["LogFileName"]
            if name.endswith((".csv", ".json")):
                continue  # the same lines again, in another format
            done = cursor.get(name, {})
            written = int(entry.get("LastWritten", 0))
            if done and int(done.get("last_written", 0)) >= written:
                continue
            source = f"rds-api:{instance}/{name}"
            parser = LogParser(opts.format, opts.log_line_prefix, source=source)
            events: list[AuthEvent] = []
            marker = str(done.get("marker", "0"))
            for _ in range(MAX_PAGES):
                portion = rds.download_db_log_file_portion(
                    DBInstanceIdentifier=instance, LogFileName=name, Marker=marker
                )
                events += parser.feed(str(portion.get("LogFileData") or "").encode())
                marker = str(portion.get("Marker") or marker)
                if not portion.get("AdditionalDataPending"):
                    break
            events += parser.finish()
            cursor[name] = {"marker": marker, "last_written": written}
            # Forget files RDS no longer lists (rotated away), so the cursor stays small.
            listed_names = {f["LogFileName"] for f in listed}
            value = {n: v for n, v in cursor.items() if n in listed_names}
            cursors = [(CURSOR, key, value)]
            suspicious = parser.take_suspicious()
            stored = save_auth_events(
                store, target.name, source, events, parser.stats, cursors, now, suspicious
            )
            results.append(
                ReadResult(
                    source, target.name, parser.stats.lines, len(events), stored, parser.stats
                )
            )
    return results


def _read(run: SourceRun, target: Target) -> list[ReadResult]:
    return read_rds_api(run.store, run.clients.client("rds", target), target, run.opts, run.now)


SOURCE = LOG_SOURCES.add(
    LogSource(
        "rds-api",
        RdsApiOptions,
        _read,
        Access(
            monitor=(
                "rds:DescribeDBClusters",
                "rds:DescribeDBLogFiles",
                "rds:DownloadDBLogFilePortion",
            )
        ),
    )
)
