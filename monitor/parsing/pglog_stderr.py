"""The stderr format (and CloudWatch's copy of it), scanned a chunk at a time in C.

A log is mostly statements and their tab-indented continuation lines; a few percent are
connection lines. So we never loop over lines in Python: `bytes.count` counts lines, one
regex finds the lines that do not start an entry (continuation lines, and lines whose
first byte cannot start the prefix), and one regex finds the few messages that matter,
anchored on the `:  ` PostgreSQL writes after the severity. Only those lines are decoded
and matched against the full prefix, which also tells a real `FATAL:` from one quoted
inside a statement (PostgreSQL indents every continuation line with a tab: elog.c,
append_with_tabs).

PostgreSQL does not indent the prefix, though, and a client's user and database names go
into it as sent: before a line is believed, the checks of `pglog_forgery` run on it, and
a line one of them doubts is refused as evidence (a `SuspiciousEntry`).
"""

from __future__ import annotations

import re
from datetime import datetime

from monitor.models import AuthEvent
from monitor.parsing.pglog_classify import Classifier
from monitor.parsing.pglog_forgery import CONTINUED, LOOKBACK, TWO_ENDS, ForgeryChecks
from monitor.parsing.pglog_messages import Record, clean
from monitor.parsing.pglog_prefix import PrefixRx, compile_prefix
from monitor.parsing.pglog_stats import ParseStats

# Candidates only: the full prefix match decides. The lookbehinds keep every alternative
# behind the literal ": ", which lets the regex engine skip ahead to it quickly.
_MARKER = re.compile(
    rb":  (?:connection |disconnection|pam_authenticate|replication connection|(?<=FATAL:  ))"
    rb"[^\n]*"  # to the end of the line, so the match ends where the line does
)
# The same for copies of lines with one space after the severity. Its literal prefix,
# ": ", is everywhere, so it costs twice the time: used only for a chunk without any
# ":  ", which no chunk of a server's own log is.
_MARKER_ONE_SPACE = re.compile(
    rb": +(?:connection |disconnection|pam_authenticate|replication connection"
    rb"|(?<=FATAL: )|(?<=FATAL:  ))[^\n]*"
)
_DIGITS = b"0123456789"


class StderrFormat(ForgeryChecks):
    """Chunks in, events out. Chunks end where an entry starts (see `cut`)."""

    def __init__(self, prefix: str, stats: ParseStats, classifier: Classifier) -> None:
        self.px: PrefixRx = compile_prefix(prefix)
        self.rx = self.px.line
        first = self.px.first
        self.stats = stats
        self.classifier = classifier
        names = self.rx.groupindex
        self._time_group = next((g for g in ("m", "t", "n", "iso") if g in names), None)
        # Lines exported with a leading ISO timestamp start with a digit too.
        self._first = first + _DIGITS if first else b""
        self._first_set = frozenset(self._first[i : i + 1] for i in range(len(self._first)))
        # Matches every line that does not start an entry and captures its first byte:
        # a tab is a continuation line, anything else cannot be read. One pass in C; the
        # capture is inside a lookahead so an empty line cannot hide the line after it.
        self._bad = (
            re.compile(b"\n(?![" + re.escape(self._first) + b"])(?=(.?))", re.DOTALL)
            if self._first
            else None
        )
        self._times: dict[str, datetime | None] = {}
        # A record (and its line) whose next line opens the next chunk: see `_settle`.
        self._waiting: tuple[Record, str] | None = None
        self._before = b""  # the last lines of the chunk before, for `_cut_off`
        self._samples: list[tuple[int, bytes]] = []  # this chunk's, by position
        self._emitted = (-1, 0)  # see process
        # One-character delimiters ("@" after %u, " ") are common in names; longer ones
        # (":[" after %d) are not.
        self._delimiters = [(g, d) for g, d in self.px.delimiters if len(d) > 1]

    @staticmethod
    def cut(buf: bytes, lo: int) -> int:
        """Where to end the chunk: the start of the last line that starts an entry.

        Everything before it is complete, continuation lines included. `lo` is where new
        bytes begin, so a long entry is not searched again and again. 0: no boundary yet.
        """
        k = buf.rfind(b"\n", lo)
        while k >= 0:
            nxt = buf[k + 1 : k + 2]
            if nxt and nxt != b"\t":
                return k + 1
            k = buf.rfind(b"\n", lo, k)
        return 0

    def process(self, buf: bytes, end: int) -> list[AuthEvent]:
        """Scan buf[:end], which ends with a newline."""
        self._count(buf, end)
        events: list[AuthEvent] = []
        if self._waiting is not None:  # after the counts, as if read in one chunk
            waiting, self._waiting = self._waiting, None
            events.extend(self._settle(*waiting, buf, 0, end))
        self._scan(buf, end, events)
        self._keep_samples()
        self._keep_before(buf, end)
        return events

    def _count(self, buf: bytes, end: int) -> None:
        """Lines, entries and unreadable lines of buf[:end], in C."""
        stats = self.stats
        lines = buf.count(b"\n", 0, end)
        head = buf[:1]
        cont = int(head == b"\t")
        bad = 0
        if self._bad is None:
            cont += buf.count(b"\n\t", 0, end - 1)
        else:
            if not cont and head not in self._first_set:
                bad += 1
                self._sample(buf, 0)
            starts = self._bad.findall(buf, 0, end - 1)
            tabs = starts.count(b"\t")
            cont += tabs
            if len(starts) > tabs:
                bad += len(starts) - tabs
                self._sample_bad(buf, end)
        stats.lines += lines
        stats.entries += lines - cont - bad
        stats.unparsed += bad

    def _scan(self, buf: bytes, end: int, events: list[AuthEvent]) -> None:
        """Read the lines of buf[:end] that matter into `events`."""
        marker = _MARKER if buf.find(b":  ", 0, end) >= 0 else _MARKER_ONE_SPACE
        guarded = self.px.head is not None  # the prefix holds client-chosen values
        last_start = after_read = -1
        # The events of the last line read, (its start, where they begin in `events`):
        # a line after it may show it was cut off inside a name, and take them back.
        self._emitted = (-1, 0)
        for m in marker.finditer(buf, 0, end):
            start = buf.rfind(b"\n", 0, m.start()) + 1
            if start == last_start:
                continue
            last_start = start
            stop = m.end()
            text = buf[start:stop].decode("utf-8", "replace")
            if buf[start : start + 1] == b"\t":
                # A continuation line, unless a name's newline put the rest of an entry
                # there: "\n\t" in a database name hides its FATAL otherwise.
                if self.px.head is not None:
                    self._refuse(buf, start, text, None, events)
                continue
            match = self.rx.fullmatch(text)
            if (
                guarded
                and not self._plain(buf, start, text, match, start == after_read)
                and self._refuse(buf, start, text, match, events)
            ):
                continue
            rec = self._record(match) if match is not None else None
            if rec is None:
                self._unreadable(buf, start)
                continue
            after_read = stop + 1  # so the line after this one needs no walk back
            if after_read >= end:
                self._waiting = rec, text  # its next line opens the next chunk
            elif rec.severity == "FATAL":
                self._emitted = (start, len(events))
                events.extend(self._settle(rec, text, buf, after_read, end, start, look=False))
            else:
                self._emitted = (start, len(events))
                found = self.classifier.read(rec, text)
                events.extend(self._read(rec, text, start) if found is None else found)

    def _keep_before(self, buf: bytes, end: int) -> None:
        """The last whole lines read, up to LOOKBACK bytes, however small the chunks."""
        if end < LOOKBACK:
            whole = self._before + buf[:end]
            tail, cut = whole[-LOOKBACK:], len(whole) > LOOKBACK
        else:
            tail, cut = buf[end - LOOKBACK : end], end > LOOKBACK
        self._before = tail[tail.find(b"\n") + 1 :] if cut else tail

    def finish(self) -> list[AuthEvent]:
        waiting, self._waiting = self._waiting, None
        events = self._read(*waiting) if waiting is not None else []
        self._keep_samples()
        return events

    def _settle(
        self,
        rec: Record,
        line: str,
        buf: bytes,
        start: int,
        end: int,
        at: int = -1,
        *,
        look: bool = True,
    ) -> list[AuthEvent]:
        """Read a record (its line at `at`, -1: the chunk before) in the light of the
        line after it (at `start`).

        A line that does not start an entry yet holds a prefix's end continues this one:
        this line, however complete it looks, was cut off inside a name, and whatever
        follows the cut was the client's. Within a chunk, `_refuse` finds that from the
        next line and takes the events back; across chunks (`look`), it is done here.
        After a FATAL, PostgreSQL writes its DETAIL.
        """
        stop = buf.find(b"\n", start, end)
        px = self.px
        if look and px.entry_b is not None and px.tail_b is not None and stop >= 0:
            # A prefix's end sits within the names' length of the line's start.
            limit = min(stop, start + LOOKBACK)
            if not px.entry_b.match(buf, start, limit) and px.tail_b.search(buf, start, limit):
                trusted = px.head.match(line) if px.head is not None else None
                raw = line + "\n" + buf[start:stop].decode("utf-8", "replace")
                suspect = self._suspect(CONTINUED, trusted, raw) if trusted else None
                if suspect is not None:
                    return self.classifier.refuse(suspect, raw)
        if rec.severity == "FATAL" and stop >= 0:
            match = self.rx.fullmatch(buf[start:stop].decode("utf-8", "replace"))
            detail = self._record(match) if match is not None else None
            if detail is not None and detail.severity == "DETAIL" and detail.pid == rec.pid:
                parts = [detail.message]
                while buf[stop + 1 : stop + 2] == b"\t":
                    after = buf.find(b"\n", stop + 1, end)
                    if after < 0:
                        break
                    parts.append(buf[stop + 2 : after].decode("utf-8", "replace").rstrip("\r"))
                    stop = after
                rec = rec._replace(detail="\n".join(parts))
        return self._read(rec, line, at)

    def _read(self, rec: Record, line: str, at: int = -1) -> list[AuthEvent]:
        """The record's events; one that mentions a login but cannot be read is unparsed.
        `at`: where its line starts in the chunk (-1: in the chunk before)."""
        found = self.classifier.read(rec, line)
        if found is not None:
            return found
        # Unreadable, and a second prefix end in it: a name held log text and moved the
        # message (the prefix reads one way only because a name holds an '@').
        px = self.px
        head = px.head.match(line) if px.head is not None and px.tail is not None else None
        if head is not None and px.tail is not None and len(px.tail.findall(line)) > 1:
            suspect = self._suspect(TWO_ENDS, head, line)
            if suspect is not None:
                return self.classifier.refuse(suspect, line)
        self.stats.entries -= 1
        self.stats.unparsed += 1
        self._samples.append((at, line.encode()))
        return []

    def _record(self, m: re.Match[str]) -> Record | None:
        g = m.groupdict()  # one call instead of one per value: this runs per event
        # _moment and _remote, inlined: this is the hot path of a log of logins.
        stamp = g.get(self._time_group) if self._time_group else None
        moment = self._times.get(stamp) if stamp is not None else None
        if moment is None:
            moment = self._moment(g)
            if moment is None:
                return None
        rport = g.get("rport")
        host: str | None
        port: int | None
        if rport is not None:
            host, port = g["rhost"] or None, int(rport)
        else:
            host, port = self._remote(g)
        pid = g.get("p")
        return Record(
            moment,
            g["sev"] or "",
            (g["msg"] or "").rstrip("\r"),
            clean(g.get("u")),
            clean(g.get("d")),
            int(pid) if pid else None,
            host,
            port,
            clean(g.get("a")),
        )

    def _unreadable(self, buf: bytes, start: int) -> None:
        # The line passed the first-byte check (or there is none), so it was counted as
        # an entry; it is unparsed instead.
        if self._bad is None or buf[start : start + 1] in self._first_set:
            self.stats.entries -= 1
            self.stats.unparsed += 1
            self._sample(buf, start)

    def _sample_bad(self, buf: bytes, end: int) -> None:
        assert self._bad is not None
        for m in self._bad.finditer(buf, 0, end - 1):
            if len(self._samples) >= self.stats.max_samples:
                return
            if m.group(1) != b"\t":
                self._sample(buf, m.start() + 1)

    def _sample(self, buf: bytes, start: int) -> None:
        stop = buf.find(b"\n", start)
        self._samples.append((start, buf[start : stop if stop >= 0 else len(buf)]))

    def _keep_samples(self) -> None:
        """Samples in the order of their lines, however the input was cut into chunks."""
        for _, line in sorted(self._samples, key=lambda s: s[0]):
            self.stats.add_sample(line)
        self._samples.clear()
