"""csvlog, jsonlog (PostgreSQL 15+) and RDS's iam-db-auth-error export.

Each class has the same shape as `StderrFormat`: `cut(buf, lo)` says where a chunk may end,
`process(buf, end)` turns buf[:end] into events, `finish()` flushes what waits.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from typing import Any

from monitor.models import AuthEvent
from monitor.parsing.pglog_classify import Classifier, Record, clean, split_remote
from monitor.parsing.pglog_prefix import ISO_STAMP, parse_pg_time
from monitor.parsing.pglog_stats import ParseStats

# csvlog columns (PostgreSQL 15 docs, "Using CSV-Format Log Output"); 13+ has 24 or more.
_CSV_TIME, _CSV_USER, _CSV_DB, _CSV_PID, _CSV_FROM = 0, 1, 2, 3, 4
_CSV_SEV, _CSV_MSG, _CSV_DETAIL, _CSV_APP = 11, 13, 14, 22
_CSV_MIN_COLUMNS = 23

_JSON_MARKER = re.compile(
    rb'"message":"(?:connection |disconnection|pam_authenticate|replication connection)'
)
_JSON_FATAL = b'"error_severity":"FATAL"'


def _line_cut(buf: bytes, lo: int) -> int:
    return buf.rfind(b"\n", lo) + 1


class JsonFormat:
    """One JSON object per line; only lines with an interesting message are decoded."""

    def __init__(self, stats: ParseStats, classifier: Classifier) -> None:
        self.stats = stats
        self.classifier = classifier
        self._bad = re.compile(rb"\n(?!\{)")

    cut = staticmethod(_line_cut)

    def process(self, buf: bytes, end: int) -> list[AuthEvent]:
        stats = self.stats
        lines = buf.count(b"\n", 0, end)
        bad_starts = [0] if buf[:1] != b"{" else []
        bad_starts += [m.start() + 1 for m in self._bad.finditer(buf, 0, end - 1)]
        for start in bad_starts[: stats.max_samples]:
            stats.add_sample(buf[start : buf.find(b"\n", start, end)])
        stats.lines += lines
        stats.entries += lines - len(bad_starts)
        stats.unparsed += len(bad_starts)
        starts = {buf.rfind(b"\n", 0, m.start()) + 1 for m in _JSON_MARKER.finditer(buf, 0, end)}
        i = buf.find(_JSON_FATAL, 0, end)
        while i >= 0:
            starts.add(buf.rfind(b"\n", 0, i) + 1)
            i = buf.find(_JSON_FATAL, i + 1, end)
        events: list[AuthEvent] = []
        for start in sorted(starts):
            line = buf[start : buf.find(b"\n", start, end)]
            rec = self._record(line)
            if rec is None:
                if line[:1] == b"{":  # counted as an entry above
                    stats.entries -= 1
                    stats.unparsed += 1
                    stats.add_sample(line)
                continue
            events.extend(self.classifier.classify(rec))
        return events

    def finish(self) -> list[AuthEvent]:
        return []

    @staticmethod
    def _record(line: bytes) -> Record | None:
        try:
            obj: Any = json.loads(line)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        moment = parse_pg_time(str(obj.get("timestamp", "")))
        if moment is None:
            return None
        port, pid = obj.get("remote_port"), obj.get("pid")
        return Record(
            time=moment,
            severity=str(obj.get("error_severity", "")),
            message=str(obj.get("message", "")),
            user=clean(_str(obj.get("user"))),
            database=clean(_str(obj.get("dbname"))),
            pid=pid if isinstance(pid, int) else None,
            host=clean(_str(obj.get("remote_host"))),
            port=port if isinstance(port, int) else None,
            application_name=clean(_str(obj.get("application_name"))),
            detail=_str(obj.get("detail")),
        )


def _str(value: object) -> str | None:
    return None if value is None else str(value)


class CsvFormat:
    """csvlog: quoted fields may hold newlines, so a chunk ends only outside quotes."""

    def __init__(self, stats: ParseStats, classifier: Classifier) -> None:
        self.stats = stats
        self.classifier = classifier

    @staticmethod
    def cut(buf: bytes, lo: int) -> int:
        k = buf.rfind(b"\n", lo)
        while k >= 0:
            # CSV doubles quotes inside fields, so an even count means "outside a field".
            if buf.count(b'"', 0, k + 1) % 2 == 0:
                return k + 1
            k = buf.rfind(b"\n", lo, k)
        return 0

    def process(self, buf: bytes, end: int) -> list[AuthEvent]:
        stats = self.stats
        stats.lines += buf.count(b"\n", 0, end)
        # Hand csv one physical line at a time: left to itself it also ends lines at a lone
        # "\r", and would then find more records than there are lines.
        text = buf[:end].decode("utf-8", "replace")
        reader = csv.reader(line + "\n" for line in text.split("\n")[:-1])
        events: list[AuthEvent] = []
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error:
                stats.unparsed += 1
                continue
            rec = self._record(row)
            if rec is None:
                stats.unparsed += 1
                stats.add_sample(",".join(row).encode())
                continue
            stats.entries += 1
            if rec.severity in ("LOG", "FATAL"):
                events.extend(self.classifier.classify(rec))
        return events

    def finish(self) -> list[AuthEvent]:
        return []

    @staticmethod
    def _record(row: list[str]) -> Record | None:
        if len(row) < _CSV_MIN_COLUMNS:
            return None
        moment = parse_pg_time(row[_CSV_TIME])
        if moment is None or not row[_CSV_PID].isdigit():
            return None
        remote = row[_CSV_FROM]
        host, port = split_remote(remote)
        if port is None and remote.rpartition(":")[2].isdigit():
            # csvlog writes host:port (IPv6 hosts hold colons, so split on the last one).
            h, _, p = remote.rpartition(":")
            host, port = h, int(p)
        return Record(
            time=moment,
            severity=row[_CSV_SEV],
            message=row[_CSV_MSG],
            user=clean(row[_CSV_USER]),
            database=clean(row[_CSV_DB]),
            pid=int(row[_CSV_PID]),
            host=clean(host),
            port=port,
            application_name=clean(row[_CSV_APP]),
            detail=row[_CSV_DETAIL] or None,
        )


# `2025-08-11T04:00:05,804 [ERROR] Failed to authenticate the connection request for user
# 'x' because ...`: the time has no zone; RDS hosts log in UTC.
IAM_LINE = re.compile(
    rf"(?:{ISO_STAMP}\s+(?:[^\s:]+\s+)?)?"  # as `aws logs` prints it
    r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[,.]\d+)?)(?P<tz>Z|[+-]\d\d:?\d\d)?"
    r" ?\[(?P<level>[A-Z]+)\] ?(?P<msg>.*?)\r?"
)
_IAM_FAILED = re.compile(
    r"Failed to authenticate the connection request for user (?:'(?P<q>.*)'|(?P<bare>\S+))"
    r"(?: because (?P<reason>.*))?"
)


class IamAuthErrorFormat:
    """The iam-db-auth-error log: one line per failed IAM login, so every line is read."""

    def __init__(self, stats: ParseStats, classifier: Classifier) -> None:
        self.stats = stats
        self.source = classifier.source

    cut = staticmethod(_line_cut)

    def process(self, buf: bytes, end: int) -> list[AuthEvent]:
        stats = self.stats
        events: list[AuthEvent] = []
        for raw in buf[:end].split(b"\n")[:-1]:
            stats.lines += 1
            if raw[:1] in (b"\t", b" ") and raw.strip():
                continue  # a continuation of the entry before
            m = IAM_LINE.fullmatch(raw.decode("utf-8", "replace"))
            moment = _iam_time(m.group("ts"), m.group("tz")) if m else None
            if m is None or moment is None:
                stats.unparsed += 1
                stats.add_sample(raw)
                continue
            stats.entries += 1
            failed = _IAM_FAILED.fullmatch(m.group("msg").rstrip("."))
            if failed is not None:
                reason = failed.group("reason")
                events.append(
                    AuthEvent(
                        time=moment,
                        kind="auth_failed",
                        user=failed.group("q") or failed.group("bare"),
                        method="iam",
                        reason=reason.strip() if reason else None,
                        source=self.source,
                    )
                )
        return events

    def finish(self) -> list[AuthEvent]:
        return []


def _iam_time(stamp: str, zone: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(stamp.replace(",", "."))
    except ValueError:
        return None
    if zone:
        tz = datetime.fromisoformat("2000-01-01T00:00:00" + zone.replace("Z", "+00:00")).tzinfo
        return moment.replace(tzinfo=tz).astimezone(UTC)
    return moment.replace(tzinfo=UTC)
