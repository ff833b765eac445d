"""The stderr format (and CloudWatch's copy of it), scanned a chunk at a time in C.

A log is mostly statements and their tab-indented continuation lines; a few percent are
connection lines. So we never loop over lines in Python: `bytes.count` counts lines, one
regex finds the lines that do not start an entry (continuation lines, and lines whose
first byte cannot start the prefix), and one regex finds the few messages that matter,
anchored on the `:  ` PostgreSQL writes after the severity. Only those lines are decoded
and matched against the full prefix, which also tells a real `FATAL:` from one quoted
inside a statement (PostgreSQL indents every continuation line with a tab: elog.c,
append_with_tabs).
"""

from __future__ import annotations

import re
from datetime import datetime

from monitor.models import AuthEvent
from monitor.parsing.pglog_classify import Classifier, Record, clean
from monitor.parsing.pglog_prefix import compile_prefix, parse_pg_time
from monitor.parsing.pglog_stats import ParseStats

# Candidates only: the full prefix match decides. The lookbehind keeps every alternative
# behind the literal ":  ", which lets the regex engine skip ahead to it quickly.
_MARKER = re.compile(
    rb":  (?:connection |disconnection|pam_authenticate|replication connection|(?<=FATAL:  ))"
    rb"[^\n]*"  # to the end of the line, so the match ends where the line does
)
_DIGITS = b"0123456789"


class StderrFormat:
    """Chunks in, events out. Chunks end where an entry starts (see `cut`)."""

    def __init__(self, prefix: str, stats: ParseStats, classifier: Classifier) -> None:
        self.rx, first = compile_prefix(prefix)
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
        self._waiting: Record | None = None  # a FATAL whose DETAIL may open the next chunk

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
        stats = self.stats
        events: list[AuthEvent] = []
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            events.extend(self._classify_fatal(waiting, buf, 0, end))
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
        last_start = -1
        for m in _MARKER.finditer(buf, 0, end):
            start = buf.rfind(b"\n", 0, m.start()) + 1
            if start == last_start or buf[start : start + 1] == b"\t":
                continue
            last_start = start
            stop = m.end()
            rec = self._record(buf[start:stop])
            if rec is None:
                self._unreadable(buf, start)
            elif rec.severity == "FATAL":
                if stop + 1 >= end:
                    self._waiting = rec
                else:
                    events.extend(self._classify_fatal(rec, buf, stop + 1, end))
            else:
                events.extend(self.classifier.classify(rec))
        return events

    def finish(self) -> list[AuthEvent]:
        waiting, self._waiting = self._waiting, None
        return self.classifier.classify(waiting) if waiting is not None else []

    def _classify_fatal(self, rec: Record, buf: bytes, start: int, end: int) -> list[AuthEvent]:
        """Attach the DETAIL entry that PostgreSQL writes right after a FATAL, if any."""
        stop = buf.find(b"\n", start, end)
        if stop < 0:
            return self.classifier.classify(rec)
        nxt = self._record(buf[start:stop])
        if nxt is not None and nxt.severity == "DETAIL" and nxt.pid == rec.pid:
            parts = [nxt.message]
            while buf[stop + 1 : stop + 2] == b"\t":
                after = buf.find(b"\n", stop + 1, end)
                if after < 0:
                    break
                parts.append(buf[stop + 2 : after].decode("utf-8", "replace").rstrip("\r"))
                stop = after
            rec = rec._replace(detail="\n".join(parts))
        return self.classifier.classify(rec)

    def _record(self, line: bytes) -> Record | None:
        m = self.rx.fullmatch(line.decode("utf-8", "replace"))
        if m is None or self._time_group is None:
            return None
        g = m.groupdict()  # one call instead of one per value: this runs per event
        stamp = g[self._time_group]
        if stamp is None:
            return None
        moment = self._times.get(stamp)
        if moment is None:
            if len(self._times) > 4096:
                self._times.clear()
            moment = self._times[stamp] = (
                parse_pg_time(stamp) if self._time_group != "iso" else _iso(stamp)
            )
            if moment is None:
                return None
        rport = g.get("rport")
        if rport is not None:
            host, port = g["rhost"] or None, int(rport)
        else:  # %r as "[local]" or empty, or %h, or neither
            host, port = clean(g.get("r") or g.get("h")), None
        pid = g.get("p")
        return Record(
            moment,
            g["sev"],
            g["msg"].rstrip("\r"),
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
            if len(self.stats.samples) >= self.stats.max_samples:
                return
            if m.group(1) != b"\t":
                self._sample(buf, m.start() + 1)

    def _sample(self, buf: bytes, start: int) -> None:
        stop = buf.find(b"\n", start)
        self.stats.add_sample(buf[start : stop if stop >= 0 else len(buf)])


def _iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace(",", ".").replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
