"""The doctor's report as text for a terminal of a given width. Pure.

Each row is `✔|✖|⚠ subject check found`, grouped under a header per group; the found text
wraps under its column, and the fix of a failure or warning follows on its own lines,
never cut. A shell command is wrapped the way a shell reads it back: a break between
words ends the line with ` \\`, and a quoted JSON argument is broken after a comma (JSON
allows the newline there), so the wrapped command still pastes as one.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence
from itertools import groupby

from monitor.doctor.checks import CheckResult
from monitor.outputs.formats import inert

SYMBOLS = {"ok": "✔", "fail": "✖", "warn": "⚠"}
MIN_WIDTH = 60
SUBJECT_MAX = 20
CHECK_MAX = 18
FIX_LEAD = "    fix: "
_SHELL = (
    "aws ",
    "pgwarden ",
    "chmod ",
    "sudo ",
    "mkdir ",
    "export ",
    "curl ",
    "setfacl ",
    "PGPASSWORD=",
)


def render_table(results: Sequence[CheckResult], width: int) -> list[str]:
    """The report's lines, none longer than `width` (at least MIN_WIDTH)."""
    width = max(width, MIN_WIDTH)
    subject_w = min(max((len(r.subject) for r in results), default=0), SUBJECT_MAX)
    check_w = min(max((len(r.check) for r in results), default=0), CHECK_MAX)
    lines: list[str] = []
    for name, rows in groupby(results, key=lambda r: r.group):
        lines.append(name)
        for r in rows:
            head = f"  {SYMBOLS[r.status]} {_fit(r.subject, subject_w)}  {_fit(r.check, check_w)}  "
            found = _printable(r.found)
            if width - len(head) < 24:
                # A long subject or check leaves no room: the found text goes below.
                lines.append(head.rstrip())
                head = " " * 6
            wrapped = textwrap.wrap(found, width - len(head), break_on_hyphens=False) or [""]
            lines.append((head + wrapped[0]).rstrip())
            lines.extend(" " * len(head) + line for line in wrapped[1:])
            if r.fix:
                lines.extend(fix_lines(_printable(r.fix), width))
    lines.append(summary(results))
    return lines


def fix_lines(fix: str, width: int) -> list[str]:
    """The fix under its row, wrapped within `width`, complete."""
    room = width - len(FIX_LEAD)
    pad = " " * len(FIX_LEAD)
    if fix.startswith(_SHELL):
        body = list(_wrap_shell(fix, room))
    else:
        body = textwrap.wrap(fix, room, break_on_hyphens=False) or [""]
    return [FIX_LEAD + body[0], *(pad + line for line in body[1:])]


def summary(results: Sequence[CheckResult]) -> str:
    counts = {s: sum(r.status == s for r in results) for s in ("fail", "warn", "ok")}
    return f"{counts['fail']} failed, {counts['warn']} warnings, {counts['ok']} ok"


def _fit(text: str, width: int) -> str:
    text = _printable(text)
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


def _printable(text: str) -> str:
    # Names come from AWS and from the database: never let one move the cursor.
    return inert(" ".join(text.split()), "terminal")


def _words(command: str) -> list[str]:
    """Split at spaces outside single quotes (the only quoting the fixes use)."""
    words: list[str] = []
    current, quoted = "", False
    for ch in command:
        if ch == "'":
            quoted = not quoted
        if ch == " " and not quoted:
            if current:
                words.append(current)
            current = ""
        else:
            current += ch
    if current:
        words.append(current)
    return words


def _wrap_shell(command: str, room: int) -> Iterator[str]:
    line = ""
    for word in _words(command):
        for i, piece in enumerate(_pieces(word, room - 2)):
            glue = "" if i else " "
            if line and len(line) + len(glue) + len(piece) > room - 2:
                # Between words a shell needs ` \`; inside a quoted JSON piece, a newline
                # is JSON whitespace and needs nothing.
                yield line + (" \\" if glue else "")
                line = piece
            else:
                line = f"{line}{glue}{piece}" if line else piece
    yield line


def _pieces(word: str, room: int) -> list[str]:
    """A word short enough as it is, or cut after commas (JSON member boundaries)."""
    if len(word) <= room:
        return [word]
    pieces: list[str] = []
    current = ""
    for part in word.split(","):
        part = part if not current and not pieces else "," + part
        if current and len(current) + len(part) > room:
            pieces.append(current)
            current = part
        else:
            current += part
    pieces.append(current)
    # A piece with no comma to cut at (a very long ARN) is cut where it must be.
    return [p[i : i + room] for p in pieces for i in range(0, len(p), room)]
