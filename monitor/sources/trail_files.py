"""Which CloudTrail files a window needs, and whether each one can be read at all.

Two layouts are read:

* the S3 layout CloudTrail writes,
  `<root>/[prefix/]AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz`.
  Only the accounts, regions and days asked for are opened, as Athena's partition
  projection does. Anything under `CloudTrail/` that is not a region, year, month, day or
  trail file is named (`unexpected`), so a `us_east_1` folder is never passed over in
  silence. `CloudTrail-Digest/` holds the integrity digests, not events ("CloudTrail log
  file integrity validation", CloudTrail User Guide): it sits beside `CloudTrail/` and is
  never read;
* exported events: a file, or a folder with no AWSLogs tree, holding `{"Records": [...]}`
  objects, bare JSON arrays or JSON Lines (Stratus Red Team detonation logs, SIEM and
  CloudTrail Lake exports), gzipped or not. There are no partitions to prune by: every
  file is read, and the records' own eventTime decides the window.

`check_file` decides before DuckDB opens a file whether it could read it. DuckDB fails a
whole query on one damaged file, and its message does not always name the file (`IO Error:
Failed to decode gzip stream: data error`). Checking the gzip stream (complete, CRC right),
UTF-8 and the JSON's outer shape in Python costs 6 to 16% of the query (bench/trail.py)
and never re-runs the query. The full JSON parse (`full=True`) costs as much as the query
itself, so it runs on every exported file (they are small, and their records without
eventTime are counted here) but on S3-layout files only when DuckDB still refuses the
checked ones.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from monitor.errors import PgwardenError
from monitor.models import ORG_ID

ACCOUNT = re.compile(r"[0-9]{12}")
REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]")
TRAIL_SUFFIXES = (".json.gz", ".json")
EXPORT_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
# The same cap as maximum_object_size in queries/duckdb/cloudtrail_records.sql.
MAX_OBJECT_BYTES = 128 * 1024 * 1024
# How deep under the given directory to look for AWSLogs (a bucket copy with a prefix).
_MAX_PREFIX_DEPTH = 3
_SILENT = frozenset({"CloudTrail-Digest", "CloudTrail-Insight"})
_EVENT_KEYS = ("eventID", "eventTime", "eventName")


class TrailDirError(PgwardenError):
    """The local trail path does not exist or holds neither an AWSLogs tree nor events."""


@dataclass(frozen=True)
class BadFile:
    path: str
    reason: str


@dataclass(frozen=True)
class FileCheck:
    """A file's verdict: `reason` is None when DuckDB can read it."""

    reason: str | None = None
    # Records without eventTime (full checks only): no window can hold them.
    without_time: int = 0


@dataclass
class TrailFiles:
    files: list[Path]
    exported: bool = False
    unexpected: list[str] = field(default_factory=list)


def find_files(
    root: Path,
    first_day: date,
    last_day: date,
    accounts: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
) -> TrailFiles:
    """The trail files of the given days (inclusive), accounts and regions (None: all)."""
    if not root.exists():
        raise TrailDirError(f"{root}: trail directory or file not found")
    logs_roots = aws_logs_roots(root) if root.is_dir() else []
    if not logs_roots:
        return _exported(root)
    found = TrailFiles([])
    for logs in logs_roots:
        for account_dir in _account_dirs(logs, found.unexpected):
            trail = account_dir / "CloudTrail"
            if (accounts is None or account_dir.name in accounts) and trail.is_dir():
                _walk_trail(trail, first_day, last_day, regions, found)
    return found


def aws_logs_roots(root: Path) -> list[Path]:
    """Every AWSLogs directory at or under `root`, at most a few levels down."""
    if root.name == "AWSLogs":
        return [root]
    level = [root]
    for _ in range(_MAX_PREFIX_DEPTH):
        found = [c for d in level for c in _children(d) if c.is_dir() and c.name == "AWSLogs"]
        if found:
            return found
        level = [c for d in level for c in _children(d) if c.is_dir() and not _hidden(c)]
    return []


def all_files(root: Path) -> list[Path]:
    """Every trail file under `root` (for the benchmark's pruning figure)."""
    return [
        p
        for logs in aws_logs_roots(root)
        for p in sorted(logs.rglob("*"))
        if p.is_file() and p.name.endswith(TRAIL_SUFFIXES) and "CloudTrail-Digest" not in p.parts
    ]


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _walk_trail(
    trail: Path,
    first_day: date,
    last_day: date,
    regions: Sequence[str] | None,
    found: TrailFiles,
) -> None:
    wanted = list(days(first_day, last_day))
    years = {f"{d:%Y}" for d in wanted}
    months = {f"{d:%Y/%m}" for d in wanted}
    day_names = {f"{d:%Y/%m/%d}" for d in wanted}
    for region_dir in _children(trail):
        if not (region_dir.is_dir() and REGION.fullmatch(region_dir.name)):
            found.unexpected.append(str(region_dir))
        elif regions is None or region_dir.name in regions:
            for year in _named(region_dir, r"20[0-9]{2}", found.unexpected):
                if year.name not in years:
                    continue
                for month in _named(year, r"0[1-9]|1[0-2]", found.unexpected):
                    if f"{year.name}/{month.name}" not in months:
                        continue
                    for day in _named(month, r"0[1-9]|[12][0-9]|3[01]", found.unexpected):
                        if f"{year.name}/{month.name}/{day.name}" in day_names:
                            _day_files(day, found)


def _day_files(day: Path, found: TrailFiles) -> None:
    for path in _children(day):
        if path.is_file() and path.name.endswith(TRAIL_SUFFIXES):
            found.files.append(path)
        else:
            found.unexpected.append(str(path))


def _named(directory: Path, pattern: str, unexpected: list[str]) -> Iterator[Path]:
    """The sub-directories whose name is `pattern`; anything else is noted as unexpected."""
    for child in _children(directory):
        if child.is_dir() and re.fullmatch(pattern, child.name):
            yield child
        else:
            unexpected.append(str(child))


def _account_dirs(logs: Path, unexpected: list[str]) -> Iterator[Path]:
    for child in _children(logs):
        if ACCOUNT.fullmatch(child.name):
            yield child
        elif ORG_ID.fullmatch(child.name):
            # An organisation trail adds the org id above the account directories.
            yield from (c for c in _children(child) if ACCOUNT.fullmatch(c.name))
        elif not _hidden(child):
            unexpected.append(str(child))


def _exported(root: Path) -> TrailFiles:
    if root.is_file():
        return TrailFiles([root], exported=True)
    files: list[Path] = []
    others: list[str] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or _hidden(path) or _SILENT & set(path.parts):
            continue
        if path.name.endswith(EXPORT_SUFFIXES):
            files.append(path)
        else:
            others.append(str(path))
    if not files:
        raise TrailDirError(
            f"{root}: no AWSLogs directory and no exported events found (expected "
            "AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz as CloudTrail writes "
            "to S3, or files of exported events: *.json, *.jsonl, *.ndjson, gzipped or not)"
        )
    return TrailFiles(files, exported=True, unexpected=others)


def _children(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except OSError as exc:
        raise TrailDirError(
            f"{directory}: cannot list it ({exc.strerror or exc}); give pgwarden read access"
        ) from None


def _hidden(path: Path) -> bool:
    return path.name.startswith(".")


def check_file(path: Path, *, full: bool) -> FileCheck:
    """Can DuckDB read this file? Every reason names what is wrong and what to do."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return FileCheck(f"cannot read it: {exc.strerror or exc}")
    if not raw:
        return FileCheck("empty file (an upload that never finished?)")
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            return FileCheck(f"not a complete gzip stream ({exc}); fetch the object again")
    elif raw[:2] == b"\x1f\x8b":
        return FileCheck("gzip data in a file not named .gz; add .gz to its name")
    if len(raw) > MAX_OBJECT_BYTES:
        return FileCheck(f"over {MAX_OBJECT_BYTES >> 20} MB uncompressed; split it")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        return FileCheck(f"not UTF-8 (byte {exc.start} is {raw[exc.start]:#04x})")
    if not text:
        return FileCheck("holds only white space, no events")
    if not full:
        if text[0] not in "{[" or text[-1] not in "}]":
            return FileCheck("not JSON: it does not begin and end like a JSON object or array")
        return FileCheck()
    return _check_json(text)


def _check_json(text: str) -> FileCheck:
    try:
        value: object = json.loads(text)
    except json.JSONDecodeError as whole:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            return FileCheck(f"not JSON: {whole.msg} at line {whole.lineno}")
        value = []
        for number, line in enumerate(lines, 1):
            try:
                value.append(json.loads(line))
            except json.JSONDecodeError as exc:
                return FileCheck(f"neither JSON nor JSON Lines: line {number}: {exc.msg}")
    if isinstance(value, dict) and "Records" in value:
        records = value["Records"]
        if not isinstance(records, list):
            return FileCheck('"Records" is not an array')
    elif isinstance(value, dict):
        records = [value]
    elif isinstance(value, list):
        records = value
    else:
        return FileCheck("not CloudTrail events: neither an object nor an array")
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not any(k in record for k in _EVENT_KEYS):
            return FileCheck(
                f"not CloudTrail events: record {index} is not an object with eventID, "
                'eventTime or eventName (and there is no "Records" array)'
            )
    return FileCheck(without_time=sum(1 for r in records if not r.get("eventTime")))
