from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.judge.detectors.password_login import PasswordLoginOptions, detect
from monitor.store.evidence import PasswordLogin, PasswordLogins

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
T = NOW - timedelta(hours=1)


def login(user: str, method: str = "scram-sha-256", n: int = 1) -> PasswordLogin:
    return PasswordLogin("db1", user, method, "10.0.0.4", n, T, T)


@pytest.mark.parametrize(
    ("logins", "rds_iam", "iam_only", "expected"),
    [
        ([login("app")], {("db1", "app")}, False, {"db1/app/scram-sha-256": "high"}),
        ([login("legacy")], {("db1", "app")}, False, {}),
        ([login("legacy", "md5")], set(), True, {"db1/legacy/md5": "medium"}),
        (
            [login("app", n=2), login("app", n=3)],
            {("db1", "app")},
            False,
            {"db1/app/scram-sha-256": "high"},
        ),
        ([], {("db1", "app")}, True, {}),
    ],
)
def test_password_login_cases(
    logins: list[PasswordLogin],
    rds_iam: set[tuple[str, str]],
    iam_only: bool,
    expected: dict[str, str],
) -> None:
    found = detect(PasswordLogins(logins, rds_iam), NOW, PasswordLoginOptions(iam_only=iam_only))
    assert {f.subject: f.severity for f in found} == expected


def test_password_login_remedy_quotes_hostile_names() -> None:
    (finding,) = detect(
        PasswordLogins([login('a"; DROP ROLE x; --')], set()),
        NOW,
        PasswordLoginOptions(iam_only=True),
    )
    assert 'ALTER ROLE "a""; DROP ROLE x; --" PASSWORD NULL;' in finding.remedy
    assert "(1×)" in finding.title
