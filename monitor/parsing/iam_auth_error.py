"""RDS's `iam-db-auth-error` export, one line at a time: the reason code and, where the
line names it, the caller's ARN. Pure; never raises on any input.

AWS documents five lines ("Troubleshooting for IAM DB authentication", "Common issues and
solutions"; tests/fixtures/SOURCES.md, "tests/fixtures/iam_db_auth_error/"), e.g.

    2025-09-22T12:02:51,954 [ERROR] Failed to authenticate the connection request for user
    'user_2' because the provided token is malformed or otherwise invalid. (Status Code:
    400, Error Code: InvalidToken)

(one line in the log). The error codes are InvalidToken, ExpiredToken, NotAuthorized,
ThrottlingException and InternalError; anything else is Unknown, with the code as written
kept. Only NotAuthorized names a principal: "the IAM policy assumed by the caller
'arn:aws:sts::123456789012:assumed-role/<RoleName>/<RoleSession>'".

The user name is the client's choice and sits before RDS's fixed text, so every pattern is
anchored at the end of the line: the reason, the code and the caller ARN are read from the
last, RDS-written part, and a user named like a whole message changes nothing but the user.

`IamAuthErrorFormat` (monitor/parsing/pglog_formats.py) reads the export with it;
`to_auth_event` is the `auth_failed` event it stores: the reason code as `reason` and
`reason_code`, and the caller ARN the line names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from monitor.models import AuthEvent
from monitor.parsing.pglog_prefix import ISO_STAMP
from monitor.parsing.proxylog import MAX_LINE, Unrecognised, parse_time

IamReason = Literal[
    "InvalidToken",
    "ExpiredToken",
    "NotAuthorized",
    "ThrottlingException",
    "InternalError",
    "Unknown",
]
IAM_REASONS: tuple[IamReason, ...] = get_args(IamReason)

# `2025-09-22T12:02:30,806 [ERROR] ...`: the time has no zone, and RDS hosts log in UTC.
# `aws logs tail` and file exports put an ISO time and a stream name first: tolerated, as
# the current parser does.
LINE = re.compile(
    rf"(?:{ISO_STAMP}\s+(?:[^\s:]+\s+)?)?"
    r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?)(?P<tz>Z|[+-]\d\d:?\d\d)?"
    r" ?\[(?P<level>[A-Z]{1,10})\] ?(?P<msg>.*)",
    re.DOTALL,
)

# RDS's closing field, matched at the very end: `(Status Code: 403, Error Code:NotAuthorized)`
# (the page writes the space after `Error Code:` for some codes and not others).
_SUFFIX = r"(?: \(Status Code: (?P<status>[0-9]{3}), Error Code: ?(?P<code>[A-Za-z]{1,64})\))?"
_USER = r"Failed to (?P<action>authenticate|authorize) the connection request for user (?P<user>.+)"

# (reason, what follows the user). A role session name and an ARN never hold `'`, so the
# caller is the quoted text nearest RDS's own words.
_TAILS: tuple[tuple[IamReason, str], ...] = (
    ("InvalidToken", r" because the provided token is malformed or otherwise invalid\."),
    ("ExpiredToken", r" because the token age is longer than 15 minutes\."),
    (
        "NotAuthorized",
        r" because the IAM policy assumed by the caller '(?P<caller>[^']{1,2048})'"
        r" is not authorized to perform `?rds-db:connect`? on the DB instance\.",
    ),
    ("ThrottlingException", r" due to IAM DB authentication throttling\."),
    ("InternalError", r" due to an internal IAM DB (?:authentication|Auth) error\."),
)
MESSAGES: tuple[tuple[IamReason, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(_USER + tail + _SUFFIX, re.DOTALL)) for reason, tail in _TAILS
)
# A failure in words not documented (yet): still a failed IAM login, reason Unknown. The
# user is then cut at the first `because`/`due to` after it: a best guess, and only the user
# field can be wrong; without either word, the whole rest is the user.
_ANY_FAILURE = (
    re.compile(
        r"Failed to (?P<action>authenticate|authorize) the connection request for user"
        r" (?P<user>'[^']*'|[^\s']\S*) (?:because|due to) .*?" + _SUFFIX,
        re.DOTALL,
    ),
    re.compile(_USER + r"\.?" + _SUFFIX, re.DOTALL),
)

# Who can be "the caller": an IAM user or role, an assumed-role session, a federated user
# (IAM identifiers: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html).
_NAME = r"[\w+=,.@-]{1,128}"
CALLER_ARN = re.compile(
    r"arn:aws(?:-cn|-us-gov|-iso|-iso-b)?:(?:"
    rf"sts::[0-9]{{12}}:assumed-role/{_NAME}/{_NAME}"
    rf"|sts::[0-9]{{12}}:federated-user/{_NAME}"
    rf"|iam::[0-9]{{12}}:(?:user|role)/(?:{_NAME}/)*{_NAME}"
    r")",
    re.ASCII,
)


@dataclass(frozen=True, slots=True)
class IamAuthFailure:
    """One failed IAM login as the export states it.

    `error_code` is the code as written (None when the line has none); `reason` is that code
    when AWS documents it, Unknown when it does not, and the reason the wording documents
    when the line has no code. `caller_arn` is set only when the line has the NotAuthorized
    wording and the caller it names is the ARN of a principal.
    """

    time: datetime
    level: str
    action: Literal["authenticate", "authorize"]
    user: str
    reason: IamReason
    error_code: str | None
    status: int | None
    caller_arn: str | None

    def to_auth_event(self, source: str = "") -> AuthEvent:
        return AuthEvent(
            time=self.time,
            kind="auth_failed",
            user=self.user,
            method="iam",
            reason=self.reason,
            source=source,
            reason_code=self.reason,
            caller_arn=self.caller_arn,
        )


IamLineResult = IamAuthFailure | Unrecognised


def _user(raw: str) -> str:
    # The examples quote the user ('user_1'), the table does not (db_user).
    return raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == "'" else raw


def _match(msg: str) -> tuple[IamReason, re.Match[str]] | None:
    for reason, pattern in MESSAGES:
        found = pattern.fullmatch(msg)
        if found is not None:
            return reason, found
    for pattern in _ANY_FAILURE:
        found = pattern.fullmatch(msg)
        if found is not None:
            return "Unknown", found
    return None


def _reason(worded: IamReason, code: str | None) -> IamReason:
    if code is None:
        return worded
    return next((r for r in IAM_REASONS if r == code and r != "Unknown"), "Unknown")


def caller_arn(text: str | None) -> str | None:
    """`text` when it is the ARN of a principal that can call rds-db:connect, else None."""
    return text if text is not None and CALLER_ARN.fullmatch(text) else None


def parse_line(line: str) -> IamLineResult:
    """One `iam-db-auth-error` line as a failure, or an `Unrecognised` keeping it."""
    if len(line) > MAX_LINE:
        return Unrecognised.of(line, "too long")
    head = LINE.fullmatch(line.removesuffix("\n").removesuffix("\r"))
    if head is None:
        return Unrecognised.of(line, "no prefix")
    moment = parse_time(head["ts"], head["tz"])
    if moment is None:
        return Unrecognised.of(line, "bad time")
    matched = _match(head["msg"])
    if matched is None:
        return Unrecognised.of(line, "unknown message")
    worded, found = matched
    groups = found.groupdict()
    reason = _reason(worded, groups["code"])
    return IamAuthFailure(
        time=moment,
        level=head["level"],
        action="authenticate" if found["action"] == "authenticate" else "authorize",
        user=_user(found["user"]),
        reason=reason,
        error_code=groups["code"],
        status=int(groups["status"]) if groups["status"] else None,
        # Only the NotAuthorized wording has a caller group: RDS's words, whatever the code.
        caller_arn=caller_arn(groups.get("caller")),
    )
