"""RDS Proxy log lines (`/aws/rds/proxy/<name>`) as typed events; pure and tolerant.

A line is `<time> [<LEVEL>] [proxyEndpoint=<endpoint>] [clientConnection=<id>] <message>`
(tests/fixtures/SOURCES.md, "tests/fixtures/rdsproxy/"). AWS says these logs are for
people and may change, so `parse_line` never raises: a line it cannot read becomes an
`Unrecognised` that keeps the line, and `UnrecognisedRate` says when their share jumps.

Only the proxy's own fixed text decides what a line means. The prefix is matched at the
start of the line with character classes no client value can satisfy by accident, and each
message in `MESSAGES` is matched whole, with the client's values (user name, SQL digest)
captured only between fixed words. A user named `[proxyEndpoint=x]` stays a user.

Kinds are only those a public line shows (issue 22 lists what no public line shows):

    client_connected  A new client connected from 192.0.2.10:55392.
    auth_failed       Proxy authentication with IAM authentication failed for user "root"
                      with TLS on. Reason: Invalid credentials. ...
    session_pinned    The client session was pinned to the database connection
                      [dbConnection=973587044] for the remainder of the session. ...
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

# A CloudWatch Logs event is at most 256 KiB; a proxy line is a few hundred bytes. Past this
# a line is kept as a sample, not matched.
MAX_LINE = 64 * 1024
KEEP_CHARS = 4096

ProxyEventKind = Literal["client_connected", "auth_failed", "session_pinned"]

# Endpoint names are RDS identifiers (letters, digits, hyphens; `default` for the default
# endpoint); client connection ids are decimal. The time has milliseconds and `Z` in every
# public line but one, which has neither (boosterkrd_pinned.log): both are read as UTC.
PREFIX = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?)(?P<z>Z)?"
    r" \[(?P<level>[A-Z]{1,10})\]"
    r" \[proxyEndpoint=(?P<endpoint>[A-Za-z][A-Za-z0-9-]{0,62})\]"
    r"(?: \[clientConnection=(?P<conn>[0-9]{1,20})\])?"
    r" (?P<msg>.*)",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class ClientConnected:
    """A client opened a TCP connection to the proxy; the address is the client's own."""

    address: str
    port: int


@dataclass(frozen=True, slots=True)
class AuthFailed:
    """The proxy refused a client's credentials.

    `method` is the proxy's word for the scheme (`IAM` in the public line); `tls` is the
    line's `with TLS on|off`; `reason` is the proxy's text after `Reason: `.
    """

    method: str
    user: str
    tls: bool
    reason: str

    @property
    def iam(self) -> bool:
        return self.method == "IAM"


@dataclass(frozen=True, slots=True)
class SessionPinned:
    """The proxy pinned the client's session to one database connection.

    `reason` may end with `Digest: "<the client's SQL, normalised>"`: client text.
    """

    db_connection: str
    reason: str


ProxyDetail = ClientConnected | AuthFailed | SessionPinned


@dataclass(frozen=True, slots=True)
class ProxyEvent:
    """One recognised proxy line. `client_connection` is None when the line has none."""

    time: datetime
    level: str
    endpoint: str
    client_connection: str | None
    kind: ProxyEventKind
    detail: ProxyDetail


UnrecognisedWhy = Literal["too long", "no prefix", "bad time", "unknown message", "bad value"]


@dataclass(frozen=True, slots=True)
class Unrecognised:
    """A line no pattern reads. `line` is its first KEEP_CHARS characters, `length` all."""

    line: str
    length: int
    why: UnrecognisedWhy

    @classmethod
    def of(cls, line: str, why: UnrecognisedWhy) -> Unrecognised:
        return cls(line=line[:KEEP_CHARS], length=len(line), why=why)


ProxyLineResult = ProxyEvent | Unrecognised


def _connected(m: re.Match[str]) -> ProxyDetail | None:
    port = int(m["port"])
    try:
        address = ipaddress.IPv4Address(m["address"])
    except ValueError:
        return None
    return ClientConnected(str(address), port) if 0 < port < 65536 else None


def _auth_failed(m: re.Match[str]) -> ProxyDetail:
    return AuthFailed(m["method"], m["user"], m["tls"] == "on", m["reason"])


def _pinned(m: re.Match[str]) -> ProxyDetail:
    return SessionPinned(m["db"], m["reason"])


# (kind, whole-message pattern, builder). Each pattern is the proxy's fixed wording from a
# public line (tests/fixtures/SOURCES.md). Where a client value sits between fixed words it
# is matched greedily, so the proxy's own text after it is the *last* occurrence of that
# text: a user name holding `" with TLS off. Reason: x` cannot turn TLS off. It could only
# shift the user/reason split if the proxy's reason repeated the user name, and then the
# kind, method and TLS flag stay the proxy's own. IPv6 client addresses have no public line,
# so only IPv4 is read (issue 22's list of gaps).
_Builder = Callable[[re.Match[str]], ProxyDetail | None]
MESSAGES: tuple[tuple[ProxyEventKind, re.Pattern[str], _Builder], ...] = (
    (
        "client_connected",
        re.compile(
            r"A new client connected from (?P<address>[0-9]{1,3}(?:\.[0-9]{1,3}){3})"
            r":(?P<port>[0-9]{1,5})\."
        ),
        _connected,
    ),
    (
        "auth_failed",
        re.compile(
            r"Proxy authentication with (?P<method>[A-Za-z][A-Za-z0-9 -]{0,39}?) authentication"
            r' failed for user "(?P<user>.*)" with TLS (?P<tls>on|off)\. Reason: (?P<reason>.*)',
            re.DOTALL,
        ),
        _auth_failed,
    ),
    (
        "session_pinned",
        re.compile(
            r"The client session was pinned to the database connection"
            r" \[dbConnection=(?P<db>[0-9]{1,20})\] for the remainder of the session\."
            r" The proxy can't reuse this connection until the session ends\."
            r" Reason: (?P<reason>.*)",
            re.DOTALL,
        ),
        _pinned,
    ),
)


def parse_time(stamp: str, zone: str | None = None) -> datetime | None:
    """`2023-09-06T08:28:13.685` (or `,685`) as UTC unless `zone` is written, or None when
    it is not a real date and time. The proxy's and iam-db-auth-error's times both."""
    whole, _, fraction = stamp.replace(",", ".").partition(".")
    try:
        moment = datetime.fromisoformat(whole + (zone or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment.replace(microsecond=int((fraction + "000000")[:6]) if fraction else 0)
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_line(line: str) -> ProxyLineResult:
    """One proxy log line (a CloudWatch event's message) as an event, never an exception.

    A trailing newline is dropped; a newline inside the line is data (a client value may
    hold one), never the start of another entry.
    """
    if len(line) > MAX_LINE:
        return Unrecognised.of(line, "too long")
    text = line.removesuffix("\n").removesuffix("\r")
    head = PREFIX.fullmatch(text)
    if head is None:
        return Unrecognised.of(line, "no prefix")
    moment = parse_time(head["ts"])
    if moment is None:
        return Unrecognised.of(line, "bad time")
    for kind, pattern, build in MESSAGES:
        found = pattern.fullmatch(head["msg"])
        if found is None:
            continue
        detail = build(found)
        if detail is None:
            return Unrecognised.of(line, "bad value")
        return ProxyEvent(
            time=moment,
            level=head["level"],
            endpoint=head["endpoint"],
            client_connection=head["conn"],
            kind=kind,
            detail=detail,
        )
    return Unrecognised.of(line, "unknown message")


@dataclass(frozen=True, slots=True)
class RateJump:
    """The share of unrecognised lines in the window just closed crossed the threshold."""

    share: float
    previous: float | None
    lines: int


@dataclass
class UnrecognisedRate:
    """Share of unrecognised proxy lines over windows of `window` lines.

    Feed it every result; at the end of each window it returns a `RateJump` when the share
    reaches `threshold` after a window below it (or as the first window), and None
    otherwise, so a format change raises one warning, not one per window. It warns again
    only after a window below the threshold. `share` is the last closed window's share,
    for the metric. Pure: it keeps counts only.
    """

    window: int = 500
    threshold: float = 0.2
    share: float | None = field(default=None, init=False)
    _seen: int = field(default=0, init=False)
    _unrecognised: int = field(default=0, init=False)
    _alarmed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.window < 1 or not 0.0 < self.threshold <= 1.0:
            raise ValueError("window must be >= 1 and threshold in (0, 1]")

    def state(self) -> dict[str, float | int | bool | None]:
        """What `resume` needs to carry the count on (a read is often shorter than a
        window): the counts of the open window, whether it warned, the last share."""
        return {
            "seen": self._seen,
            "unrecognised": self._unrecognised,
            "alarmed": self._alarmed,
            "share": self.share,
        }

    def resume(self, state: dict[str, object]) -> UnrecognisedRate:
        """This rate carried on from `state()`; a state that does not fit is ignored."""
        seen, unrecognised, share = state.get("seen"), state.get("unrecognised"), state.get("share")
        if isinstance(seen, int) and isinstance(unrecognised, int) and 0 <= unrecognised <= seen:
            self._seen = min(seen, self.window - 1)
            self._unrecognised = min(unrecognised, self._seen)
            self._alarmed = state.get("alarmed") is True
            self.share = float(share) if isinstance(share, int | float) else None
        return self

    def observe(self, result: ProxyLineResult) -> RateJump | None:
        self._seen += 1
        self._unrecognised += isinstance(result, Unrecognised)
        if self._seen < self.window:
            return None
        share, previous = self._unrecognised / self._seen, self.share
        self.share, self._seen, self._unrecognised = share, 0, 0
        if share < self.threshold:
            self._alarmed = False
            return None
        if self._alarmed:
            return None
        self._alarmed = True
        return RateJump(share=share, previous=previous, lines=self.window)
