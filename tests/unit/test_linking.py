"""Linking a login to the role assumptions that could have produced its token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.judge.detectors.failure_burst import FailureBurstOptions, detect
from monitor.judge.linking import link
from monitor.store.evidence import Assumption, Attempt, AuthHistory, LinkData

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
APP = "arn:aws:iam::222222222222:role/app-db"
BATCH = "arn:aws:iam::222222222222:role/batch-db"
OTHER = "arn:aws:iam::222222222222:role/other-db"
ALICE = "arn:aws:iam::222222222222:user/alice"
CALLER = "arn:aws:sts::111111111111:assumed-role/ci/run-7"


def data(**assumed: list[Assumption]) -> LinkData:
    return LinkData(
        grants={
            "db1": [
                (APP, "role", "app_user"),
                (BATCH, "role", "app_*"),
                (OTHER, "role", "reporting"),
                (ALICE, "user", "app_user"),
            ]
        },
        assumptions={APP: assumed.get("app", []), BATCH: assumed.get("batch", [])},
    )


def at(minutes_before: float, ip: str | None = "10.0.0.5") -> Assumption:
    return Assumption(NOW - timedelta(minutes=minutes_before), ip, None, CALLER)


def test_linking_same_address_is_high_confidence() -> None:
    links = link(
        data(app=[at(5, "10.0.0.5")], batch=[at(2, "10.9.9.9")]), "db1", "app_user", NOW, "10.0.0.5"
    )
    assert [(p.arn, p.confidence) for p in links] == [
        (APP, "high"),
        (BATCH, "medium"),
        (ALICE, "low"),
    ]
    assert (
        "assumed by arn:aws:sts::111111111111:assumed-role/ci/run-7 from 10.0.0.5 5 min before"
        in links[0].why
    )
    assert "the login's own address" in links[0].why


def test_linking_only_grants_that_cover_the_user() -> None:
    links = link(data(), "db1", "reporting", NOW, None)
    assert [p.arn for p in links] == [OTHER]
    assert links[0].confidence == "low"
    assert link(data(), "db2", "app_user", NOW, None) == ()


def test_linking_time_window() -> None:
    # After the login, or beyond the longest credential lifetime: no link by time.
    late = link(data(app=[at(-5)]), "db1", "app_user", NOW, "10.1.1.1")
    old = link(data(app=[at(13 * 60)]), "db1", "app_user", NOW, "10.1.1.1")
    for links in (late, old):
        app = next(p for p in links if p.arn == APP)
        assert app.confidence == "low" and "not assumed" in app.why
    # Within 12 h but not the usual hour, from elsewhere: low, with the assumption named.
    hours = link(data(app=[at(5 * 60)]), "db1", "app_user", NOW, "10.1.1.1")
    assert next(p for p in hours if p.arn == APP).confidence == "low"
    assert "300 min before" in next(p for p in hours if p.arn == APP).why


def test_linking_reaches_failure_burst_findings() -> None:
    failures = [
        Attempt("db1", "app_user", "10.0.0.5", NOW - timedelta(minutes=10, seconds=-i))
        for i in range(5)
    ]
    history = AuthHistory(failures, [], data(app=[at(15, "10.0.0.5")]))
    (_by_host, by_user) = detect(history, NOW, FailureBurstOptions())
    assert by_user.principals[0].arn == APP and by_user.principals[0].confidence == "high"
