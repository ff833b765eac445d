"""The PostgreSQL log parser over fixture files in every format (tests/fixtures/pglog)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.models import AuthEvent
from monitor.parsing.pglog import LogParser, detect_format, parse_messages
from monitor.parsing.pglog_prefix import PrefixError, compile_prefix, parse_pg_time

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pglog"


def parse(data: bytes, **kwargs: str) -> tuple[list[AuthEvent], LogParser]:
    parser = LogParser(**kwargs)
    events = parser.feed(data) + parser.finish()
    return events, parser


def parse_file(name: str, **kwargs: str) -> tuple[list[AuthEvent], LogParser]:
    return parse((FIXTURES / name).read_bytes(), source=name, **kwargs)


def kinds(events: list[AuthEvent]) -> list[str]:
    return [e.kind for e in events]


def test_pglog_pam_pair_is_one_auth_failed() -> None:
    events, parser = parse_file("rds_pam.log")
    failed = [e for e in events if e.kind == "auth_failed"]
    assert [(e.user, e.method, e.reason, e.pid) for e in failed] == [
        ("pgmonitor", "pam", "Permission denied", 12108),
        # A FATAL alone is still a failed attempt.
        ("reporting", "pam", None, 12111),
    ]
    assert failed[0].time == datetime(2026, 11, 23, 3, 0, 1, tzinfo=UTC)
    assert failed[0].client_host == "10.0.1.15"
    assert failed[0].client_port == 48700
    assert failed[0].database == "pgbench"
    assert parser.stats.lines == 11
    assert parser.stats.entries == 11
    assert parser.stats.unparsed == 0


def test_pglog_rds_iam_login_events() -> None:
    events, _ = parse_file("rds_pam.log")
    assert kinds(events) == [
        "connection_received",
        "auth_failed",
        "connection_received",
        "hba_rejected",
        "connection_received",
        "connection_authenticated",
        "connection_authorized",
        "disconnection",
        "auth_failed",
    ]
    hba = events[3]
    assert (hba.user, hba.database, hba.client_host) == ("pgmonitor", "pgbench", "10.0.1.15")
    assert hba.reason is not None and hba.reason.endswith("no encryption")
    authn, authz, disc = events[5], events[6], events[7]
    assert (authn.method, authn.identity, authn.user) == ("pam", "pgmonitor", "pgmonitor")
    assert (authz.user, authz.database, authz.application_name, authz.tls) == (
        "pgmonitor",
        "pgbench",
        "pgwarden",
        "TLSv1.3",
    )
    assert disc.session_s == 300.25
    assert events[0].user is None  # [unknown]@[unknown]


def test_pglog_real_server_stderr() -> None:
    events, parser = parse_file("pg15_server.log")
    assert parser.format == "stderr"
    assert parser.stats.unparsed == 0
    assert parser.stats.lines == 51
    # Two lines are a statement's first line and its continuation: one entry.
    assert parser.stats.entries == 50
    by_kind = {k: [e for e in events if e.kind == k] for k in set(kinds(events))}
    assert [(e.user, e.method) for e in by_kind["auth_failed"]] == [
        ("app_rw", "password"),
        ("alice@example.com", "password"),
    ]
    assert by_kind["auth_failed"][0].reason == (
        'Connection matched pg_hba.conf line 3: "host all +pwusers 127.0.0.1/32 scram-sha-256"'
    )
    assert [e.reason for e in by_kind["connection_rejected"]] == [
        'database "nosuchdb" does not exist',
        'role "nologin_role" is not permitted to log in',
        'too many connections for role "limited"',
    ]
    assert [e.user for e in by_kind["hba_rejected"]] == ["ghost", "nobody_in_hba"]
    apps = {e.user: e.application_name for e in by_kind["connection_authorized"]}
    assert apps["app_rw"] == "billing-api"
    assert apps["alice@example.com"] == "psql"
    # The statement that quotes "PAM authentication failed" is not a failure.
    assert len(by_kind["auth_failed"]) == 2


def _shape(events: list[AuthEvent]) -> list[tuple[str | None, ...]]:
    return [(e.kind, e.user, e.database, e.method, e.client_host) for e in events]


def test_pglog_iam_db_auth_error_keeps_reason_code_and_caller() -> None:
    """SOURCES:iam_db_auth_error/troubleshooting_table.log, through the format that reads
    the export: every documented code, and the NotAuthorized line names the principal."""
    events, parser = parse_file("../iam_db_auth_error/troubleshooting_table.log")
    assert parser.format == "iam-db-auth-error"
    assert parser.stats.unparsed == 0
    assert [(e.kind, e.method, e.user, e.reason_code, e.caller_arn) for e in events] == [
        ("auth_failed", "iam", "db_user", "InvalidToken", None),
        ("auth_failed", "iam", "db_user", "ExpiredToken", None),
        (
            "auth_failed",
            "iam",
            "db_user",
            "NotAuthorized",
            "arn:aws:sts::123456789012:assumed-role/RoleName/RoleSession",
        ),
        ("auth_failed", "iam", "db_user", "ThrottlingException", None),
        ("auth_failed", "iam", "db_user", "InternalError", None),
    ]
    assert events[0].time == datetime(2025, 9, 22, 12, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "fmt"), [("pg15_server.csv", "csvlog"), ("pg15_server.json", "jsonlog")]
)
def test_pglog_csvlog_and_jsonlog_agree_with_stderr(name: str, fmt: str) -> None:
    # The same session script ran against a server writing stderr, csvlog and jsonlog.
    stderr_events, _ = parse_file("pg15_server.log")
    events, parser = parse_file(name)
    assert parser.format == fmt
    assert parser.stats.unparsed == 0
    assert _shape(events) == _shape(stderr_events)
    assert all(e.time.year == 2026 and e.time.microsecond for e in events)


def test_pglog_csvlog_counts_records_not_lines() -> None:
    _, parser = parse_file("pg15_server.csv")
    # One record's message holds a newline (the multi-line statement).
    assert parser.stats.lines == parser.stats.entries + 1


def test_pglog_tricky_lines_survive() -> None:
    events, parser = parse_file("tricky.log")
    assert parser.stats.lines == 19
    # The garbage line, and the last one: cut off inside "connection authorized", it
    # mentions a login but gives no event, so it is counted, never dropped in silence.
    assert parser.stats.unparsed == 2
    assert parser.stats.samples[0].startswith("\x00")
    assert parser.stats.samples[1].endswith("LOG:  connection autho")
    assert parser.stats.entries == 15  # 19 lines - 2 continuation lines - 2 unparsed
    assert parser.stats.suspicious == 0, "a statement quoting a log line is no forgery"
    received = [e for e in events if e.kind == "connection_received"]
    assert [(e.client_host, e.client_port) for e in received] == [
        ("2001:db8::7", 50123),
        ("[local]", None),
    ]
    # 04:00:03 CET is 03:00:03 UTC; 08:30:05 +0530 is 03:00:05 UTC.
    assert received[0].time == datetime(2026, 11, 23, 3, 0, 3, tzinfo=UTC)
    failed = [e for e in events if e.kind == "auth_failed"]
    assert len(failed) == 1, "statement text that quotes a FATAL is not a failure"
    assert failed[0].user == 'o"brien'
    assert failed[0].time == datetime(2026, 11, 23, 3, 0, 5, tzinfo=UTC)
    assert failed[0].reason == (
        'Role "o"brien" does not exist.\n'
        'Connection matched pg_hba.conf line 9: "host all all 0.0.0.0/0 scram-sha-256"'
    )
    users = [e.user for e in events if e.kind == "connection_authorized"]
    assert users == ["etl.loader", "postgres", "zoë", "crlf"]
    rejected = [e.reason for e in events if e.kind == "connection_rejected"]
    assert rejected == [
        'database "gone" does not exist',
        "sorry, too many clients already",
        "remaining connection slots are reserved for non-replication superuser connections",
    ]
    assert [e.user for e in events if e.kind == "hba_rejected"] == ["app"]


def test_pglog_cloudwatch_export_with_leading_timestamp() -> None:
    events, parser = parse_file("cloudwatch_export.log")
    assert parser.format == "stderr"
    assert kinds(events) == ["auth_failed", "connection_authorized"]
    assert events[0].reason == "Permission denied"


def test_pglog_cloudwatch_records_without_timestamp() -> None:
    lines = (FIXTURES / "rds_pam.log").read_text().splitlines()
    events = parse_messages([(None, line) for line in lines], LogParser(source="cloudwatch"))
    assert kinds(events).count("auth_failed") == 2
    assert all(e.source == "cloudwatch" for e in events)


def test_pglog_iam_db_auth_error_export() -> None:
    events, parser = parse_file("iam_db_auth_error.log")
    assert parser.format == "iam-db-auth-error"
    assert [(e.kind, e.user, e.method) for e in events] == [
        ("auth_failed", "pgmonitor", "iam"),
        ("auth_failed", "alice@example.com", "iam"),
    ]
    assert events[0].time == datetime(2026, 11, 23, 3, 0, 5, 804000, tzinfo=UTC)
    # Written by hand in words AWS does not use: a failure, for a reason not documented.
    assert [(e.reason_code, e.caller_arn) for e in events] == [("Unknown", None)] * 2
    assert (parser.stats.lines, parser.stats.entries, parser.stats.unparsed) == (4, 3, 1)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("rds_pam.log", "stderr"),
        ("cloudwatch_export.log", "stderr"),
        ("pg15_server.csv", "csvlog"),
        ("pg15_server.json", "jsonlog"),
        ("iam_db_auth_error.log", "iam-db-auth-error"),
    ],
)
def test_pglog_auto_detects_format(name: str, fmt: str) -> None:
    assert detect_format((FIXTURES / name).read_bytes()) == fmt


@pytest.mark.parametrize(
    "name", ["rds_pam.log", "tricky.log", "pg15_server.log", "pg15_server.csv"]
)
@pytest.mark.parametrize("size", [1, 7, 64, 1000])
def test_pglog_any_split_gives_the_same_result(name: str, size: int) -> None:
    data = (FIXTURES / name).read_bytes()
    whole, whole_parser = parse(data, fmt=detect_format(data))
    parser = LogParser(fmt=detect_format(data))
    events = []
    for i in range(0, len(data), size):
        events += parser.feed(data[i : i + size])
    events += parser.finish()
    assert events == whole
    assert parser.stats == whole_parser.stats


def test_pglog_detail_after_fatal_in_the_next_block() -> None:
    fatal = (
        b"2026-11-23 03:00:00 UTC:h(1):u@d:[7]:"
        b'FATAL:  password authentication failed for user "u"\n'
    )
    detail = (
        b'2026-11-23 03:00:00 UTC:h(1):u@d:[7]:DETAIL:  Password does not match for user "u".\n'
    )
    parser = LogParser(fmt="stderr")
    events = parser.feed(fatal) + parser.feed(detail) + parser.feed(b"2026") + parser.finish()
    assert [(e.kind, e.reason) for e in events] == [
        ("auth_failed", 'Password does not match for user "u".')
    ]


def test_pglog_pam_log_without_fatal_still_counts() -> None:
    line = (
        b"2026-11-23 03:00:00 UTC:h(1):u@d:[7]:"
        b"LOG:  pam_authenticate failed: Authentication failure\n"
    )
    events, _ = parse(line)
    assert [(e.kind, e.method, e.reason) for e in events] == [
        ("auth_failed", "pam", "Authentication failure")
    ]


def test_pglog_prefix_with_every_escape() -> None:
    prefix = "%m %n [%p-%l] %q%u@%d/%a %h %r %c %e %i %s %v %x %b %Q %P %t %%:"
    px = compile_prefix(prefix)
    rx, first = px.line, px.first
    assert first.startswith(b"0")
    line = (
        "2026-11-23 03:00:00.123 UTC 1795402800.123 [42-3] bob@db/my app 10.0.0.1 "
        "10.0.0.1(5432) 6b03afe9.3034 00000 authentication 2026-11-23 03:00:00 UTC 3/1 0 "
        "client backend 0 0 2026-11-23 03:00:00 UTC %:LOG:  connection authorized: user=bob"
        " database=db application_name=my app"
    )
    events, parser = parse(line.encode() + b"\n", prefix=prefix)
    assert parser.stats.unparsed == 0
    assert [(e.kind, e.user, e.database, e.application_name, e.pid) for e in events] == [
        ("connection_authorized", "bob", "db", "my app", 42)
    ]
    assert events[0].time == datetime(2026, 11, 23, 3, 0, 0, 123000, tzinfo=UTC)
    assert rx.fullmatch("2026-11-23 03:00:00.123 UTC 1795402800.123 [42-3] LOG:  x")


def test_pglog_prefix_q_stops_for_background_processes() -> None:
    prefix = "%m [%p] %q%u@%d "
    data = (
        b"2026-11-23 03:00:00.000 UTC [10] LOG:  checkpoint starting: time\n"
        b"2026-11-23 03:00:01.000 UTC [11] app@db LOG:  disconnection: session time: "
        b"0:00:01.500 user=app database=db host=10.0.0.1 port=5000\n"
    )
    events, parser = parse(data, prefix=prefix)
    assert parser.stats.unparsed == 0
    assert [(e.kind, e.session_s) for e in events] == [("disconnection", 1.5)]


def test_pglog_prefix_unknown_escape_is_an_error() -> None:
    with pytest.raises(PrefixError, match="unknown escape %z"):
        LogParser(prefix="%t %z")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23 03:00:00 UTC", datetime(2026, 11, 23, 3, 0, tzinfo=UTC)),
        ("2026-11-22 22:00:00 EST", datetime(2026, 11, 23, 3, 0, tzinfo=UTC)),
        ("2026-11-23 05:00:00 CEST", datetime(2026, 11, 23, 3, 0, tzinfo=UTC)),
        ("2026-11-23 06:00:00 +03", datetime(2026, 11, 23, 3, 0, tzinfo=UTC)),
        ("2026-11-22 23:30:00 -0330", datetime(2026, 11, 23, 3, 0, tzinfo=UTC)),
        ("2026-11-23 03:00:00.250 UTC", datetime(2026, 11, 23, 3, 0, 0, 250000, tzinfo=UTC)),
        ("1795402800.500", datetime(2026, 11, 23, 3, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-23 03:00:00 XYZT", None),
    ],
)
def test_pglog_time_zones(text: str, expected: datetime | None) -> None:
    assert parse_pg_time(text) == expected


def test_pglog_unknown_zone_is_unparsed_not_guessed() -> None:
    line = b"2026-11-23 03:00:00 XYZT:h(1):u@d:[7]:LOG:  connection received: host=h port=1\n"
    events, parser = parse(line)
    assert events == []
    assert (parser.stats.lines, parser.stats.entries, parser.stats.unparsed) == (1, 0, 1)


def test_pglog_dedup_key_ignores_source() -> None:
    a = AuthEvent(time=datetime(2026, 1, 1, tzinfo=UTC), kind="auth_failed", user="x", source="a")
    b = AuthEvent(time=datetime(2026, 1, 1, tzinfo=UTC), kind="auth_failed", user="x", source="b")
    c = AuthEvent(time=datetime(2026, 1, 1, tzinfo=UTC), kind="auth_failed", user="y", source="a")
    assert a.dedup_key("t") == b.dedup_key("t")
    assert a.dedup_key("t") != c.dedup_key("t")
    assert a.dedup_key("t") != a.dedup_key("other-target")


def test_pglog_event_json_time_is_iso() -> None:
    tz = timezone(timedelta(hours=1))
    event = AuthEvent(time=datetime(2026, 1, 1, 1, tzinfo=tz), kind="disconnection")
    assert event.to_json()["time"] == "2026-01-01T01:00:00+01:00"
    assert list(event.to_json())[:3] == ["time", "kind", "user"]


def test_pglog_enormous_lines_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.parsing import pglog

    monkeypatch.setattr(pglog, "_MAX_CARRY", 1000)
    good = (FIXTURES / "rds_pam.log").read_bytes().splitlines(keepends=True)[-1]
    parser = LogParser(fmt="stderr")
    events = []
    # A 5,000-byte line with no newline for a long time, fed in pieces: held no longer
    # than the cap, counted once as unparsed, and the lines after it still read.
    for _ in range(5):
        events += parser.feed(b"x" * 1000)
    events += parser.feed(b"y" * 10 + b"\n" + good)
    # A multi-line entry longer than the cap: processed in pieces, nothing lost.
    long_entry = good.replace(b"FATAL", b"LOG", 1).rstrip(b"\n") + b"\n" + b"\tSELECT 1\n" * 300
    events += parser.feed(long_entry + good)
    events += parser.finish()
    assert [e.kind for e in events] == ["auth_failed", "auth_failed"]
    assert parser.stats.lines == 1 + 1 + 1 + 300 + 1
    assert parser.stats.unparsed == 1
    assert parser.stats.entries == 3
    assert len(parser._buf) == 0


def test_pglog_aws_logs_tail_output() -> None:
    # `aws logs tail` adds the event time and the log stream name before each record.
    lines = (FIXTURES / "aws_logs_tail.log").read_bytes().splitlines(keepends=True)
    events, parser = parse(b"".join(lines[:2]))
    assert parser.format == "stderr"
    assert [(e.kind, e.user, e.reason) for e in events] == [
        ("auth_failed", "pgmonitor", "Permission denied")
    ]
    events, parser = parse(lines[2])
    assert parser.format == "iam-db-auth-error"
    assert [(e.kind, e.method, e.time.microsecond) for e in events] == [
        ("auth_failed", "iam", 804000)
    ]
    assert parser.stats.unparsed == 0


def test_pglog_real_pam_server_fixture() -> None:
    """The lines the PAM-emulating server really wrote (live-sessions tests): one attempt,
    one auth_failed, with the reason from the LOG line."""
    from pathlib import Path

    from monitor.parsing.pglog import LogParser

    path = Path(__file__).resolve().parents[1] / "fixtures" / "pglog" / "pam_server.log"
    data = path.read_bytes()
    parser = LogParser("auto", "%t:%r:%u@%d:[%p]:", source=str(path))
    events = parser.feed(data) + parser.finish()
    failed = [e for e in events if e.kind == "auth_failed"]
    fatals = data.count(b"FATAL:  PAM authentication failed")
    assert fatals > 0 and len(failed) == fatals
    assert {(e.method, e.reason) for e in failed} == {("pam", "Permission denied")}
    assert parser.stats.unparsed == 0
    authorized = [e for e in events if e.kind == "connection_authorized"]
    assert len(authorized) == data.count(b"connection authorized:")
