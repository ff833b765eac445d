"""PostgreSQL logs to auth events: pure, streaming, no I/O of its own and no clock.

    parser = LogParser(fmt="auto", prefix="%t:%r:%u@%d:[%p]:", source="postgresql.log")
    for block in blocks:              # bytes, any size, cut anywhere
        events += parser.feed(block)
    events += parser.finish()
    parser.stats                      # lines, entries, unparsed, suspicious, samples
    parser.take_suspicious()          # entries refused as evidence since the last call

Formats: stderr with any `log_line_prefix` (also as CloudWatch Logs holds it, with or
without the leading ISO timestamp that exports add), csvlog, jsonlog and RDS's
iam-db-auth-error export; "auto" decides from the first lines, and names what it sees
when that is none of them (`parser.unknown`). Memory stays bounded by the chunk size plus
the longest entry: nothing keeps a whole file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

from monitor.models import AUTH_EVENT_KINDS, AuthEvent, SuspiciousEntry
from monitor.parsing import iam_auth_error
from monitor.parsing.pglog_classify import Classifier, Suspect
from monitor.parsing.pglog_formats import (
    CSV_START,
    CsvFormat,
    IamAuthErrorFormat,
    JsonFormat,
    UnknownFormat,
    unknown_kind,
)
from monitor.parsing.pglog_prefix import compile_prefix, leading_time, parse_pg_time
from monitor.parsing.pglog_stats import ParseStats
from monitor.parsing.pglog_stderr import StderrFormat

DEFAULT_PREFIX = "%t:%r:%u@%d:[%p]:"
FORMATS = ("auto", "stderr", "csvlog", "jsonlog", "iam-db-auth-error")
# What pgwarden reads, for the line that names an input it cannot read.
READS = (
    "PostgreSQL stderr logs (with their log_line_prefix), csvlog, jsonlog,"
    " and RDS's iam-db-auth-error log"
)
CHUNK_SIZE = 1 << 20
_SNIFF_BYTES = 64 << 10
_SNIFF_LINES = 20
# An entry longer than this is processed in pieces rather than held whole.
_MAX_CARRY = 16 << 20
# How far a stderr record's own %t may be from the time CloudWatch Logs gives it: RDS
# publishes within minutes; a forged record carries whatever time its forger chose.
RECORD_SKEW = timedelta(minutes=15)
_FAR_FROM_RECORD = "its time is over 15 minutes from the record's own timestamp"


class _Format(Protocol):
    def cut(self, buf: bytes, lo: int) -> int: ...
    def process(self, buf: bytes, end: int) -> list[AuthEvent]: ...
    def finish(self) -> list[AuthEvent]: ...


def detect_format(sample: bytes, prefix: str = DEFAULT_PREFIX) -> str:
    """Which format the first lines are in; stderr when nothing decides, and "unknown"
    for a log pgwarden recognises but cannot read (see `unknown_kind`)."""
    if unknown_kind(sample) is not None:
        return "unknown"
    stderr_rx = compile_prefix(prefix).line
    seen = 0
    for raw in sample.split(b"\n")[:-1] or [sample]:
        line = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace").rstrip("\r")
        if not line.strip() or line[0] in "\t ":
            continue
        if line.startswith("{"):
            return "jsonlog"
        if iam_auth_error.LINE.fullmatch(line):
            return "iam-db-auth-error"
        if stderr_rx.fullmatch(line):
            return "stderr"
        if CSV_START.match(line) and line.count(",") >= 22:
            return "csvlog"
        seen += 1
        if seen >= _SNIFF_LINES:
            break
    return "stderr"


class LogParser:
    """Feed bytes, get events; see the module docstring."""

    def __init__(
        self,
        fmt: str = "auto",
        prefix: str = DEFAULT_PREFIX,
        source: str = "",
        max_samples: int = 5,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown log format {fmt!r}; known: {', '.join(FORMATS)}")
        self.prefix = prefix
        self.stats = ParseStats(max_samples=max_samples)
        self.classifier = Classifier(source, self.stats)
        self._stamp = leading_time(prefix)  # also: a bad prefix fails now, not later
        self.format: str | None = None if fmt == "auto" else fmt
        self.unknown: str | None = None  # what an unreadable input looks like
        self._impl: _Format | None = None if fmt == "auto" else self._make(fmt)
        self._buf = b""
        self._skipping = False  # inside a line longer than _MAX_CARRY without a newline

    def feed(self, data: bytes) -> list[AuthEvent]:
        if self._skipping:
            newline = data.find(b"\n")
            if newline < 0:
                return []
            self._skipping = False
            data = data[newline + 1 :]
        lo = max(0, len(self._buf) - 1)
        buf = self._buf + data if self._buf else data
        impl = self._impl
        if impl is None:
            if len(buf) < _SNIFF_BYTES:
                self._buf = buf
                return []
            impl = self._choose(buf)
            lo = 0
        cut = impl.cut(buf, lo)
        if cut == 0 and len(buf) > _MAX_CARRY:
            cut = buf.rfind(b"\n") + 1
            if cut == 0:
                # One enormous line: count it once, keep a sample, and drop the rest of it.
                self.stats.lines += 1
                self.stats.unparsed += 1
                self.stats.add_sample(buf)
                self._buf, self._skipping = b"", True
                return []
        if cut == 0:
            self._buf = buf
            return []
        self._buf = buf[cut:]
        return impl.process(buf, cut)

    def finish(self) -> list[AuthEvent]:
        """Flush the last entry (a truncated last line counts as a line) and pending pairs."""
        buf, self._buf = self._buf, b""
        impl = self._impl or self._choose(buf)
        events: list[AuthEvent] = []
        if buf:
            if not buf.endswith(b"\n"):
                buf += b"\n"
            events.extend(impl.process(buf, len(buf)))
        events.extend(impl.finish())
        events.extend(self.classifier.finish())
        return events

    def take_suspicious(self) -> list[SuspiciousEntry]:
        """The entries refused as evidence since the last call."""
        found, self.classifier.suspicious = self.classifier.suspicious, []
        return found

    def feed_record(self, message: str, record_ms: int | None) -> list[AuthEvent]:
        """One log record (a CloudWatch Logs event) and the time the service gave it.

        A stderr record whose own %t is far from that time is refused as evidence: its
        prefix was written by a client (a name holding a newline starts a record of its
        own), or the record is not what it claims to be.
        """
        data = message.rstrip("\n").encode("utf-8", "replace") + b"\n"
        if record_ms is not None and self._stamp is not None and self.format == "stderr":
            m = self._stamp.match(message)
            moment = parse_pg_time(m.group("ts")) if m else None
            record = datetime.fromtimestamp(record_ms / 1000, UTC)
            if moment is not None and abs(moment - record) > RECORD_SKEW:
                self.stats.lines += data.count(b"\n")
                self.stats.entries += 1
                suspect = Suspect(_FAR_FROM_RECORD, record, None, None, False)
                return self.classifier.refuse(suspect, message)
        return self.feed(data)

    def _choose(self, sample: bytes) -> _Format:
        self.format = detect_format(sample[:_SNIFF_BYTES], self.prefix)
        if self.format == "unknown":
            self.unknown = unknown_kind(sample[:_SNIFF_BYTES])
        self._impl = self._make(self.format)
        return self._impl

    def _make(self, fmt: str) -> _Format:
        if fmt == "unknown":
            return UnknownFormat(self.stats)
        if fmt == "stderr":
            return StderrFormat(self.prefix, self.stats, self.classifier)
        if fmt == "csvlog":
            return CsvFormat(self.stats, self.classifier)
        if fmt == "jsonlog":
            return JsonFormat(self.stats, self.classifier)
        return IamAuthErrorFormat(self.stats, self.classifier)


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def parse_stream(
    stream: Readable, parser: LogParser, chunk_size: int = CHUNK_SIZE
) -> Iterator[AuthEvent | SuspiciousEntry]:
    """Events and suspicious entries from a binary stream, read `chunk_size` bytes at a
    time; then `finish()`."""
    while data := stream.read(chunk_size):
        yield from parser.feed(data)
        yield from parser.take_suspicious()
    yield from parser.finish()
    yield from parser.take_suspicious()


def parse_messages(
    messages: Iterable[tuple[int | None, str]], parser: LogParser
) -> list[AuthEvent]:
    """Events from log records such as CloudWatch Logs events: (timestamp in ms or None,
    message), one entry per message. Suspicious entries wait in the parser."""
    events: list[AuthEvent] = []
    for record_ms, message in messages:
        events.extend(parser.feed_record(message, record_ms))
    events.extend(parser.finish())
    return events


class Summary:
    """The `parse-logs --summary` object; its keys are documented in README.md."""

    def __init__(self) -> None:
        self.events: Counter[str] = Counter({kind: 0 for kind in AUTH_EVENT_KINDS})
        self.failed_by_user: Counter[str] = Counter()
        self.failed_by_method: Counter[str] = Counter()
        self.connections_by_user: Counter[str] = Counter()

    def add(self, events: Iterable[AuthEvent | SuspiciousEntry]) -> None:
        for event in events:
            if isinstance(event, SuspiciousEntry):
                continue  # counted in ParseStats.suspicious
            self.events[event.kind] += 1
            if event.kind == "auth_failed":
                self.failed_by_user[event.user or "[unknown]"] += 1
                self.failed_by_method[event.method or "[unknown]"] += 1
            elif event.kind == "connection_authorized":
                self.connections_by_user[event.user or "[unknown]"] += 1

    def to_json(self, stats: Iterable[ParseStats]) -> dict[str, object]:
        stats = list(stats)
        return {
            "lines": sum(s.lines for s in stats),
            "entries": sum(s.entries for s in stats),
            "unparsed": sum(s.unparsed for s in stats),
            "suspicious": sum(s.suspicious for s in stats),
            "events": dict(self.events),
            "auth_failed_by_user": dict(sorted(self.failed_by_user.items())),
            "auth_failed_by_method": dict(sorted(self.failed_by_method.items())),
            "connections_by_user": dict(sorted(self.connections_by_user.items())),
        }
