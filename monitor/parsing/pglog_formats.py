"""csvlog, jsonlog (PostgreSQL 15+) and RDS's iam-db-auth-error export.

Each class has the same shape as `StderrFormat`: `cut(buf, lo)` says where a chunk may end,
`process(buf, end)` turns buf[:end] into events, `finish()` flushes what waits.
"""

from __future__ import annotations

import csv
import json
import re
from functools import partial

from monitor.models import AuthEvent
from monitor.parsing import iam_auth_error
from monitor.parsing.pglog_classify import Classifier
from monitor.parsing.pglog_messages import Record, clean, split_remote
from monitor.parsing.pglog_prefix import parse_pg_time
from monitor.parsing.pglog_stats import ParseStats
from monitor.parsing.proxylog import Unrecognised

# csvlog columns (PostgreSQL 15 docs, "Using CSV-Format Log Output"); 13+ has 24 or more.
_CSV_TIME, _CSV_USER, _CSV_DB, _CSV_PID, _CSV_FROM = 0, 1, 2, 3, 4
_CSV_SEV, _CSV_MSG, _CSV_DETAIL, _CSV_APP = 11, 13, 14, 22
_CSV_MIN_COLUMNS = 23
# csv's default limit is 128 KiB a field, and any statement can be longer. The largest
# entry the parser carries is LogParser's _MAX_CARRY (16 MiB). Process-wide, and only
# ever raised.
csv.field_size_limit(max(csv.field_size_limit(), 64 << 20))

_JSON_MARKER = re.compile(
    rb'"message":"(?:connection |disconnection|pam_authenticate|replication connection)'
)
_JSON_FATAL = b'"error_severity":"FATAL"'
_JSON_SEVERITY = b'"error_severity":'


def _line_cut(buf: bytes, lo: int) -> int:
    return buf.rfind(b"\n", lo) + 1


class JsonFormat:
    """One JSON object per line; only lines with an interesting message are decoded.

    Every jsonlog object has an "error_severity" key (elog.c, write_jsonlog), so a line
    without one is not an entry, whatever else it holds.
    """

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
        entries = min(lines - len(bad_starts), buf.count(_JSON_SEVERITY, 0, end))
        if entries < lines - len(bad_starts):
            bad_starts = sorted({*bad_starts, *self._without_severity(buf, end)})
        for start in bad_starts[: stats.max_samples]:
            stats.add_sample(buf[start : buf.find(b"\n", start, end)])
        stats.lines += lines
        stats.entries += entries
        stats.unparsed += lines - entries
        starts = {buf.rfind(b"\n", 0, m.start()) + 1 for m in _JSON_MARKER.finditer(buf, 0, end)}
        i = buf.find(_JSON_FATAL, 0, end)
        while i >= 0:
            starts.add(buf.rfind(b"\n", 0, i) + 1)
            i = buf.find(_JSON_FATAL, i + 1, end)
        events: list[AuthEvent] = []
        for start in sorted(starts):
            line = buf[start : buf.find(b"\n", start, end)]
            rec = self._record(line)
            found = None if rec is None else self.classifier.read(rec, partial(_text, line))
            if found is None:
                if line[:1] == b"{" and _JSON_SEVERITY in line:  # counted as an entry above
                    stats.entries -= 1
                    stats.unparsed += 1
                    stats.add_sample(line)
                continue
            events.extend(found)
        return events

    @staticmethod
    def _without_severity(buf: bytes, end: int) -> list[int]:
        out, start = [], 0
        while start < end:
            stop = buf.find(b"\n", start, end)
            if buf[start : start + 1] == b"{" and _JSON_SEVERITY not in buf[start:stop]:
                out.append(start)
            start = stop + 1
        return out

    def finish(self) -> list[AuthEvent]:
        return []

    @staticmethod
    def _record(line: bytes) -> Record | None:
        try:
            obj: object = json.loads(line)
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


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace")


def _str(value: object) -> str | None:
    return None if value is None else str(value)


class CsvFormat:
    """csvlog: quoted fields may hold newlines, so a chunk ends only outside quotes.

    Quote parity is tracked as bytes arrive, so a long multi-line statement costs linear
    time. A record that cannot be read is skipped up to the next line that starts a
    record (a timestamp, then the user and database fields), and the skipped lines are
    counted as unparsed.
    """

    def __init__(self, stats: ParseStats, classifier: Classifier) -> None:
        self.stats = stats
        self.classifier = classifier
        self._scanned = 0  # bytes of the carried buffer whose quotes are counted
        self._odd = False  # quote parity of those bytes
        self._cut = 0  # the last boundary `cut` returned

    def cut(self, buf: bytes, lo: int) -> int:
        start = min(self._scanned, len(buf))
        # CSV doubles quotes inside fields, so an even count means "outside a field".
        odd = self._odd ^ bool(buf.count(b'"', start) & 1)
        self._scanned, self._odd = len(buf), odd
        # Newlines before `start` are inside a field (the last cut took every other one),
        # so only new ones are candidates: walk back from the end, one line at a time.
        after = len(buf)
        k = buf.rfind(b"\n", start)
        while k >= 0:
            odd ^= bool(buf.count(b'"', k + 1, after) & 1)
            if not odd:
                self._cut = k + 1
                return k + 1
            after = k + 1
            k = buf.rfind(b"\n", start, k)
        return 0

    def process(self, buf: bytes, end: int) -> list[AuthEvent]:
        if end == self._cut and self._scanned >= end:
            self._scanned -= end  # parity of what is carried is unchanged: buf[:end] is even
        else:  # the caller cut elsewhere (an entry longer than it carries, or the end)
            self._scanned, self._odd = 0, False
        self._cut = 0
        # Hand csv one physical line at a time: left to itself it also ends lines at a lone
        # "\r", and would then find more records than there are lines.
        lines = buf[:end].decode("utf-8", "replace").split("\n")[:-1]
        self.stats.lines += len(lines)
        events: list[AuthEvent] = []
        i = 0
        while i < len(lines):
            i = self._read(lines, i, events)
        return events

    def _read(self, lines: list[str], first: int, events: list[AuthEvent]) -> int:
        """Read records from line `first` on; at a broken one, the line to resume at."""
        reader = csv.reader(lines[k] + "\n" for k in range(first, len(lines)))
        stats = self.stats
        done = first
        while True:
            start = done
            try:
                row: list[str] | None = next(reader)
            except StopIteration:
                return len(lines)
            except csv.Error:
                row = None
            done = first + reader.line_num
            rec = self._record(row) if row is not None else None
            # A record holding a line that starts a record swallowed it (a quote left
            # open): the server doubles every quote inside a field, so a statement that
            # quotes a record never looks like one.
            if rec is not None and done - start > 1 and _next_record(lines, start + 1, done) < done:
                rec = None
            if rec is None:
                # A row that cannot be read has no extent we can trust (a quote left open
                # swallows the records after it): resume at the next line that starts a
                # record. Only such a failure does: a statement holding text shaped like a
                # record stays in its field.
                resume = _next_record(lines, start + 1)
                stats.unparsed += resume - start
                stats.add_sample("\n".join(lines[start : min(resume, start + 3)]).encode())
                return resume
            stats.entries += 1
            if rec.severity in ("LOG", "FATAL"):
                raw = partial("\n".join, lines[start:done])
                found = self.classifier.read(rec, raw)
                if found is None:
                    stats.entries -= 1
                    stats.unparsed += 1
                    stats.add_sample(raw().encode())
                else:
                    events.extend(found)

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


# A csvlog record's first line: time, user and database (quoted, with quotes doubled, or
# empty), pid.
_CSV_NAME = r'(?:"(?:[^"]|""){0,126}"|)'
CSV_START = re.compile(
    rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{3}} [^,]{{0,16}},{_CSV_NAME},{_CSV_NAME},\d+,"
)


def _next_record(lines: list[str], start: int, stop: int | None = None) -> int:
    """The first line from `start` (up to `stop`) that starts a record, else `stop`."""
    stop = len(lines) if stop is None else stop
    for k in range(start, stop):
        if CSV_START.match(lines[k]):
            return k
    return stop


class IamAuthErrorFormat:
    """The iam-db-auth-error log: one line per failed IAM login, so every line is read
    (monitor/parsing/iam_auth_error.py reads each: its reason code and caller ARN)."""

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
            read = iam_auth_error.parse_line(raw.decode("utf-8", "replace"))
            if isinstance(read, Unrecognised) and read.why != "unknown message":
                stats.unparsed += 1
                stats.add_sample(raw)
                continue
            # A line in the export's shape that is no failure (a start-up notice) is an
            # entry without an event.
            stats.entries += 1
            if not isinstance(read, Unrecognised):
                events.append(read.to_auth_event(self.source))
        return events

    def finish(self) -> list[AuthEvent]:
        return []


class UnknownFormat:
    """An input in a format pgwarden does not read: every line is counted as unparsed."""

    def __init__(self, stats: ParseStats) -> None:
        self.stats = stats

    cut = staticmethod(_line_cut)

    def process(self, buf: bytes, end: int) -> list[AuthEvent]:
        lines = buf.count(b"\n", 0, end)
        self.stats.lines += lines
        self.stats.unparsed += lines
        start = 0
        while start < end and len(self.stats.samples) < self.stats.max_samples:
            stop = buf.find(b"\n", start, end)
            self.stats.add_sample(buf[start:stop])
            start = stop + 1
        return []

    def finish(self) -> list[AuthEvent]:
        return []


# BSD syslog (`Nov 23 03:00:00 host postgres[123]: [1-1] ...`) and RFC 5424 (`<134>1 ...`).
_SYSLOG = re.compile(
    r"(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ \S+?(?:\[\d+\])?: |1 \S+ \S+ \S+ )"
)


def unknown_kind(sample: bytes) -> str | None:
    """What a log pgwarden cannot read looks like, from its first line; None otherwise."""
    first = next((ln for ln in sample.split(b"\n") if ln.strip()), b"")
    first = first.removeprefix(b"\xef\xbb\xbf").strip()
    if first.startswith(b"{"):
        try:
            obj: object = json.loads(first)
        except ValueError:
            return None  # cut off by the sample, or broken: jsonlog counts it
        if not isinstance(obj, dict) or "error_severity" in obj:
            return None
        if "textPayload" in obj or "cloudsql" in str(obj.get("logName", "")):
            return "a Cloud SQL (Cloud Logging) JSON export"
        if "logger" in obj and ("record" in obj or "logging_pod" in obj):
            return "CloudNativePG's JSON log"
        return "JSON lines that are not PostgreSQL's jsonlog"
    if _SYSLOG.match(first.decode("utf-8", "replace")):
        return "syslog"
    return None
