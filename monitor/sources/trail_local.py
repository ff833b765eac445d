"""The local CloudTrail engine: DuckDB over a copy of the trail in its S3 layout, or over
exported events (see `trail_files` for both layouts and for how files are checked).

Partition pruning happens in `trail_files`, as Athena's projection does it there: only the
accounts, regions and days the query asks for are opened, and DuckDB is given that explicit
list of files. The query text itself is the Athena SQL, transpiled by sqlglot (`trailsql`).

A damaged file is named, counted and left out, and the rest of the window is always read:

1. before the query, each file's gzip stream, UTF-8 and outer JSON shape are checked (all
   of it for exported events);
2. if DuckDB still refuses the rest (JSON broken inside a sound gzip stream), each file is
   parsed in full in Python, the bad ones are left out and the query runs once more;
3. if DuckDB refuses JSON that Python reads (a lone surrogate escape), the list is split in
   halves until each refused file stands alone, whatever DuckDB's message names. Only when
   every file fails alone is the query itself at fault.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from monitor import sql
from monitor.errors import PgwardenError
from monitor.progress import OnProgress, no_progress
from monitor.sources.trail_files import BadFile, FileCheck, check_file, find_files
from monitor.sources.trailsql import ParamValue, render

log = logging.getLogger(__name__)
# How many unexpected paths one warning lists before "and N more".
_NAMED = 20


class TrailQueryError(PgwardenError):
    """DuckDB refused the query for a reason other than a bad file."""


@dataclass
class TrailResult:
    """Rows as column → value mappings, plus what it cost to get them and what was skipped."""

    columns: list[str]
    rows: list[dict[str, Any]]
    files_read: int = 0
    bad_files: list[BadFile] = field(default_factory=list)
    # Records skipped because they lack eventID or eventTime, by file.
    bad_records: dict[str, int] = field(default_factory=dict)
    # Paths in the trail tree that are not where CloudTrail writes events.
    unexpected: list[str] = field(default_factory=list)
    bytes_scanned: int | None = None
    cost_usd: float | None = None
    query_id: str | None = None


class LocalTrail:
    """Runs the Athena queries on DuckDB over local files. One DuckDB connection per engine."""

    def __init__(
        self, root: Path, *, threads: int | None = None, progress: OnProgress = no_progress
    ) -> None:
        import duckdb

        self.root = root
        self._progress = progress  # files checked, of those a query reads
        self._con = duckdb.connect()
        if threads is not None:
            self._con.execute(f"SET threads = {int(threads)}")
        self._records = sql.load("duckdb/cloudtrail_records")
        self._checked: dict[Path, tuple[tuple[int, int], bool, FileCheck]] = {}
        self._warned: set[str] = set()
        self._counted: set[Path] = set()

    def close(self) -> None:
        self._con.close()

    def query(self, name: str, params: Mapping[str, ParamValue]) -> TrailResult:
        """Run `queries/athena/<name>.sql` over the partitions `params` select."""
        first = date.fromisoformat(str(params["day_from"]).replace("/", "-"))
        last = date.fromisoformat(str(params["day_to"]).replace("/", "-"))
        found = find_files(
            self.root,
            first,
            last,
            _list_or_none(params.get("accounts")),
            _list_or_none(params.get("regions")),
        )
        self._warn_unexpected(found.unexpected)
        text, bound = render(name, params, "duckdb")
        text = f"WITH cloudtrail AS (\n{self._records}\n)\n{text}"
        result = TrailResult([], [], unexpected=found.unexpected)
        good: list[str] = []
        for done, path in enumerate(found.files, 1):
            check = self._check(path, full=found.exported)
            if check.reason:
                result.bad_files.append(BadFile(str(path), check.reason))
            else:
                good.append(str(path))
                if check.without_time and path not in self._counted:
                    # Counted once per engine: the stage's two queries read the same files.
                    self._counted.add(path)
                    result.bad_records[str(path)] = check.without_time
            self._progress(done, len(found.files))
        result.columns, result.rows, read = self._read(text, bound, good, result.bad_files)
        result.files_read = len(read)
        # Bad files and records are named by the caller (the CLI, the stage), once each.
        return result

    def _read(
        self, text: str, bound: Mapping[str, Any], files: list[str], bad: list[BadFile]
    ) -> tuple[list[str], list[dict[str, Any]], list[str]]:
        """Columns, rows and the files read; the files left out are appended to `bad`."""
        import duckdb

        if not files:
            return [], [], []
        try:
            return *self._run(text, bound, files), files
        except duckdb.Error:
            pass
        parsed = []
        for name in files:
            check = self._check(Path(name), full=True)
            if check.reason:
                bad.append(BadFile(name, check.reason))
            else:
                parsed.append(name)
        if not parsed:
            return [], [], []
        if len(parsed) < len(files):
            try:
                return *self._run(text, bound, parsed), parsed
            except duckdb.Error:
                pass
        refused: list[BadFile] = []
        readable = self._isolate(text, bound, parsed, refused)
        if not readable and len(parsed) > 1:
            # No file reads alone: the query is at fault, not the files.
            raise TrailQueryError(f"DuckDB query failed on every file: {refused[0].reason}")
        bad.extend(refused)
        if not readable:
            return [], [], []
        return *self._run(text, bound, readable), readable

    def _check(self, path: Path, *, full: bool) -> FileCheck:
        """`check_file`, remembered per file while its size and mtime stay the same: the
        stage runs two queries over mostly the same files."""
        try:
            stat = path.stat()
        except OSError as exc:
            return FileCheck(f"cannot read it: {exc.strerror or exc}")
        key = (stat.st_size, stat.st_mtime_ns)
        cached = self._checked.get(path)
        if cached is not None and cached[0] == key and (cached[1] or not full):
            return cached[2]
        check = check_file(path, full=full)
        self._checked[path] = (key, full, check)
        return check

    def _warn_unexpected(self, paths: Sequence[str]) -> None:
        """One warning naming the paths not warned about yet by this engine."""
        new = [p for p in paths if p not in self._warned]
        if not new:
            return
        self._warned.update(new)
        more = f" and {len(new) - _NAMED} more" if len(new) > _NAMED else ""
        log.warning(
            "skipped %s paths in the trail tree that are not where CloudTrail writes events "
            "(<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz): %s%s",
            len(new),
            ", ".join(new[:_NAMED]),
            more,
            extra={"paths": new},
        )

    def _run(
        self, text: str, bound: Mapping[str, Any], files: list[str]
    ) -> tuple[list[str], list[dict[str, Any]]]:
        cursor = self._con.execute(text, {**bound, "files": files})
        # fetchall, not fetchone: duckdb 2.0 can leave a half-read result blocking the connection.
        data = cursor.fetchall()
        columns = [d[0] for d in cursor.description or []]
        return columns, [dict(zip(columns, row, strict=True)) for row in data]

    def _isolate(
        self, text: str, bound: Mapping[str, Any], files: list[str], bad: list[BadFile]
    ) -> list[str]:
        """The files among `files` DuckDB reads; each one it refuses alone goes to `bad`."""
        import duckdb

        try:
            self._run(text, bound, files)
        except duckdb.Error as exc:
            if len(files) == 1:
                bad.append(BadFile(files[0], "DuckDB: " + str(exc).splitlines()[0]))
                return []
            half = len(files) // 2
            return self._isolate(text, bound, files[:half], bad) + self._isolate(
                text, bound, files[half:], bad
            )
        return files


def _list_or_none(value: ParamValue) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError("partition filters take a list of values")
    return [str(v) for v in value]
