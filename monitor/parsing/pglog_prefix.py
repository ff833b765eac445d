"""Compile a `log_line_prefix` into one regex, and read PostgreSQL's timestamps.

PostgreSQL documents the escapes in "19.8.3. What to Log" (log_line_prefix). Values it
cannot know yet (a backend before the startup packet, or a background process) print as
empty strings or as `[unknown]`, so most groups may be empty. `%q` ends the prefix for
non-session processes: everything after it is optional. A number between `%` and the
letter pads the value (`%-10u`), so padded escapes allow spaces around the value.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# Time zone as %t/%m print it: an abbreviation ("UTC", "CEST") or, for zones without one,
# a numeric offset ("+03", "-0530").
_ZONE = r"(?:[A-Za-z]{1,8}|[+-]\d{2}(?::?\d{2})?)"
_TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"

# Escape -> (group name or None, regex). Free-text values are lazy so the literal after
# them decides where they end. After an '@', %d may not hold one: user names carry '@'
# far more often than database names do (`alice@example.com@db`), so %u takes them all.
_ESCAPES: dict[str, tuple[str | None, str]] = {
    "t": ("t", rf"{_TS} {_ZONE}"),
    "m": ("m", rf"{_TS}\.\d{{3}} {_ZONE}"),
    "n": ("n", r"\d+\.\d{3}"),
    "r": ("r", r"\[local\]|\S*?\(\d+\)|\S*?"),
    "h": ("h", r"\[local\]|\S*?"),
    "p": ("p", r"\d+"),
    "P": (None, r"\d*"),
    "u": ("u", r".*?"),
    "d": ("d", r".*?"),
    "a": ("a", r".*?"),
    "l": (None, r"\d*"),
    "c": (None, r"[0-9a-f]*\.?[0-9a-f]*"),
    "e": (None, r"[0-9A-Z]{5}|"),
    "i": (None, r".*?"),
    "s": (None, rf"(?:{_TS} {_ZONE})?"),
    "v": (None, r"(?:\d+/\d+)?"),
    "x": (None, r"\d*"),
    "b": (None, r".*?"),
    "Q": (None, r"-?\d*"),
}

SEVERITIES = (
    "LOG|FATAL|ERROR|WARNING|NOTICE|INFO|PANIC|DETAIL|HINT|QUERY|CONTEXT|LOCATION|STATEMENT"
    "|DEBUG[1-5]?"
)

# What CloudWatch exports and `aws logs` output put before the message: the event's ISO
# timestamp, and for `aws logs tail` the log stream name after it.
ISO_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
LEADING = rf"(?:(?P<iso>{ISO_STAMP})\s+(?:[^\s:]+\s+)?)?"


class PrefixError(ValueError):
    """The log_line_prefix uses an escape this parser does not know."""


def compile_prefix(prefix: str) -> tuple[re.Pattern[str], bytes]:
    """The regex for a whole stderr line, and the bytes a valid line may start with.

    The regex has named groups for the prefix values it captures (t, m, n, r, h, p, u, d,
    a), then `sev` and `msg`. The second value is b"" when any first byte is possible.
    """
    parts: list[str] = []
    seen: set[str] = set()
    optional_from: int | None = None
    first: bytes | None = None
    i = 0
    while i < len(prefix):
        ch = prefix[i]
        if ch != "%":
            parts.append(re.escape(ch))
            if first is None:
                first = ch.encode()
            i += 1
            continue
        j = i + 1
        while j < len(prefix) and (prefix[j].isdigit() or prefix[j] == "-"):
            j += 1
        padded = j > i + 1
        if j >= len(prefix):
            raise PrefixError(f"log_line_prefix {prefix!r}: '%' at the end")
        esc = prefix[j]
        i = j + 1
        if esc == "%":
            parts.append("%")
            first = first if first is not None else b"%"
            continue
        if esc == "q":
            optional_from = len(parts)
            continue
        if esc not in _ESCAPES:
            raise PrefixError(f"log_line_prefix {prefix!r}: unknown escape %{esc}")
        name, rx = _ESCAPES[esc]
        if esc == "d" and parts and parts[-1] == re.escape("@"):
            rx = r"[^@]*?"
        if name is not None and name not in seen:
            seen.add(name)
            if esc == "r":
                # host and port as groups of their own: no splitting in Python per line.
                rx = r"\[local\]|(?P<rhost>\S*?)\((?P<rport>\d+)\)|\S*?"
            rx = f"(?P<{name}>{rx})"
        else:
            rx = f"(?:{rx})"
        if padded:
            rx = f" *{rx} *"
        parts.append(rx)
        if first is None:
            # Timestamps start with a digit; anything else may start with anything.
            first = b"0123456789" if esc in "tmns" and not padded else b""
    if optional_from is not None:
        parts[optional_from:] = ["(?:" + "".join(parts[optional_from:]) + ")?"]
    body = "".join(parts)
    # msg is greedy (a lazy one costs a step per character); callers strip a CR.
    pattern = re.compile(rf"{LEADING}{body}(?P<sev>{SEVERITIES}):  (?P<msg>.*)", re.DOTALL)
    return pattern, first or b""


# Abbreviations PostgreSQL prints for common log_timezone settings (tzdb's). IST and CST
# are ambiguous in the world; here they mean India and US Central, tzdb's usual readings.
_ZONE_HOURS: dict[str, float] = {
    "UTC": 0, "GMT": 0, "Z": 0, "UCT": 0, "WET": 0, "WEST": 1, "BST": 1, "IST": 5.5,
    "CET": 1, "CEST": 2, "MET": 1, "MEST": 2, "EET": 2, "EEST": 3, "MSK": 3, "SAST": 2,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "AKST": -9, "AKDT": -8, "HST": -10, "AST": -4, "ADT": -3, "NST": -3.5, "NDT": -2.5,
    "JST": 9, "KST": 9, "HKT": 8, "SGT": 8, "AWST": 8, "ACST": 9.5, "ACDT": 10.5,
    "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13, "PKT": 5, "WIB": 7, "PHT": 8,
}  # fmt: skip


def zone_offset(zone: str) -> timezone | None:
    """A fixed offset for a zone abbreviation or numeric offset, or None if unknown."""
    hours = _ZONE_HOURS.get(zone.upper())
    if hours is not None:
        return UTC if hours == 0 else timezone(timedelta(hours=hours))
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})?", zone)
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
    return timezone(sign * delta)


def parse_pg_time(text: str) -> datetime | None:
    """`2026-11-23 03:00:00[.123] ZONE`, or epoch `1700000000.123` (%n), as aware UTC."""
    if " " not in text:
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except (ValueError, OverflowError):
            return None
    stamp, _, zone = text.rpartition(" ")
    tz = zone_offset(zone)
    if tz is None:
        return None
    try:
        return datetime.fromisoformat(stamp).replace(tzinfo=tz).astimezone(UTC)
    except ValueError:
        return None
