"""Compile a `log_line_prefix` into regexes, and read PostgreSQL's timestamps.

PostgreSQL documents the escapes in "19.8.3. What to Log" (log_line_prefix). Values it
cannot know yet (a backend before the startup packet, or a background process) print as
empty strings or as `[unknown]`, so most groups may be empty. `%q` ends the prefix for
non-session processes: everything after it is optional. A number between `%` and the
letter pads the value (`%-10u`), so padded escapes allow spaces around the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

# Time zone as %t/%m print it: an abbreviation ("UTC", "CEST") or, for zones without one,
# a numeric offset ("+03", "-0530").
_ZONE = r"(?:[A-Za-z]{1,8}|[+-]\d{2}(?::?\d{2})?)"
_TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"

# PostgreSQL truncates user and database names to NAMEDATALEN - 1 = 63 bytes (postmaster.c,
# ProcessStartupPacket), so such a value is at most 63 characters; application names get
# more room. The bounds keep each lazy group's backtracking constant per line, so no
# regex work grows with the square of a line's length.
NAME_MAX = 63
_APP_MAX = 256
_HOST_MAX = 255  # a DNS name (log_hostname) or an address

# Escape -> (group name or None, regex). Free-text values are lazy so the literal after
# them decides where they end. After an '@', %d may not hold one: user names carry '@'
# far more often than database names do (`alice@example.com@db`), so %u takes them all.
_ESCAPES: dict[str, tuple[str | None, str]] = {
    "t": ("t", rf"{_TS} {_ZONE}"),
    "m": ("m", rf"{_TS}\.\d{{3}} {_ZONE}"),
    "n": ("n", r"\d+\.\d{3}"),
    # %r is host(port), [local], or empty (a process without a client).
    "r": ("r", rf"\[local\]|\S{{0,{_HOST_MAX}}}?\(\d+\)|"),
    "h": ("h", rf"\[local\]|\S{{0,{_HOST_MAX}}}?"),
    "p": ("p", r"\d+"),
    "P": (None, r"\d*"),
    "u": ("u", rf".{{0,{NAME_MAX}}}?"),
    "d": ("d", rf".{{0,{NAME_MAX}}}?"),
    "a": ("a", rf".{{0,{_APP_MAX}}}?"),
    "l": (None, r"\d*"),
    "c": (None, r"[0-9a-f]*\.?[0-9a-f]*"),
    "e": (None, r"[0-9A-Z]{5}|"),
    "i": (None, r".{0,64}?"),
    "s": (None, rf"(?:{_TS} {_ZONE})?"),
    "v": (None, r"(?:\d+/\d+)?"),
    "x": (None, r"\d*"),
    "b": (None, r".{0,64}?"),
    "Q": (None, r"-?\d*"),
}
# What a client chooses before it logs in, and PostgreSQL writes into the prefix exactly
# as sent, newlines included: the values a forger controls.
HOSTILE = frozenset("uda")

SEVERITIES = (
    "LOG|FATAL|ERROR|WARNING|NOTICE|INFO|PANIC|DETAIL|HINT|QUERY|CONTEXT|LOCATION|STATEMENT"
    "|BACKTRACE"
    "|DEBUG[1-5]?"
)
# PostgreSQL writes two spaces after the severity; copies of log lines (documentation,
# tickets, some exports) often hold one. Both are read.
_SEVERITY = rf"(?P<sev>{SEVERITIES}): +"

# What CloudWatch exports and `aws logs` output put before the message: the event's ISO
# timestamp, and for `aws logs tail` the log stream name after it.
ISO_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
LEADING = rf"(?:(?P<iso>{ISO_STAMP})\s+(?:[^\s:]+\s+)?)?"


class PrefixError(ValueError):
    """The log_line_prefix uses an escape this parser does not know."""


@dataclass(frozen=True)
class PrefixRx:
    """A `log_line_prefix` compiled for reading lines and for telling forged ones.

    `line` matches a whole stderr line: named groups for the values it captures (t, m, n,
    r with rhost and rport, h, p, u, d, a, iso), then `sev` and `msg`. `first` holds the
    bytes a valid line may start with (b"": any). When the prefix holds client-chosen
    values (%u %d %a), `head` matches a line's start up to the first of them, so the
    groups in `trusted` are the server's own; `tail` matches what follows the last of
    them up to the message, so a second one inside a message is a forged entry; and
    `delimiters` pairs each client-chosen group with the literal text the prefix puts
    after it. `greedy` is `line` with client-chosen values as long as they can be: where
    the two place the message differently, the line can be read two ways, so a client
    wrote (part of) what looks like its prefix.
    """

    line: re.Pattern[str]
    first: bytes
    greedy: re.Pattern[str] | None = None
    head: re.Pattern[str] | None = None
    tail: re.Pattern[str] | None = None
    delimiters: tuple[tuple[str, str], ...] = ()
    trusted: frozenset[str] = frozenset()
    # Over bytes, to look at lines without decoding them: head, tail, and `entry_b`, a
    # whole prefix up to the severity (a line that starts an entry).
    head_b: re.Pattern[bytes] | None = None
    tail_b: re.Pattern[bytes] | None = None
    entry_b: re.Pattern[bytes] | None = None


def _tokens(prefix: str) -> list[tuple[str, str, bool]]:
    """(kind, literal, padded) per piece: kind is "lit", "q", or the escape's letter."""
    out: list[tuple[str, str, bool]] = []
    i = 0
    while i < len(prefix):
        if prefix[i] != "%":
            out.append(("lit", prefix[i], False))
            i += 1
            continue
        j = i + 1
        while j < len(prefix) and (prefix[j].isdigit() or prefix[j] == "-"):
            j += 1
        if j >= len(prefix):
            raise PrefixError(f"log_line_prefix {prefix!r}: '%' at the end")
        esc, padded = prefix[j], j > i + 1
        i = j + 1
        if esc == "%":
            out.append(("lit", "%", False))
        elif esc == "q":
            out.append(("q", "", False))
        elif esc in _ESCAPES:
            out.append((esc, "", padded))
        else:
            raise PrefixError(f"log_line_prefix {prefix!r}: unknown escape %{esc}")
    return out


def _piece(
    tokens: list[tuple[str, str, bool]], k: int, seen: set[str] | None, greedy: bool = False
) -> tuple[str, str | None]:
    """The regex for token k, and its group name. Without `seen`, no named groups; with
    `greedy`, client-chosen values take as much as they can."""
    kind, literal, padded = tokens[k]
    if kind == "lit":
        return re.escape(literal), None
    if kind == "q":
        return "", None
    name, rx = _ESCAPES[kind]
    if kind == "d" and k and tokens[k - 1] == ("lit", "@", False):
        rx = rf"[^@]{{0,{NAME_MAX}}}?"
    if greedy and kind in HOSTILE:
        rx = rx.removesuffix("?")
    if seen is not None and name is not None and name not in seen:
        seen.add(name)
        if kind == "r":
            # host and port as groups of their own: no splitting in Python per line.
            rx = rf"\[local\]|(?P<rhost>\S{{0,{_HOST_MAX}}}?)\((?P<rport>\d+)\)|"
        rx = f"(?P<{name}>{rx})"
    else:
        rx = f"(?:{rx})"
        name = None
    return (f" *{rx} *" if padded else rx), name


def compile_prefix(prefix: str) -> PrefixRx:
    """Compile `prefix`; a PrefixError names an escape this parser does not know."""
    tokens = _tokens(prefix)
    first: bytes | None = None
    for kind, literal, padded in tokens:
        if kind == "lit":
            first = literal.encode()
        elif kind != "q":
            # Timestamps start with a digit; anything else may start with anything.
            first = b"0123456789" if kind in "tmns" and not padded else b""
        if first is not None:
            break
    line = _line(tokens, greedy=False)
    hostile = [k for k, t in enumerate(tokens) if t[0] in HOSTILE]
    if not hostile:
        return PrefixRx(line, first or b"")
    lo, hi = hostile[0], hostile[-1]
    head_seen: set[str] = set()
    head = "".join(_piece(tokens, k, head_seen)[0] for k in range(lo))
    # Named groups in the tail too: its %p tells which connection a reading belongs to.
    tail = "".join(_piece(tokens, k, set())[0] for k in range(hi + 1, len(tokens)))
    delimiters = []
    for k in hostile:
        after = ""
        for kind, literal, _ in tokens[k + 1 :]:
            if kind != "lit":
                break
            after += literal
        delimiters.append((_ESCAPES[tokens[k][0]][0] or "", after))
    head_rx, tail_rx = rf"{LEADING}{head}", rf"{tail}{_SEVERITY}"
    return PrefixRx(
        line,
        first or b"",
        _line(tokens, greedy=True),
        re.compile(head_rx, re.DOTALL),
        re.compile(tail_rx),
        tuple(delimiters),
        frozenset(head_seen) | {"iso"},
        _bytes(head_rx),
        _bytes(tail_rx),
        _bytes(line.pattern.removesuffix("(?P<msg>.*)")),
    )


def _bytes(pattern: str) -> re.Pattern[bytes]:
    """A pattern over bytes: a name of 63 characters may take up to 4 bytes each."""
    for bound in (NAME_MAX, _APP_MAX):
        pattern = pattern.replace(f"{{0,{bound}}}", f"{{0,{4 * bound}}}")
    return re.compile(pattern.encode(), re.DOTALL)


def _line(tokens: list[tuple[str, str, bool]], *, greedy: bool) -> re.Pattern[str]:
    seen: set[str] = set()
    parts: list[str] = []
    optional_from: int | None = None
    for k, (kind, _, _) in enumerate(tokens):
        if kind == "q":
            optional_from = len(parts)
        else:
            parts.append(_piece(tokens, k, seen, greedy)[0])
    if optional_from is not None:
        parts[optional_from:] = ["(?:" + "".join(parts[optional_from:]) + ")?"]
    # msg is greedy (a lazy one costs a step per character); callers strip a CR.
    return re.compile(rf"{LEADING}{''.join(parts)}{_SEVERITY}(?P<msg>.*)", re.DOTALL)


def leading_time(prefix: str) -> re.Pattern[str] | None:
    """The %t or %m a line starts with (group `ts`), when the prefix starts with one."""
    tokens = _tokens(prefix)
    if not tokens or tokens[0][0] not in ("t", "m") or tokens[0][2]:
        return None
    return re.compile(rf"{LEADING}(?P<ts>{_ESCAPES[tokens[0][0]][1]})")


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
