"""PostgreSQL logs to auth events: pure, streaming, no I/O of its own and no clock.

    parser = LogParser(fmt="auto", prefix="%t:%r:%u@%d:[%p]:", source="postgresql.log")
    for block in blocks:              # bytes, any size, cut anywhere
        events += parser.feed(block)
    events += parser.finish()
    parser.stats                      # lines, entries, unparsed, samples

Formats: stderr with any `log_line_prefix` (also as CloudWatch Logs holds it, with or
without the leading ISO timestamp that exports add), csvlog, jsonlog and RDS's
iam-db-auth-error export; "auto" decides from the first lines. Memory stays bounded by
the chunk size plus the longest entry: nothing keeps a whole file.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from monitor.models import AUTH_EVENT_KINDS, AuthEvent
from monitor.parsing.pglog_classify import Classifier
from monitor.parsing.pglog_formats import IAM_LINE, CsvFormat, IamAuthErrorFormat, JsonFormat
from monitor.parsing.pglog_prefix import compile_prefix
from monitor.parsing.pglog_stats import ParseStats
from monitor.parsing.pglog_stderr import StderrFormat

DEFAULT_PREFIX = "%t:%r:%u@%d:[%p]:"
FORMATS = ("auto", "stderr", "csvlog", "jsonlog", "iam-db-auth-error")
CHUNK_SIZE = 1 << 20
_SNIFF_BYTES = 64 << 10
_SNIFF_LINES = 20
# An entry longer than this is processed in pieces rather than held whole.
_MAX_CARRY = 16 << 20
_CSV_START = re.compile(r'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [^,]*,("[^"]*"|[^,]*),')


class _Format(Protocol):
    def cut(self, buf: bytes, lo: int) -> int: ...
    def process(self, buf: bytes, end: int) -> list[AuthEvent]: ...
    def finish(self) -> list[AuthEvent]: ...


def detect_format(sample: bytes, prefix: str = DEFAULT_PREFIX) -> str:
    """Which format the first lines are in; stderr when nothing decides."""
    stderr_rx, _ = compile_prefix(prefix)
    seen = 0
    for raw in sample.split(b"\n")[:-1] or [sample]:
        line = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace").rstrip("\r")
        if not line.strip() or line[0] in "\t ":
            continue
        if line.startswith("{"):
            return "jsonlog"
        if IAM_LINE.fullmatch(line):
            return "iam-db-auth-error"
        if stderr_rx.fullmatch(line):
            return "stderr"
        if _CSV_START.match(line) and line.count(",") >= 22:
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
        self.classifier = Classifier(source)
        compile_prefix(prefix)  # a bad prefix fails now, not at the first line
        self.format: str | None = None if fmt == "auto" else fmt
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

    def _choose(self, sample: bytes) -> _Format:
        self.format = detect_format(sample[:_SNIFF_BYTES], self.prefix)
        self._impl = self._make(self.format)
        return self._impl

    def _make(self, fmt: str) -> _Format:
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
) -> Iterator[AuthEvent]:
    """Events from a binary stream, read `chunk_size` bytes at a time; then `finish()`."""
    while data := stream.read(chunk_size):
        yield from parser.feed(data)
    yield from parser.finish()


def parse_messages(messages: Iterable[str], parser: LogParser) -> list[AuthEvent]:
    """Events from log records such as CloudWatch Logs events (one entry per message)."""
    events: list[AuthEvent] = []
    for message in messages:
        events.extend(parser.feed(message.rstrip("\n").encode("utf-8", "replace") + b"\n"))
    events.extend(parser.finish())
    return events


class Summary:
    """The `parse-logs --summary` object; its keys are documented in README.md."""

    def __init__(self) -> None:
        self.events: Counter[str] = Counter({kind: 0 for kind in AUTH_EVENT_KINDS})
        self.failed_by_user: Counter[str] = Counter()
        self.failed_by_method: Counter[str] = Counter()
        self.connections_by_user: Counter[str] = Counter()

    def add(self, events: Iterable[AuthEvent]) -> None:
        for event in events:
            self.events[event.kind] += 1
            if event.kind == "auth_failed":
                self.failed_by_user[event.user or "[unknown]"] += 1
                self.failed_by_method[event.method or "[unknown]"] += 1
            elif event.kind == "connection_authorized":
                self.connections_by_user[event.user or "[unknown]"] += 1

    def to_json(self, stats: Iterable[ParseStats]) -> dict[str, Any]:
        stats = list(stats)
        return {
            "lines": sum(s.lines for s in stats),
            "entries": sum(s.entries for s in stats),
            "unparsed": sum(s.unparsed for s in stats),
            "events": dict(self.events),
            "auth_failed_by_user": dict(sorted(self.failed_by_user.items())),
            "auth_failed_by_method": dict(sorted(self.failed_by_method.items())),
            "connections_by_user": dict(sorted(self.connections_by_user.items())),
        }
