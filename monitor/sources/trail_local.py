"""The local CloudTrail engine: DuckDB over a copy of the trail in its S3 layout.

    <root>/[prefix/]AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz

Partition pruning happens here, as Athena's projection does it there: the directory walk
descends only into the accounts, regions and days the query asks for, and DuckDB is given
that explicit list of files. A one-day window therefore opens that day's files and no
others. The query text itself is the Athena SQL, transpiled by sqlglot (`trailsql`).

A corrupt file (bad gzip, bad JSON, bytes that are not UTF-8) makes DuckDB fail the whole
read, so on failure the file list is split in halves until each bad file stands alone; it
is then named, counted and left out, and the query runs again over the rest.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from monitor import sql
from monitor.errors import PgwardenError
from monitor.sources.trailsql import ParamValue, render

log = logging.getLogger(__name__)

_ACCOUNT = re.compile(r"[0-9]{12}")
_ORG = re.compile(r"o-[a-z0-9]{10,32}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]")
_SUFFIXES = (".json.gz", ".json")
# How deep under the given directory to look for AWSLogs (a bucket copy with a prefix).
_MAX_PREFIX_DEPTH = 3


class TrailDirError(PgwardenError):
    """The local trail directory does not exist or holds no AWSLogs tree."""


class TrailQueryError(PgwardenError):
    """DuckDB refused the query for a reason other than a bad file."""


@dataclass(frozen=True)
class BadFile:
    path: str
    reason: str


@dataclass
class TrailResult:
    """Rows as column → value mappings, plus what it cost to get them."""

    columns: list[str]
    rows: list[dict[str, Any]]
    files_read: int = 0
    bad_files: list[BadFile] = field(default_factory=list)
    bytes_scanned: int | None = None
    cost_usd: float | None = None
    query_id: str | None = None


def aws_logs_roots(root: Path) -> list[Path]:
    """Every AWSLogs directory at or under `root`, at most a few levels down."""
    if not root.is_dir():
        raise TrailDirError(f"{root}: trail directory not found")
    if root.name == "AWSLogs":
        return [root]
    found: list[Path] = []
    level = [root]
    for _ in range(_MAX_PREFIX_DEPTH):
        next_level: list[Path] = []
        for directory in level:
            for child in sorted(directory.iterdir()):
                if not child.is_dir():
                    continue
                if child.name == "AWSLogs":
                    found.append(child)
                else:
                    next_level.append(child)
        if found:
            return found
        level = next_level
    raise TrailDirError(
        f"{root}: no AWSLogs directory found (expected AWSLogs/<account>/CloudTrail/<region>/"
        "YYYY/MM/DD/*.json.gz, as CloudTrail writes to S3)"
    )


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def partition_files(
    root: Path,
    first_day: date,
    last_day: date,
    accounts: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
) -> list[Path]:
    """The trail files of the given days (inclusive), accounts and regions (None: all)."""
    files: list[Path] = []
    for logs in aws_logs_roots(root):
        for account_dir in _account_dirs(logs):
            if accounts is not None and account_dir.name not in accounts:
                continue
            trail = account_dir / "CloudTrail"
            if not trail.is_dir():
                continue
            for region_dir in sorted(trail.iterdir()):
                if not _REGION.fullmatch(region_dir.name):
                    continue
                if regions is not None and region_dir.name not in regions:
                    continue
                for day in days(first_day, last_day):
                    day_dir = region_dir / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"
                    if day_dir.is_dir():
                        files.extend(
                            p
                            for p in sorted(day_dir.iterdir())
                            if p.is_file() and p.name.endswith(_SUFFIXES)
                        )
    return files


def all_files(root: Path) -> list[Path]:
    """Every trail file under `root` (for the benchmark's pruning figure)."""
    return [
        p
        for logs in aws_logs_roots(root)
        for p in sorted(logs.rglob("*"))
        if p.is_file() and p.name.endswith(_SUFFIXES)
    ]


def _account_dirs(logs: Path) -> Iterator[Path]:
    for child in sorted(logs.iterdir()):
        if _ACCOUNT.fullmatch(child.name):
            yield child
        elif _ORG.fullmatch(child.name):
            # An organisation trail adds the org id above the account directories.
            yield from (c for c in sorted(child.iterdir()) if _ACCOUNT.fullmatch(c.name))


class LocalTrail:
    """Runs the Athena queries on DuckDB over local files. One DuckDB connection per engine."""

    def __init__(self, root: Path, *, threads: int | None = None) -> None:
        import duckdb

        self.root = root
        self._con = duckdb.connect()
        if threads is not None:
            self._con.execute(f"SET threads = {int(threads)}")
        self._records = sql.load("duckdb/cloudtrail_records")

    def close(self) -> None:
        self._con.close()

    def query(self, name: str, params: Mapping[str, ParamValue]) -> TrailResult:
        """Run `queries/athena/<name>.sql` over the partitions `params` select."""
        first = date.fromisoformat(str(params["day_from"]).replace("/", "-"))
        last = date.fromisoformat(str(params["day_to"]).replace("/", "-"))
        accounts = _list_or_none(params.get("accounts"))
        regions = _list_or_none(params.get("regions"))
        files = partition_files(self.root, first, last, accounts, regions)
        text, bound = render(name, params, "duckdb")
        text = f"WITH cloudtrail AS (\n{self._records}\n)\n{text}"
        import duckdb

        bad: list[BadFile] = []
        good = [str(p) for p in files]
        columns: list[str] = []
        rows: list[dict[str, Any]] = []
        if good:
            try:
                columns, rows = self._run(text, bound, good)
            except duckdb.Error:
                good = self._find_bad(text, bound, good, bad)
                if good:
                    try:
                        columns, rows = self._run(text, bound, good)
                    except duckdb.Error as exc:
                        # Each of these files reads alone, so the failure is not theirs.
                        reason = str(exc).splitlines()[0]
                        raise TrailQueryError(f"DuckDB query failed: {reason}") from exc
        for item in bad:
            log.warning(
                "skipped unreadable CloudTrail file %s: %s",
                item.path,
                item.reason,
                extra={"file": item.path},
            )
        return TrailResult(columns=columns, rows=rows, files_read=len(good), bad_files=bad)

    def _run(
        self, text: str, bound: Mapping[str, Any], files: list[str]
    ) -> tuple[list[str], list[dict[str, Any]]]:
        cursor = self._con.execute(text, {**bound, "files": files})
        # fetchall, not fetchone: duckdb 2.0 can leave a half-read result blocking the connection.
        data = cursor.fetchall()
        columns = [d[0] for d in cursor.description or []]
        return columns, [dict(zip(columns, row, strict=True)) for row in data]

    def _find_bad(
        self, text: str, bound: Mapping[str, Any], files: list[str], bad: list[BadFile]
    ) -> list[str]:
        """The readable files among `files`; the others are appended to `bad`."""
        import duckdb

        if not files:
            return []
        try:
            self._run(text, bound, files)
        except duckdb.Error as exc:
            if len(files) == 1:
                reason = str(exc).splitlines()[0]
                if files[0] not in str(exc):
                    # An error that names no file is ours (the SQL), not the file's.
                    raise TrailQueryError(f"DuckDB query failed: {reason}") from exc
                bad.append(BadFile(files[0], reason))
                return []
            half = len(files) // 2
            return self._find_bad(text, bound, files[:half], bad) + self._find_bad(
                text, bound, files[half:], bad
            )
        return files


def _list_or_none(value: ParamValue) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError("partition filters take a list of values")
    return [str(v) for v in value]
