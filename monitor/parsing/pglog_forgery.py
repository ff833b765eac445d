"""Telling a forged stderr line: the checks `StderrFormat` runs before it believes one.

PostgreSQL does not indent the prefix: a user or database name holding a newline starts a
line of the client's choosing, and a name holding `:[4242]:LOG:  ` makes a line that reads
as two entries. A line is refused as evidence when it reads two ways (client-chosen values
as short and as long as they can be place the message differently), when a client-chosen
value holds the prefix's own delimiters, when it continues a line cut off inside such a
value, or when it holds a prefix's end but no start. Its time and host are then taken from
the part of the prefix before the first client-chosen value, which the server wrote.
"""

from __future__ import annotations

import re
from datetime import datetime

from monitor.models import AuthEvent
from monitor.parsing.pglog_classify import Classifier, Suspect
from monitor.parsing.pglog_messages import clean
from monitor.parsing.pglog_prefix import PrefixRx, parse_pg_time

CONTINUED = "the line after it ends its prefix: it was cut off inside a user/database name"
TWO_ENDS = "the line reads two ways: a name holds a log_line_prefix's end"
# How far back a cut-off line can start: the client-chosen values (two or three names of
# at most 63 bytes, an application name) and the prefix's literals between them.
LOOKBACK = 1024


class ForgeryChecks:
    """The checks, and reading the values a prefix holds; mixed into StderrFormat."""

    px: PrefixRx
    rx: re.Pattern[str]
    classifier: Classifier
    _time_group: str | None
    _times: dict[str, datetime | None]
    _before: bytes  # the last whole lines of the chunk before, up to LOOKBACK bytes
    _delimiters: list[tuple[str, str]]
    _emitted: tuple[int, int]

    def _unreadable(self, buf: bytes, start: int) -> None:
        raise NotImplementedError

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

    def _after_entry(self, buf: bytes, start: int) -> bool:
        """Is the line before `start` in `buf` a complete entry (so nothing before it can
        have been cut off into this line)?"""
        entry = self.px.entry_b
        return bool(
            start and entry and entry.match(buf, buf.rfind(b"\n", 0, start - 1) + 1, start - 1)
        )

    def _plain(
        self, buf: bytes, start: int, text: str, match: re.Match[str] | None, after: bool
    ) -> bool:
        """The cheap test of the common line: it parsed, follows a complete entry (`after`:
        the line just read), holds no second prefix end and no delimiter in a name."""
        tail = self.px.tail
        if match is None or tail is None or not (after or self._after_entry(buf, start)):
            return False
        if tail.search(text, match.start("msg")):
            return False
        for group, delimiter in self._delimiters:  # a loop: per login line, no generator
            if delimiter in (match.group(group) or ""):
                return False
        return True

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
        # Mostly the line before is a complete entry: then nothing before it matters.
        complete = not headless and self._after_entry(buf, start)
        cut_off = None if complete else self._cut_off(buf, start, headless)
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
        ends = list(px.tail.finditer(text, match.start("msg")))
        if ends and self._other_reading(text, match, ends):
            reason = TWO_ENDS
        for group, delimiter in self._delimiters:
            if not reason and delimiter in (match.group(group) or ""):
                reason = f"%{group} holds the prefix's delimiter {delimiter!r}"
        # Trusted values come from the head alone: a full match may have read the
        # server's part differently to fit a client's text after it.
        head = px.head.match(text) if reason else None
        return (reason, head, text, -1) if head is not None else None

    def _other_reading(self, text: str, match: re.Match[str], ends: list[re.Match[str]]) -> bool:
        """Is there a reading of the line other than `match`'s?

        Pid continuity decides first, where the log holds the connection's `connection
        received`: the reading whose pid came from this line's host and port is the
        server's. Otherwise, client-chosen values as short and as long as they can be must
        place the message alike.
        """
        assert self.px.head is not None and self.px.greedy is not None
        head = self.px.head.match(text)
        remote = self._remote(head.groupdict()) if head is not None else (None, None)
        if remote[0] is not None:
            if self.classifier.came_from(match.groupdict().get("p"), remote):
                return False
            if any(self.classifier.came_from(end.groupdict().get("p"), remote) for end in ends):
                return True
        other = self.px.greedy.fullmatch(text)
        return other is not None and other.start("msg") != match.start("msg")

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

        Walks back over the lines just before (within LOOKBACK bytes, the chunk before
        included) up to a complete entry: a prefix's start and end. Of the lines that
        hold only the start of a prefix, the earliest is the server's: later ones were
        written by the client. A `headless` line (one that holds a prefix's end but
        no start) continues even a complete entry: a name held that entry and a newline.
        """
        head, entry = self.px.head_b, self.px.entry_b
        assert head is not None and entry is not None
        view, pos = buf, start
        if start < LOOKBACK and self._before:
            view, pos = self._before + buf[:start], len(self._before) + start
        floor = max(0, pos - LOOKBACK)
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


def _iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip().replace(",", ".").replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
