from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import validate
from monitor.judge.detection import run_detectors
from monitor.judge.detectors.failure_burst import FailureBurstOptions, detect
from monitor.store.evidence import Attempt, AuthHistory
from monitor.store.sqlite import Store, to_text

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OPTS = FailureBurstOptions()


def fails(
    start: datetime, n: int, step_s: float = 30, user: str = "app", host: str = "10.0.0.9"
) -> list[Attempt]:
    return [Attempt("db1", user, host, start + timedelta(seconds=i * step_s)) for i in range(n)]


CASES = [
    # (name, failures, successes, expected {subject: severity})
    ("below threshold", fails(NOW - timedelta(hours=1), 4), [], {}),
    (
        "five in two minutes",
        fails(NOW - timedelta(hours=1), 5),
        [],
        {"db1/user/app": "medium", "db1/host/10.0.0.9": "medium"},
    ),
    (
        "burst then success from the same host",
        fails(NOW - timedelta(hours=1), 6),
        [Attempt("db1", "app", "10.0.0.9", NOW - timedelta(minutes=50))],
        {"db1/user/app": "high", "db1/host/10.0.0.9": "high"},
    ),
    (
        "success from another host does not escalate",
        fails(NOW - timedelta(hours=1), 6),
        [Attempt("db1", "app", "10.9.9.9", NOW - timedelta(minutes=50))],
        {"db1/user/app": "medium", "db1/host/10.0.0.9": "medium"},
    ),
    (
        "success before the burst does not escalate",
        fails(NOW - timedelta(hours=1), 6),
        [Attempt("db1", "app", "10.0.0.9", NOW - timedelta(hours=2))],
        {"db1/user/app": "medium", "db1/host/10.0.0.9": "medium"},
    ),
    (
        "spread out: never five within ten minutes",
        fails(NOW - timedelta(hours=3), 12, step_s=180),
        [],
        {},
    ),
    (
        # Fixed 10-minute buckets (12:00-12:10, 12:10-12:20) would see 3 + 3 and miss it.
        "split across the edge of a fixed window",
        fails(datetime(2026, 11, 23, 10, 8, tzinfo=UTC), 3)
        + fails(datetime(2026, 11, 23, 10, 10, 30, tzinfo=UTC), 3),
        [],
        {"db1/user/app": "medium", "db1/host/10.0.0.9": "medium"},
    ),
    (
        "one host spraying many users",
        [
            Attempt("db1", f"u{i}", "203.0.113.7", NOW - timedelta(minutes=30, seconds=-i))
            for i in range(5)
        ],
        [],
        {"db1/host/203.0.113.7": "medium"},
    ),
]


@pytest.mark.parametrize(
    ("name", "failures", "successes", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_failure_burst_cases(
    name: str, failures: list[Attempt], successes: list[Attempt], expected: dict[str, str]
) -> None:
    found = detect(AuthHistory(failures, successes), NOW, OPTS)
    assert {f.subject: f.severity for f in found} == expected


def test_failure_burst_evidence_and_title() -> None:
    (_by_host, by_user) = detect(
        AuthHistory(fails(NOW - timedelta(hours=1), 7), [Attempt("db1", "app", "10.0.0.9", NOW)]),
        NOW,
        OPTS,
    )
    assert by_user.title == "7 failed logins as app on db1 within 10 min, then a success"
    assert by_user.evidence[0].what == "then a successful login as app"
    assert by_user.evidence[1].count == 7 and by_user.evidence[1].host == "10.0.0.9"
    assert by_user.db_user == "app"


def test_failure_burst_through_the_store(tmp_path: Path) -> None:
    """The loader's SQL and the lookback: a burst older than lookback_hours resolves."""
    config = validate({"detectors": {"failure-burst": {"lookback_hours": 2}}})
    with Store.open(tmp_path / "p.db") as store:
        with store.transaction() as tx:
            for i, a in enumerate(fails(NOW - timedelta(hours=1), 5)):
                tx.execute(
                    "INSERT INTO auth_events (target, time, kind, user, client_host, source,"
                    " dedup_key) VALUES (?, ?, 'auth_failed', ?, ?, 'test', ?)",
                    (a.target, to_text(a.time), a.user, a.host, f"k{i}"),
                )
        first = run_detectors(store, config, NOW, only=["failure-burst"])
        assert first["failure-burst"].opened == 2
        later = run_detectors(store, config, NOW + timedelta(hours=2), only=["failure-burst"])
        assert later["failure-burst"].resolved == 2
