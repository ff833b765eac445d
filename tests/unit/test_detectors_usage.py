"""unused-db-user, unused-iam-grant, unused-role, new-source: table-driven, frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.judge.detectors import new_source, unused_db_user, unused_iam_grant, unused_role
from monitor.store import evidence, usage

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
D = timedelta(days=1)
ROLE = "arn:aws:iam::222222222222:role/app-db"


def role(first: datetime, watched: datetime, last: datetime | None) -> usage.IamRole:
    return usage.IamRole("db1", "app", first, watched, last)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (role(NOW - 200 * D, NOW - 200 * D, NOW - 10 * D), None),
        (role(NOW - 200 * D, NOW - 200 * D, NOW - 100 * D), ("medium", "not seen in 90 days")),
        (role(NOW - 200 * D, NOW - 200 * D, None), ("medium", "not seen in 90 days")),
        # History shorter than the threshold: say so, at low severity.
        (role(NOW - 30 * D, NOW - 30 * D, None), ("low", "not seen in the 30 days observed")),
        # A user created yesterday, on a target watched for long: not unused yet.
        (role(NOW - 1 * D, NOW - 200 * D, None), None),
        # Created while watched, and unused for the whole period since: unused.
        (role(NOW - 95 * D, NOW - 200 * D, None), ("medium", "not seen in 90 days")),
    ],
)
def test_unused_db_user_cases(case: usage.IamRole, expected: tuple[str, str] | None) -> None:
    found = unused_db_user.detect([case], NOW, unused_db_user.UnusedDbUserOptions())
    if expected is None:
        assert found == []
        return
    (finding,) = found
    assert (finding.severity, finding.title.split(": ", 1)[1]) == expected
    assert finding.remedy.startswith('If nobody needs it: REVOKE rds_iam FROM "app";')


def grant(first: datetime, login: datetime | None) -> usage.Grant:
    return usage.Grant(
        ROLE, "role", "222222222222", "db1", "app", "arn:aws:iam::222222222222:policy/db",
        "AllowConnect", "cluster-ABC", first, login,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("grants", "assumed", "history", "expected"),
    [
        ([grant(NOW - 200 * D, None)], {ROLE: NOW - 5 * D}, NOW - 200 * D, []),
        ([grant(NOW - 200 * D, NOW - 5 * D)], {}, NOW - 200 * D, []),
        ([grant(NOW - 200 * D, None)], {ROLE: NOW - 100 * D}, NOW - 200 * D, ["medium"]),
        ([grant(NOW - 10 * D, None)], {}, NOW - 10 * D, ["low"]),
        # CloudTrail reaches further back than the grant was observed: the longer history counts.
        ([grant(NOW - 10 * D, None)], {}, NOW - 120 * D, ["medium"]),
    ],
)
def test_unused_iam_grant_cases(
    grants: list[usage.Grant],
    assumed: dict[str, datetime],
    history: datetime,
    expected: list[str],
) -> None:
    data = usage.GrantUse(grants, assumed, history)
    found = unused_iam_grant.detect(data, NOW, unused_iam_grant.UnusedIamGrantOptions())
    assert [f.severity for f in found] == expected
    for f in found:
        assert "dbuser:cluster-ABC/app" in f.remedy and "AllowConnect" in f.remedy


@pytest.mark.parametrize(
    ("last", "history", "expected"),
    [
        ({ROLE: NOW - 3 * D}, NOW - 200 * D, []),
        ({ROLE: NOW - 91 * D}, NOW - 200 * D, ["medium"]),
        ({}, NOW - 200 * D, ["medium"]),
        ({}, NOW - 20 * D, ["low"]),
        ({}, None, ["low"]),
    ],
)
def test_unused_role_cases(
    last: dict[str, datetime], history: datetime | None, expected: list[str]
) -> None:
    data = usage.RoleUse({ROLE}, last, history)
    found = unused_role.detect(data, NOW, unused_role.UnusedRoleOptions())
    assert [f.severity for f in found] == expected
    assert all(f.account == "222222222222" for f in found)


def seen(
    attribute: str, value: str, first: datetime, subject: str = "db1/app"
) -> evidence.FirstSeen:
    kind = "role" if subject.startswith("arn:") else "db"
    return evidence.FirstSeen(kind, subject, attribute, value, first, 3)


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        # Learned in the first 14 days: never flagged.
        (
            [
                seen("client host", "10.0.0.1", NOW - 30 * D),
                seen("client host", "10.0.0.2", NOW - 20 * D),
            ],
            [],
        ),
        # New after learning, within the alert window.
        (
            [
                seen("client host", "10.0.0.1", NOW - 30 * D),
                seen("client host", "10.6.6.6", NOW - 1 * D),
            ],
            ["db1/app/client host=10.6.6.6"],
        ),
        # New, but long ago: the finding has resolved.
        (
            [
                seen("client host", "10.0.0.1", NOW - 60 * D),
                seen("client host", "10.6.6.6", NOW - 20 * D),
            ],
            [],
        ),
        # Still learning: a brand-new user's hosts are not news.
        (
            [
                seen("client host", "10.0.0.1", NOW - 3 * D),
                seen("client host", "10.6.6.6", NOW - 1 * D),
            ],
            [],
        ),
        (
            [
                seen("source account", "111111111111", NOW - 40 * D, ROLE),
                seen("source account", "999999999999", NOW - 2 * D, ROLE),
            ],
            [f"{ROLE}/source account=999999999999"],
        ),
    ],
)
def test_new_source_cases(history: list[evidence.FirstSeen], expected: list[str]) -> None:
    found = new_source.detect(evidence.History(history), NOW, new_source.NewSourceOptions())
    assert [f.subject for f in found] == expected
    for f in found:
        assert f.severity == ("high" if "account" in f.subject else "medium")
