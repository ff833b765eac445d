"""The stderr format (and CloudWatch's copy of it), scanned a chunk at a time in C.

A log is mostly statements and their tab-indented continuation lines; a few percent are
connection lines. So we never loop over lines in Python: `bytes.count` counts lines, one
regex finds the lines that do not start an entry (continuation lines, and lines whose
first byte cannot start the prefix), and one regex finds the few messages that matter,
anchored on the `: ` PostgreSQL writes after the severity. Only those lines are decoded
and matched against the full prefix, which also tells a real `FATAL:` from one quoted
inside a statement (PostgreSQL indents every continuation line with a tab: elog.c,
append_with_tabs).

PostgreSQL does not indent the prefix, though: a user or database name holding a newline
starts a line of the client's choosing, and a name holding `:[4242]:LOG:  ` makes a line
that reads as two entries. So before a line is believed, `_forged` checks that it reads
one way only (client-chosen values as short and as long as they can be give the same
message), that no client-chosen value holds the prefix's own delimiters, and that the
line does not continue a line cut off inside a client-chosen value.
"""

from __future__ import annotations

import re
from datetime import datetime

from monitor.models import AuthEvent
from monitor.parsing.pglog_classify import Classifier, Record, Suspect, clean
from monitor.parsing.pglog_prefix import PrefixRx, compile_prefix, parse_pg_time
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
_CONTINUED = "the line after it ends its prefix: it was cut off inside a user/database name"
# How far back a cut-off line can start: the client-chosen values (two or three names of
# at most 63 bytes, an application name) and the prefix's literals between them.
_LOOKBACK = 1024


class StderrFormat:
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
        stats = self.stats
        events: list[AuthEvent] = []
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
        if self._waiting is not None:  # after the counts, as if read in one chunk
            waiting, self._waiting = self._waiting, None
            events.extend(self._settle(*waiting, buf, 0, end))
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
                and (match is None or start != after_read or self._doubtful(text, match))
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
                events.extend(self._read(rec, text, start))
        self._keep_samples()
        # The last whole lines read, up to _LOOKBACK bytes, however small the chunks.
        if end < _LOOKBACK:
            whole = self._before + buf[:end]
            tail, cut = whole[-_LOOKBACK:], len(whole) > _LOOKBACK
        else:
            tail, cut = buf[end - _LOOKBACK : end], end > _LOOKBACK
        self._before = tail[tail.find(b"\n") + 1 :] if cut else tail
        return events

    def finish(self) -> list[AuthEvent]:
        waiting, self._waiting = self._waiting, None
        events = self._read(*waiting) if waiting is not None else []
        self._keep_samples()
        return events

    def _refuse(
        self,
        buf: bytes,
        start: int,
        text: str,
        match: re.Match[str] | None,
        events: list[AuthEvent],
    ) -> bool:
        """Refuse the line at `start` as evidence if it may be forged; True if it was."""
        forged = self._forged(buf, start, text, match)
        if forged is None:
            return False
        reason, trusted, raw, cut_at = forged
        suspect = self._suspect(reason, trusted, raw)
        if suspect is None:
            self._unreadable(buf, start)
            return True
        emitted_at, first = self._emitted
        if cut_at == emitted_at >= 0:
            del events[first:]  # that line was cut off inside a name: not evidence
            self.classifier.taken_back()
            self._emitted = (-1, 0)
        events.extend(self.classifier.refuse(suspect, raw))
        return True

    def _doubtful(self, text: str, match: re.Match[str]) -> bool:
        """Cheap signs that a complete line may read two ways or hold a delimiter."""
        assert self.px.tail is not None
        if self.px.tail.search(text, match.start("msg")):
            return True
        return any(delimiter in (match.group(g) or "") for g, delimiter in self._delimiters)

    def _forged(
        self, buf: bytes, start: int, text: str, match: re.Match[str] | None
    ) -> tuple[str, re.Match[str], str, int] | None:
        """Why the line at `start` may be a client's forgery, the match whose values
        before the first client-chosen one can be trusted, the raw entry, and where in
        `buf` the line cut off before it starts (-1: none, or in the chunk before)."""
        px = self.px
        if px.head is None or px.tail is None or px.greedy is None:
            return None
        head = px.head.match(text) if match is None else None
        headless = match is None and head is None and px.tail.search(text) is not None
        cut_off = self._cut_off(buf, start, headless)
        if cut_off is not None:
            head, lines, cut_at = cut_off
            reason = "continues a line cut off inside a user/database name"
            return reason, head, lines + text, cut_at
        if match is None:
            if head is None:
                return None
            # The server's own start and a prefix end, but no reading between them fits
            # the prefix: a name holds its delimiters (or is longer than a name can be).
            if px.tail.search(text, head.end()):
                return "a user/database name breaks the log_line_prefix", head, text, -1
            return None
        # Another reading needs another prefix end after the first one.
        reason = ""
        other = px.greedy.fullmatch(text) if px.tail.search(text, match.start("msg")) else None
        if other is not None and other.start("msg") != match.start("msg"):
            reason = "the line reads two ways: a name holds a log_line_prefix's end"
        for group, delimiter in self._delimiters:
            if not reason and delimiter in (match.group(group) or ""):
                reason = f"%{group} holds the prefix's delimiter {delimiter!r}"
        # Trusted values come from the head alone: a full match may have read the
        # server's part differently to fit a client's text after it.
        head = px.head.match(text) if reason else None
        return (reason, head, text, -1) if head is not None else None

    def _suspect(self, reason: str, trusted: re.Match[str], raw: str) -> Suspect | None:
        """A Suspect from the values of `trusted` a client cannot choose; refused logins
        are those whose line holds a FATAL (its own or one inside the forged part)."""
        g = trusted.groupdict()
        moment = self._moment(g)
        if moment is None:
            return None
        ok = self.px.trusted
        host, port = self._remote(g) if "r" in ok or "h" in ok else (None, None)
        assert self.px.tail is not None
        refused = any(m.group("sev") == "FATAL" for m in self.px.tail.finditer(raw))
        return Suspect(reason, moment, host, port, refused)

    def _cut_off(
        self, buf: bytes, start: int, headless: bool
    ) -> tuple[re.Match[str], str, int] | None:
        """The line this one continues, if it is cut off inside a client-chosen value,
        the lines from it up to this one, and where it starts in `buf` (-1: before).

        Walks back over the lines just before (within _LOOKBACK bytes, the chunk before
        included) up to a complete entry: a prefix's start and end. Of the lines that
        hold only the start of a prefix, the earliest is the server's: later ones were
        written by the client. A `headless` line (one that holds a prefix's end but
        no start) continues even a complete entry: a name held that entry and a newline.
        """
        head, entry = self.px.head_b, self.px.entry_b
        assert head is not None and entry is not None
        view, pos = buf, start
        if start < _LOOKBACK and self._before:
            view, pos = self._before + buf[:start], len(self._before) + start
        floor = max(0, pos - _LOOKBACK)
        end = pos - 1
        found = -1
        while end > floor:
            begin = view.rfind(b"\n", floor, end) + 1
            if begin == 0 and floor > 0:
                break  # longer than any cut-off line can be
            if entry.match(view, begin, end):
                if found < 0 and headless:
                    found = begin
                break  # a complete entry; a headless line before it is part of the chain
            if view[begin : begin + 1] != b"\t" and head.match(view, begin, end):
                found = begin  # the start of a prefix only: cut off
            end = begin - 1
        if found < 0:
            return None
        stop = view.find(b"\n", found)
        assert self.px.head is not None
        trusted = self.px.head.match(view[found:stop].decode("utf-8", "replace"))
        if trusted is None:
            return None
        at = found - (pos - start)  # view may start with the chunk before's last lines
        return trusted, view[found:pos].decode("utf-8", "replace"), at if at >= 0 else -1

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
            limit = min(stop, start + _LOOKBACK)
            if not px.entry_b.match(buf, start, limit) and px.tail_b.search(buf, start, limit):
                trusted = px.head.match(line) if px.head is not None else None
                raw = line + "\n" + buf[start:stop].decode("utf-8", "replace")
                suspect = self._suspect(_CONTINUED, trusted, raw) if trusted else None
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
        if found is None:
            self.stats.entries -= 1
            self.stats.unparsed += 1
            self._samples.append((at, line.encode()))
            return []
        return found

    def _moment(self, g: dict[str, str | None]) -> datetime | None:
        stamp = g.get(self._time_group) if self._time_group else None
        if stamp is None:
            return None
        moment = self._times.get(stamp)
        if moment is None:
            if len(self._times) > 4096:
                self._times.clear()
            moment = self._times[stamp] = (
                parse_pg_time(stamp) if self._time_group != "iso" else _iso(stamp)
            )
        return moment

    @staticmethod
    def _remote(g: dict[str, str | None]) -> tuple[str | None, int | None]:
        rport = g.get("rport")
        if rport is not None:
            return g["rhost"] or None, int(rport)
        # %r as "[local]" or empty, or %h, or neither
        return clean(g.get("r") or g.get("h")), None

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


def _iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace(",", ".").replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
