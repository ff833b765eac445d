"""The RDS Proxy log parser over every public proxy line (tests/fixtures/rdsproxy), hostile
lines built from them, and the unrecognised-line rate.

Each fixture test names its entry in tests/fixtures/SOURCES.md, section
"tests/fixtures/rdsproxy/", in its parametrize id.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.parsing.proxylog import (
    KEEP_CHARS,
    MAX_LINE,
    AuthFailed,
    ClientConnected,
    ProxyEvent,
    ProxyLineResult,
    RateJump,
    SessionPinned,
    Unrecognised,
    UnrecognisedRate,
    UnrecognisedWhy,
    parse_line,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rdsproxy"
PREFIX = "2022-10-21T17:25:29.601Z [INFO] [proxyEndpoint=default] [clientConnection=94296180] "
# The real line of mysqljl_iam_failed.log, cut around the user so tests can swap it.
AUTH_HEAD = PREFIX + "Proxy authentication with IAM authentication failed for user "
AUTH_TAIL = (
    " with TLS on. Reason: Invalid credentials. If you provide an IAM token, make sure to"
    " either use the correct password or enable IAM authentication."
)
PINNED = (
    "2023-09-06T08:28:13.685Z [WARN] [proxyEndpoint=default] [clientConnection=51706963]"
    " The client session was pinned to the database connection [dbConnection=973587044] for"
    " the remainder of the session. The proxy can't reuse this connection until the session"
    " ends. Reason: "
)


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text(encoding="utf-8").splitlines()


def event(result: ProxyLineResult) -> ProxyEvent:
    assert isinstance(result, ProxyEvent), result
    return result


def failed(user: str) -> AuthFailed:
    detail = event(parse_line(AUTH_HEAD + user + AUTH_TAIL)).detail
    assert isinstance(detail, AuthFailed)
    return detail


MYSQLJL = lines("mysqljl_iam_failed.log")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            lines("smily_pinned.log")[0],
            ProxyEvent(
                time=datetime(2023, 9, 6, 8, 28, 13, 685000, tzinfo=UTC),
                level="WARN",
                endpoint="default",
                client_connection="51706963",
                kind="session_pinned",
                detail=SessionPinned(
                    "973587044",
                    "The connection ran a SQL query which exceeded the 16384 byte limit.",
                ),
            ),
            id="SOURCES:rdsproxy/smily_pinned.log",
        ),
        pytest.param(
            lines("boosterkrd_pinned.log")[0],
            ProxyEvent(
                time=datetime(2024, 10, 12, 17, 20, 40, tzinfo=UTC),
                level="WARN",
                endpoint="default",
                client_connection="2125203372",
                kind="session_pinned",
                detail=SessionPinned(
                    "1953961465",
                    "SQL changed session settings that the proxy doesn't track. Consider moving"
                    " session configuration to the proxy's initialization query."
                    ' Digest: "set search_path to $1,$2,$3".',
                ),
            ),
            id="SOURCES:rdsproxy/boosterkrd_pinned.log",
        ),
        pytest.param(
            MYSQLJL[0],
            ProxyEvent(
                time=datetime(2022, 10, 21, 17, 25, 29, 482000, tzinfo=UTC),
                level="INFO",
                endpoint="default",
                client_connection="94296180",
                kind="client_connected",
                detail=ClientConnected("192.0.2.10", 55392),
            ),
            id="SOURCES:rdsproxy/mysqljl_iam_failed.log-connected",
        ),
        pytest.param(
            MYSQLJL[1],
            ProxyEvent(
                time=datetime(2022, 10, 21, 17, 25, 29, 601000, tzinfo=UTC),
                level="INFO",
                endpoint="default",
                client_connection="94296180",
                kind="auth_failed",
                detail=AuthFailed(
                    method="IAM",
                    user="root",
                    tls=True,
                    reason="Invalid credentials. If you provide an IAM token, make sure to"
                    " either use the correct password or enable IAM authentication.",
                ),
            ),
            id="SOURCES:rdsproxy/mysqljl_iam_failed.log-iam-failed",
        ),
    ],
)
def test_proxylog_fixture_line(line: str, expected: ProxyEvent) -> None:
    assert parse_line(line) == expected


def test_proxylog_every_fixture_line_is_recognised() -> None:
    """Every line of every file in tests/fixtures/rdsproxy (SOURCES.md lists them all)."""
    every = [line for path in sorted(FIXTURES.glob("*.log")) for line in lines(path.name)]
    assert len(every) == 4
    assert [type(parse_line(line)) for line in every] == [ProxyEvent] * 4


def test_proxylog_iam_failure_says_iam() -> None:
    """SOURCES:rdsproxy/mysqljl_iam_failed.log: the method word decides IAM, not the user."""
    assert failed('"root"').iam
    assert not AuthFailed("PostgreSQL native password", "root", True, "x").iam


def test_proxylog_trailing_newline_and_crlf_are_dropped() -> None:
    assert parse_line(MYSQLJL[0] + "\r\n") == parse_line(MYSQLJL[0])


# --- hostile input: what a client chooses never decides what a line means -----------------


@pytest.mark.parametrize(
    "user",
    [
        '"[proxyEndpoint=x] [clientConnection=1]"',
        '"IAM authentication failed"',
        '"a" with TLS off. Reason: forged"',
        '"A new client connected from 203.0.113.9:1."',
        '"' + PREFIX + 'A new client connected from 203.0.113.9:1."',
        '"bell\x07 nul\x00 esc\x1b[31m cr\r lf\n u2028\u2028 rtl\u202e"',
        '""',
    ],
)
def test_proxylog_user_is_data(user: str) -> None:
    """SOURCES:rdsproxy/mysqljl_iam_failed.log with the user replaced by hostile text."""
    result = event(parse_line(AUTH_HEAD + user + AUTH_TAIL))
    assert (result.kind, result.endpoint, result.client_connection) == (
        "auth_failed",
        "default",
        "94296180",
    )
    detail = result.detail
    assert isinstance(detail, AuthFailed)
    assert (detail.method, detail.tls, detail.user) == ("IAM", True, user[1:-1])
    assert detail.reason.startswith("Invalid credentials.")


def test_proxylog_forged_tls_in_user_does_not_turn_tls_off() -> None:
    detail = failed('"x" with TLS off. Reason: y"')
    assert detail.tls
    assert detail.user == 'x" with TLS off. Reason: y'


def test_proxylog_pinned_digest_holding_a_whole_line_stays_pinned() -> None:
    """SOURCES:rdsproxy/boosterkrd_pinned.log shape; the digest is the client's SQL."""
    forged = 'Digest: "' + MYSQLJL[1] + '".'
    result = event(parse_line(PINNED + forged))
    assert result.kind == "session_pinned"
    assert isinstance(result.detail, SessionPinned)
    assert result.detail.reason == forged


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("", "no prefix"),
        ("not a proxy line", "no prefix"),
        (PREFIX.lower() + "A new client connected from 192.0.2.1:5.", "no prefix"),
        (PREFIX.replace("=default", "=de fault") + "x", "no prefix"),
        (PREFIX.replace("=default", "=[proxyEndpoint=x]") + "x", "no prefix"),
        # Without a well-formed clientConnection the tag is part of an unknown message.
        (PREFIX.replace("94296180", "12ab") + "x", "unknown message"),
        (" " + MYSQLJL[0], "no prefix"),
        (PREFIX.replace("2022-10-21", "2022-02-30") + "x", "bad time"),
        (PREFIX.replace("17:25:29", "25:61:61") + "x", "bad time"),
        (PREFIX + "A new client connected from 192.0.2.1:0.", "bad value"),
        (PREFIX + "A new client connected from 192.0.2.1:70000.", "bad value"),
        (PREFIX + "A new client connected from 999.0.2.1:5432.", "bad value"),
        (PREFIX + "A new client connected from [2001:db8::1]:5432.", "unknown message"),
        (PREFIX + "A new client connected from 192.0.2.1:5432", "unknown message"),
        (PREFIX + PREFIX + "A new client connected from 192.0.2.1:5432.", "unknown message"),
        (PREFIX + " A new client connected from 192.0.2.1:5432.", "unknown message"),
        (PREFIX + "The client connection closed. Reason: x", "unknown message"),
        (
            PREFIX + "Proxy authentication with IAM authentication failed for user x",
            "unknown message",
        ),
    ],
)
def test_proxylog_unreadable_line_is_unrecognised(line: str, why: UnrecognisedWhy) -> None:
    assert parse_line(line) == Unrecognised(line=line, length=len(line), why=why)


def test_proxylog_too_long_line_is_kept_cut_and_fast() -> None:
    line = AUTH_HEAD + '"' + "x" * (MAX_LINE + 1) + '"' + AUTH_TAIL
    start = time.perf_counter()
    result = parse_line(line)
    assert isinstance(result, Unrecognised)
    assert (result.why, result.length, result.line) == ("too long", len(line), line[:KEEP_CHARS])
    assert time.perf_counter() - start < 0.5


def test_proxylog_long_hostile_user_just_under_the_limit_is_fast() -> None:
    # Many copies of the proxy's own words inside the user: each is a place a regex could
    # backtrack to.
    chunk = '" with TLS off. Reason: [proxyEndpoint=x] '
    user = '"' + chunk * ((MAX_LINE - 400) // len(chunk)) + '"'
    start = time.perf_counter()
    detail = failed(user)
    assert time.perf_counter() - start < 0.5
    assert detail.tls
    assert detail.user == user[1:-1]


_REAL = [line for path in sorted(FIXTURES.glob("*.log")) for line in lines(path.name)]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.sampled_from(_REAL).flatmap(lambda s: st.integers(0, len(s)).map(lambda i: s[:i])),
        st.tuples(st.sampled_from(_REAL), st.integers(0, 400), st.text(max_size=20)).map(
            lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
        ),
    )
)
def test_proxylog_never_raises(line: str) -> None:
    result = parse_line(line)
    assert isinstance(result, ProxyEvent | Unrecognised)
    if isinstance(result, Unrecognised):
        assert result.line == line[:KEEP_CHARS]


# --- the unrecognised-line rate -----------------------------------------------------------

GOOD = parse_line(MYSQLJL[0])
BAD = parse_line("a line in a format the proxy moved to")


def feed(rate: UnrecognisedRate, bad: int, good: int) -> list[RateJump]:
    results = [BAD] * bad + [GOOD] * good
    return [jump for r in results if (jump := rate.observe(r)) is not None]


def test_proxylog_rate_warns_once_when_the_format_moves() -> None:
    rate = UnrecognisedRate(window=10, threshold=0.3)
    assert feed(rate, 1, 9) == []
    assert rate.share == 0.1  # 1/10 and 0.1 are the same double
    (jump,) = feed(rate, 6, 4)
    assert (jump.share, jump.previous, jump.lines) == (0.6, 0.1, 10)
    # Still moved: no second warning.
    assert feed(rate, 10, 0) == []
    assert rate.share == 1.0
    # Back below the threshold, then up again: a new warning.
    assert feed(rate, 0, 10) == []
    (again,) = feed(rate, 3, 7)
    assert (again.share, again.previous, again.lines) == (0.3, 0.0, 10)


def test_proxylog_rate_first_window_can_warn() -> None:
    rate = UnrecognisedRate(window=4, threshold=0.5)
    assert rate.share is None
    assert feed(rate, 3, 0) == []  # window not closed yet
    assert feed(rate, 0, 1) == [RateJump(share=0.75, previous=None, lines=4)]


@pytest.mark.parametrize(("window", "threshold"), [(0, 0.5), (10, 0.0), (10, 1.5)])
def test_proxylog_rate_rejects_bad_options(window: int, threshold: float) -> None:
    with pytest.raises(ValueError, match="window"):
        UnrecognisedRate(window=window, threshold=threshold)


def test_proxylog_rate_resumes_across_reads() -> None:
    """A read is often shorter than a window: the rds-proxy source carries the count on in
    its cursor, and a moved format warns once over any number of reads."""
    rate = UnrecognisedRate(window=4, threshold=0.5)
    assert feed(rate, 3, 0) == []
    resumed = UnrecognisedRate(window=4, threshold=0.5).resume(rate.state())
    assert feed(resumed, 1, 0) == [RateJump(share=1.0, previous=None, lines=4)]
    again = UnrecognisedRate(window=4, threshold=0.5).resume(resumed.state())
    assert feed(again, 4, 0) == [] and again.share == 1.0
    # A state that does not fit (hand-edited, another window) starts afresh or is clamped.
    assert (
        UnrecognisedRate(window=4).resume({"seen": "x"}).state()
        == UnrecognisedRate(window=4).state()
    )
    assert UnrecognisedRate(window=4).resume({"seen": 9, "unrecognised": 9}).state()["seen"] == 3
