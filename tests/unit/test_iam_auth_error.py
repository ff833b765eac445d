"""The iam-db-auth-error parser over AWS's documented lines (tests/fixtures/iam_db_auth_error),
hostile user names and callers, and pgwarden's older hand-written fixture.

Each fixture test names its entry in tests/fixtures/SOURCES.md, section
"tests/fixtures/iam_db_auth_error/", in its parametrize id.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.models import AuthEvent
from monitor.parsing.iam_auth_error import (
    IAM_REASONS,
    IamAuthFailure,
    IamLineResult,
    IamReason,
    caller_arn,
    parse_line,
)
from monitor.parsing.proxylog import KEEP_CHARS, MAX_LINE, Unrecognised

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROLE = "arn:aws:sts::123456789012:assumed-role/RoleName/RoleSession"
STAMP = "2025-09-22T12:03:02,000 [ERROR] "
NOT_AUTHORIZED_TAIL = (
    " because the IAM policy assumed by the caller '{caller}' is not authorized to perform"
    " `rds-db:connect` on the DB instance. (Status Code: 403, Error Code:NotAuthorized)"
)
INVALID_TAIL = (
    " because the provided token is malformed or otherwise invalid."
    " (Status Code: 400, Error Code: InvalidToken)"
)


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text(encoding="utf-8").splitlines()


def failure(result: IamLineResult) -> IamAuthFailure:
    assert isinstance(result, IamAuthFailure), result
    return result


def authorize(user: str, caller: str = ROLE) -> IamAuthFailure:
    return failure(
        parse_line(
            STAMP
            + "Failed to authorize the connection request for user "
            + user
            + NOT_AUTHORIZED_TAIL.format(caller=caller)
        )
    )


EXAMPLES = lines("iam_db_auth_error/aurora_mysql_examples.log")
TABLE = lines("iam_db_auth_error/troubleshooting_table.log")


def at(second: int, millis: int = 0) -> datetime:
    return datetime(2025, 9, 22, 12, second // 60, second % 60, millis * 1000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            EXAMPLES[0],
            IamAuthFailure(at(150, 806), "ERROR", "authorize", "user_1", "InternalError",
                           "InternalError", 500, None),
            id="SOURCES:iam_db_auth_error/aurora_mysql_examples.log-InternalError",
        ),
        pytest.param(
            EXAMPLES[1],
            IamAuthFailure(at(171, 954), "ERROR", "authenticate", "user_2", "InvalidToken",
                           "InvalidToken", 400, None),
            id="SOURCES:iam_db_auth_error/aurora_mysql_examples.log-InvalidToken",
        ),
        pytest.param(
            TABLE[0],
            IamAuthFailure(at(180), "ERROR", "authenticate", "db_user", "InvalidToken",
                           "InvalidToken", 400, None),
            id="SOURCES:iam_db_auth_error/troubleshooting_table.log-InvalidToken",
        ),
        pytest.param(
            TABLE[1],
            IamAuthFailure(at(181), "ERROR", "authenticate", "db_user", "ExpiredToken",
                           "ExpiredToken", 400, None),
            id="SOURCES:iam_db_auth_error/troubleshooting_table.log-ExpiredToken",
        ),
        pytest.param(
            TABLE[2],
            IamAuthFailure(at(182), "ERROR", "authorize", "db_user", "NotAuthorized",
                           "NotAuthorized", 403, ROLE),
            id="SOURCES:iam_db_auth_error/troubleshooting_table.log-NotAuthorized",
        ),
        pytest.param(
            TABLE[3],
            IamAuthFailure(at(183), "ERROR", "authorize", "db_user", "ThrottlingException",
                           "ThrottlingException", 429, None),
            id="SOURCES:iam_db_auth_error/troubleshooting_table.log-ThrottlingException",
        ),
        pytest.param(
            TABLE[4],
            IamAuthFailure(at(184), "ERROR", "authorize", "db_user", "InternalError",
                           "InternalError", 500, None),
            id="SOURCES:iam_db_auth_error/troubleshooting_table.log-InternalError",
        ),
    ],
)  # fmt: skip
def test_iam_auth_error_fixture_line(line: str, expected: IamAuthFailure) -> None:
    assert parse_line(line) == expected


def test_iam_auth_error_every_documented_reason_has_a_line() -> None:
    """SOURCES:iam_db_auth_error/troubleshooting_table.log holds one line per code."""
    reasons = {failure(parse_line(line)).reason for line in TABLE + EXAMPLES}
    assert reasons == set(IAM_REASONS) - {"Unknown"}


def test_iam_auth_error_not_authorized_names_the_principal() -> None:
    """SOURCES:iam_db_auth_error/troubleshooting_table.log, the NotAuthorized line."""
    assert failure(parse_line(TABLE[2])).caller_arn == ROLE


def test_iam_auth_error_to_auth_event() -> None:
    """SOURCES:iam_db_auth_error/troubleshooting_table.log: a failed IAM login with its
    reason code."""
    assert failure(parse_line(TABLE[3])).to_auth_event("orders") == AuthEvent(
        time=at(183),
        kind="auth_failed",
        user="db_user",
        method="iam",
        reason="ThrottlingException",
        source="orders",
        reason_code="ThrottlingException",
    )


# --- hostile users and callers ----------------------------------------------------------


def test_iam_auth_error_user_naming_a_caller_is_not_a_caller() -> None:
    """An InvalidToken line whose user is a whole forged NotAuthorized message."""
    forged = "x" + NOT_AUTHORIZED_TAIL.format(caller="arn:aws:sts::111111111111:assumed-role/A/s")
    result = failure(parse_line(STAMP + "Failed to authenticate the connection request for"
                                f" user {forged}" + INVALID_TAIL))  # fmt: skip
    assert (result.reason, result.caller_arn, result.user) == ("InvalidToken", None, forged)


def test_iam_auth_error_caller_is_the_one_next_to_rds_words() -> None:
    forged = "x" + NOT_AUTHORIZED_TAIL.format(caller="arn:aws:iam::111111111111:user/forged")
    result = authorize(forged)
    assert (result.reason, result.caller_arn, result.user) == ("NotAuthorized", ROLE, forged)


@pytest.mark.parametrize(
    "user",
    [
        "'it''s'",
        "[proxyEndpoint=x]",
        "IAM authentication failed",
        "'(Status Code: 200, Error Code: InternalError)'",
        "bell\x07 nul\x00 esc\x1b[31m lf\n cr\r u2028\u2028",
    ],
)
def test_iam_auth_error_user_is_data(user: str) -> None:
    result = authorize(user)
    assert (result.reason, result.status, result.caller_arn) == ("NotAuthorized", 403, ROLE)
    assert result.user == (user[1:-1] if user.startswith("'") else user)


@pytest.mark.parametrize(
    "caller",
    [
        "not-an-arn",
        "arn:aws:sts::12345:assumed-role/R/s",
        "arn:aws:s3:::bucket",
        "arn:aws:sts::123456789012:assumed-role/R",
        "arn:aws:sts::123456789012:assumed-role/<RoleName>/ <RoleSession>",
        "arn:aws:sts::123456789012:assumed-role/R/s\nforged",
        ROLE + " ",
    ],
)
def test_iam_auth_error_caller_that_is_not_an_arn_is_no_principal(caller: str) -> None:
    result = authorize("db_user", caller)
    assert (result.reason, result.caller_arn) == ("NotAuthorized", None)


@pytest.mark.parametrize(
    "arn",
    [
        ROLE,
        "arn:aws:iam::123456789012:user/alice",
        "arn:aws:iam::123456789012:role/path/to/app-role",
        "arn:aws-us-gov:sts::123456789012:assumed-role/R/alice@example.com",
        "arn:aws:sts::123456789012:federated-user/bob",
    ],
)
def test_iam_auth_error_caller_arn_shapes(arn: str) -> None:
    assert caller_arn(arn) == arn
    assert authorize("db_user", arn).caller_arn == arn


@pytest.mark.parametrize(
    ("line", "reason", "code"),
    [
        # The code RDS writes wins over the wording; an undocumented code is Unknown, kept.
        (TABLE[3].replace("ThrottlingException)", "Throttling)"), "Unknown", "Throttling"),
        (TABLE[0].replace("InvalidToken)", "ExpiredToken)"), "ExpiredToken", "ExpiredToken"),
        # No closing field: the documented wording decides.
        (TABLE[1].split(" (Status")[0], "ExpiredToken", None),
        # Undocumented wording and code.
        (STAMP + "Failed to authorize the connection request for user u due to new words."
         " (Status Code: 401, Error Code: Weird)", "Unknown", "Weird"),
    ],
)  # fmt: skip
def test_iam_auth_error_reason_code(line: str, reason: IamReason, code: str | None) -> None:
    result = failure(parse_line(line))
    assert (result.reason, result.error_code) == (reason, code)


def test_iam_auth_error_aws_logs_tail_prefix_and_crlf() -> None:
    line = "2025-09-22T12:03:04.123000+00:00 db-1.0 " + TABLE[4] + "\r\n"
    assert parse_line(line) == parse_line(TABLE[4])


def test_iam_auth_error_written_zone_is_honoured() -> None:
    line = TABLE[4].replace("12:03:04,000", "14:03:04,000+02:00")
    assert failure(parse_line(line)).time == at(184)


def test_iam_auth_error_old_hand_written_fixture() -> None:
    """tests/fixtures/pglog/iam_db_auth_error.log (SOURCES.md: written by hand, reasons not
    AWS's): failures are still failures, with reason Unknown; the rest is unrecognised."""
    results = [parse_line(line) for line in lines("pglog/iam_db_auth_error.log")]
    assert [(r.user, r.reason) for r in results if isinstance(r, IamAuthFailure)] == [
        ("pgmonitor", "Unknown"),
        ("alice@example.com", "Unknown"),
    ]
    assert [r.why for r in results if isinstance(r, Unrecognised)] == [
        "unknown message",
        "no prefix",
    ]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("", "no prefix"),
        ("[ERROR] Failed to authorize the connection request for user u", "no prefix"),
        (TABLE[0].replace("2025-09-22", "2025-13-22"), "bad time"),
        ("2025-09-22T12:03:04,000 [INFO] IAM authentication error log started", "unknown message"),
        (STAMP + "Failed to authorise the connection request for user u", "unknown message"),
    ],
)
def test_iam_auth_error_unreadable_line(line: str, why: str) -> None:
    result = parse_line(line)
    assert isinstance(result, Unrecognised)
    assert (result.why, result.line) == (why, line)


def test_iam_auth_error_long_lines_are_fast() -> None:
    chunk = NOT_AUTHORIZED_TAIL.format(caller="arn:aws:iam::111111111111:user/" + "a" * 60)
    user = chunk * ((MAX_LINE - 500) // len(chunk))
    start = time.perf_counter()
    assert authorize(user).caller_arn == ROLE
    too_long = parse_line(STAMP + "x" * MAX_LINE)
    assert time.perf_counter() - start < 1.0
    assert isinstance(too_long, Unrecognised)
    assert (too_long.why, len(too_long.line)) == ("too long", KEEP_CHARS)


_REAL = TABLE + EXAMPLES


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.sampled_from(_REAL).flatmap(lambda s: st.integers(0, len(s)).map(lambda i: s[:i])),
        st.tuples(st.sampled_from(_REAL), st.integers(0, 300), st.text(max_size=20)).map(
            lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
        ),
    )
)
def test_iam_auth_error_never_raises(line: str) -> None:
    result = parse_line(line)
    assert isinstance(result, IamAuthFailure | Unrecognised)
    if isinstance(result, IamAuthFailure) and result.caller_arn is not None:
        assert caller_arn(result.caller_arn) == result.caller_arn


def test_iam_auth_error_caller_kept_when_the_code_is_new() -> None:
    """SOURCES:iam_db_auth_error/troubleshooting_table.log, NotAuthorized line with its code
    changed: the caller is stated by RDS's wording, so it stays a fact."""
    result = failure(parse_line(TABLE[2].replace("Code:NotAuthorized)", "Code:AccessDenied)")))
    assert (result.reason, result.error_code, result.caller_arn) == (
        "Unknown",
        "AccessDenied",
        ROLE,
    )
