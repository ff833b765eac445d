"""Forged log entries: what a refused client can make PostgreSQL write is never believed.

The fixtures `injection.{log,csv,json}` were written by the real PostgreSQL 15 (see
tests/fixtures/SOURCES.md) while the attacks of issue 17 ran against it. The property
tests write what the server writes for a refused login (elog.c: the prefix gets the
names raw, the message gets a tab after each newline; csvlog quotes, jsonlog escapes) for
any user and database name PostgreSQL accepts: up to 63 bytes, anything but NUL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.models import AuthEvent, SuspiciousEntry
from monitor.parsing.pglog import LogParser, parse_messages

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pglog"
TS = "2026-11-23 03:00:00 UTC"
HOST, PORT, PID = "10.9.8.7", 50123, 4711


def parse(data: bytes, **kwargs: str) -> tuple[list[AuthEvent], list[SuspiciousEntry], LogParser]:
    parser = LogParser(**kwargs)
    events = parser.feed(data) + parser.finish()
    return events, parser.take_suspicious(), parser


def test_pglog_forgery_real_server_attacks_are_refused() -> None:
    events, suspicious, parser = parse((FIXTURES / "injection.log").read_bytes())
    authorized = [e.user for e in events if e.kind == "connection_authorized"]
    assert authorized == ["postgres", "legacy_batch"], "only the two real logins"
    assert not [e for e in events if e.client_host == "10.66.66.66"]
    assert not [e for e in events if e.time.year == 2020]
    failed = [e for e in events if e.kind == "auth_failed"]
    # Nine refused attempts, each still one failed login from its real host and port,
    # its user unknown: none is attributed to app_user, legacy_batch or postgres.
    assert len(failed) == 9
    assert {(e.user, e.client_host) for e in failed} == {(None, "127.0.0.1")}
    assert len({e.client_port for e in failed}) == 9
    assert all(e.reason and e.reason.startswith("suspicious log entry: ") for e in failed)
    assert parser.stats.suspicious == len(suspicious) == 16  # FATAL and DETAIL of each
    assert {s.client_host for s in suspicious} == {"127.0.0.1"}
    newline = [s for s in suspicious if "10.66.66.66" in s.line]
    assert newline and all(s.line.startswith("2026-") and "\n2020-" in s.line for s in newline)
    assert "legacy_batch GSS :[" in suspicious[0].line


def test_pglog_forgery_csvlog_and_jsonlog_name_the_real_user() -> None:
    for name in ("injection.csv", "injection.json"):
        events, suspicious, parser = parse((FIXTURES / name).read_bytes())
        assert not suspicious, name
        assert [e.user for e in events if e.kind == "connection_authorized"] == [
            "postgres",
            "legacy_batch",
        ]
        failed = [e.user for e in events if e.kind == "auth_failed"]
        assert failed.count("attacker") == 8
        assert "z\n2020-01-01 03:00:00 UTC:10.66.66.66(6666):postgres" in failed
        assert parser.stats.unparsed == 0


def test_pglog_forgery_jsonl_record_escapes_the_raw_line() -> None:
    _, suspicious, _ = parse((FIXTURES / "injection.log").read_bytes())
    record = next(s for s in suspicious if "\n" in s.line).to_json()
    assert record["kind"] == "suspicious_entry"
    assert "\n" not in record["line"] and "\\n2020-01-01" in record["line"]
    assert record["client_host"] == "127.0.0.1"


def _prefix(user: bytes, db: bytes) -> bytes:
    return f"{TS}:{HOST}({PORT}):".encode() + user + b"@" + db


def _tabs(message: bytes) -> bytes:
    return message.replace(b"\n", b"\n\t")  # elog.c append_with_tabs


def stderr_refusal(user: bytes, db: bytes, kind: str) -> bytes:
    """What PostgreSQL 15 writes (stderr, RDS prefix) when it refuses this login."""
    prefix = _prefix(user, db) + f":[{PID}]:".encode()
    lines = [
        f"{TS}:{HOST}({PORT}):[unknown]@[unknown]:[{PID}]:LOG:  connection received: "
        f"host={HOST} port={PORT}".encode()
    ]
    if kind == "pam":
        lines.append(prefix + b"LOG:  pam_authenticate failed: Permission denied")
        lines.append(prefix + b'FATAL:  PAM authentication failed for user "' + _tabs(user) + b'"')
    elif kind == "hba":
        fatal = f'no pg_hba.conf entry for host "{HOST}", user "'.encode()
        fatal += user + b'", database "' + db + b'", no encryption'
        lines.append(prefix + b"FATAL:  " + _tabs(fatal))
    else:
        failed = b'password authentication failed for user "' + user + b'"'
        lines.append(prefix + b"FATAL:  " + _tabs(failed))
    detail = b'Role "' + user + b'" does not exist.\nConnection matched pg_hba.conf line 1: "x"'
    lines.append(prefix + b"DETAIL:  " + _tabs(detail))
    return b"\n".join(lines) + b"\n"


def _csv_row(severity: str, message: str, user: str = "", db: str = "", detail: str = "") -> str:
    """A csvlog record as elog.c writes it: text fields quoted (appendCSVLiteral, a lone
    \r included), numbers and times bare, empty values empty."""

    def q(text: str) -> str:
        return '"' + text.replace('"', '""') + '"' if text else ""

    fields = [f"{TS[:19]}.000 UTC", q(user), q(db), str(PID), q(f"{HOST}:{PORT}")]
    fields += ["6b03afe9.3034", "1", q("authentication"), TS, "3/1", "0", severity, "28P01"]
    fields += [q(message), q(detail)] + [""] * 7 + [q(""), q("client backend"), "", "0"]
    return ",".join(fields) + "\n"


def csvlog_refusal(user: str, db: str) -> bytes:
    received = _csv_row("LOG", f"connection received: host={HOST} port={PORT}")
    failed = _csv_row("FATAL", f'password authentication failed for user "{user}"', user, db)
    return (received + failed).encode()


def jsonlog_refusal(user: str, db: str) -> bytes:
    base = {"timestamp": f"{TS[:19]}.000 UTC", "pid": PID, "remote_host": HOST}
    received = {**base, "remote_port": PORT, "error_severity": "LOG"}
    received["message"] = f"connection received: host={HOST} port={PORT}"
    failed = {**base, "remote_port": PORT, "user": user, "dbname": db, "error_severity": "FATAL"}
    failed["message"] = f'password authentication failed for user "{user}"'
    compact = {"separators": (",", ":")}  # as elog.c writes it
    return (json.dumps(received, **compact) + "\n" + json.dumps(failed, **compact) + "\n").encode()


# Pieces of forged log text, so generated names look like attacks as often as not.
_PIECES = [
    b"\n",
    b"\n\t",
    b"@",
    b":[4242]:",
    b"LOG:  ",
    b"FATAL:  ",
    b"DETAIL:  ",
    b"connection authorized: user=legacy_batch database=prod ",
    b" GSS (authenticated=yes, encrypted=yes, principal=x)",
    b'password authentication failed for user "app_user"',
    b"connection received: host=10.66.66.66 port=6666",
    b"2020-01-01 03:00:00 UTC:10.66.66.66(6666):",
    TS.encode() + f":{HOST}({PORT}):".encode(),
    b"postgres",
    b'"',
    b"\r",
    b"\xff",
]
# Non-empty: the server refuses an empty user name before it logs one, and an empty
# database name means the user's.
_names = (
    st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(min_size=1, max_size=8)), max_size=6)
    .map(lambda parts: b"".join(parts).replace(b"\x00", b"")[:63])
    .filter(bool)
)


def _check_refusal(events: list[AuthEvent], user: str) -> None:
    assert not [e for e in events if e.kind == "connection_authorized"]
    for event in events:
        assert event.user in (None, user), event
        assert event.client_host in (None, HOST), event
        assert event.time == datetime(2026, 11, 23, 3, 0, 0, tzinfo=UTC), event
    refused = [e for e in events if e.kind in ("auth_failed", "hba_rejected")]
    assert len(refused) >= 1, "a refused login never disappears"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user=_names, db=_names, kind=st.sampled_from(["password", "pam", "hba"]))
def test_pglog_forgery_refused_login_never_authorizes_or_frames_stderr(
    user: bytes, db: bytes, kind: str
) -> None:
    events, _, parser = parse(stderr_refusal(user, db, kind), fmt="stderr")
    _check_refusal(events, user.decode("utf-8", "replace"))
    assert parser.stats.entries + parser.stats.unparsed <= parser.stats.lines


@settings(max_examples=200, deadline=None)
@given(user=_names, db=_names)
def test_pglog_forgery_refused_login_never_authorizes_or_frames_csv_json(
    user: bytes, db: bytes
) -> None:
    u, d = user.decode("utf-8", "replace"), db.decode("utf-8", "replace")
    for data, fmt in ((csvlog_refusal(u, d), "csvlog"), (jsonlog_refusal(u, d), "jsonlog")):
        events, suspicious, _ = parse(data, fmt=fmt)
        assert not suspicious, "csvlog and jsonlog quote what a client sends"
        _check_refusal(events, u)
        assert [e.user for e in events if e.kind == "auth_failed"] in ([u], [None]), fmt


@settings(max_examples=200, deadline=None)
@given(user=_names, db=_names)
def test_pglog_forgery_cloudwatch_records_one_entry_each(user: bytes, db: bytes) -> None:
    # CloudWatch Logs holds an entry per record: a forged line that starts a record of
    # its own carries its forger's time, far from the record's.
    lines = stderr_refusal(user, db, "password").decode("utf-8", "replace").split("\n")[:-1]
    record_ms = int(datetime(2026, 11, 23, 3, 0, 0, tzinfo=UTC).timestamp() * 1000)
    parser = LogParser(fmt="stderr")
    events = parse_messages([(record_ms, line) for line in lines], parser)
    assert not [e for e in events if e.kind == "connection_authorized"]
    for event in events:
        assert event.client_host in (None, HOST) and event.time.year == 2026, event


def test_pglog_forgery_cloudwatch_record_time_far_from_prefix_time() -> None:
    line = (
        "2020-01-01 03:00:00 UTC:10.66.66.66(6666):postgres@attackdb:[5456]:FATAL:  "
        'password authentication failed for user "postgres"'
    )
    now_ms = int(datetime(2026, 11, 23, 3, 0, 0, tzinfo=UTC).timestamp() * 1000)
    parser = LogParser(fmt="stderr", source="cloudwatch")
    assert parse_messages([(now_ms, line)], parser) == []
    (entry,) = parser.take_suspicious()
    assert entry.line == line and "record's own timestamp" in entry.reason
    assert parser.stats.suspicious == 1 and parser.stats.entries == 1
    # The same record with its true time is read.
    honest = LogParser(fmt="stderr")
    then_ms = int(datetime(2020, 1, 1, 3, 0, 30, tzinfo=UTC).timestamp() * 1000)
    assert [e.user for e in parse_messages([(then_ms, line)], honest)] == ["postgres"]


def test_pglog_forgery_full_forged_entry_before_a_newline() -> None:
    # The database name ends a whole entry of its own, then a newline: the first line is
    # complete and reads one way, but the line after it ends its prefix.
    db = b'b:[1]:FATAL:  password authentication failed for user "app_user"\n'
    events, suspicious, _ = parse(stderr_refusal(b"a", db, "password"), fmt="stderr")
    assert not [e for e in events if e.user == "app_user"]
    assert [(e.kind, e.user, e.client_port) for e in events if e.kind == "auth_failed"] == [
        ("auth_failed", None, PORT)
    ]
    assert any("cut off inside a user/database name" in s.reason for s in suspicious)


def test_pglog_forgery_message_must_agree_with_its_prefix() -> None:
    # Alone, as CloudWatch holds it: the line reads one way, but names another user.
    line = f'{TS}:{HOST}({PORT}):a@b:[1]:FATAL:  password authentication failed for user "x"\n'
    events, suspicious, _ = parse(line.encode(), fmt="stderr")
    assert [(e.kind, e.user, e.client_host) for e in events] == [("auth_failed", None, HOST)]
    assert suspicious[0].reason.startswith("the failure names another user")
    authorized = f"{TS}:{HOST}({PORT}):a@b:[1]:LOG:  connection authorized: user=x database=b\n"
    events, suspicious, _ = parse(authorized.encode(), fmt="stderr")
    assert events == [] and len(suspicious) == 1


def test_pglog_forgery_received_line_must_match_the_prefix_host() -> None:
    line = (
        f"{TS}:{HOST}({PORT}):a@b:[1]:LOG:  connection received: host=10.66.66.66 port=1\n"
    ).encode()
    events, suspicious, _ = parse(line, fmt="stderr")
    assert events == [] and len(suspicious) == 1


def test_pglog_forgery_pid_continuity_catches_a_forged_host() -> None:
    data = (
        f"{TS}:{HOST}({PORT}):[unknown]@[unknown]:[{PID}]:LOG:  connection received: "
        f"host={HOST} port={PORT}\n"
        f"{TS}:10.66.66.66(6666):app@db:[{PID}]:FATAL:  password authentication failed"
        ' for user "app"\n'
    ).encode()
    events, suspicious, _ = parse(data, fmt="stderr")
    failed = [e for e in events if e.kind == "auth_failed"]
    assert [(e.user, e.client_host, e.client_port) for e in failed] == [(None, HOST, PORT)]
    assert "connection received" in suspicious[0].reason


def test_pglog_forgery_one_space_after_severity_is_read() -> None:
    line = f"{TS}:{HOST}({PORT}):app@db:[{PID}]:LOG: connection authorized: user=app database=db\n"
    events, _, parser = parse(line.encode(), fmt="stderr")
    assert [(e.kind, e.user) for e in events] == [("connection_authorized", "app")]
    assert parser.stats.unparsed == 0


def _csv_login(i: int) -> str:
    return _csv_row("LOG", f"connection authorized: user=u{i} database=db", f"u{i}", "db")


def test_pglog_csvlog_field_over_128_kib_loses_nothing() -> None:
    statement = _csv_row("LOG", "statement: SELECT '" + "x\n" * 150_000 + "'", "app", "db")
    data = (statement + "".join(_csv_login(i) for i in range(5000))).encode()
    parser = LogParser(fmt="csvlog")
    events = []
    for k in range(0, len(data), 1 << 20):  # the chunks the CLI reads
        events += parser.feed(data[k : k + (1 << 20)])
    events += parser.finish()
    assert [e.user for e in events] == [f"u{i}" for i in range(5000)]
    assert parser.stats.entries == 5001 and parser.stats.unparsed == 0


def test_pglog_csvlog_resyncs_at_the_next_record_and_counts_the_skipped() -> None:
    # A record cut off inside its quoted message (a truncated file, say), then records.
    broken = _csv_login(0)[:-40] + "\n" + "more text of the broken field\n"
    data = (_csv_login(1) + broken + "".join(_csv_login(i) for i in range(2, 6))).encode()
    events, _, parser = parse(data, fmt="csvlog")
    assert [e.user for e in events] == ["u1", "u2", "u3", "u4", "u5"]
    assert parser.stats.unparsed == 2  # the broken record's two lines
    assert parser.stats.entries == 5
    assert parser.stats.samples[0].startswith("2026-11-23 03:00:00.000 UTC")


def test_pglog_csvlog_statement_with_fake_records_is_one_record() -> None:
    # A logged-in user's statement holding whole csvlog records stays inside its field.
    fake = _csv_login(666).replace('"', '""')
    statement = _csv_row("LOG", "statement: SELECT '\n" + fake + "'", "app", "db")
    events, suspicious, parser = parse((statement + _csv_login(1)).encode(), fmt="csvlog")
    assert [e.user for e in events] == ["u1"] and not suspicious
    assert parser.stats.entries == 2 and parser.stats.unparsed == 0


def test_pglog_auth_line_without_event_is_unparsed_not_dropped() -> None:
    lines = [
        f"{TS}:{HOST}({PORT}):a@b:[1]:LOG:  connection authorized: usr=a",
        f"{TS}:{HOST}({PORT}):a@b:[2]:FATAL:  password authentication failed for user",
        f"{TS}:{HOST}({PORT}):a@b:[3]:LOG:  connection received: host=",
    ]
    events, _, parser = parse(("\n".join(lines) + "\n").encode(), fmt="stderr")
    assert events == []
    assert parser.stats.unparsed == 3 and parser.stats.entries == 0
    assert [s[-12:] for s in parser.stats.samples] == [line[-12:] for line in lines]
