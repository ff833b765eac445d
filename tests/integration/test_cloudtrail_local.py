"""The local engine: the Athena SQL on DuckDB over CloudTrail files in the real S3 layout."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.clock import FrozenClock
from monitor.config import Config
from monitor.sources.cloudtrail import (
    TrailWindow,
    access_change_events,
    assume_role_events,
    ingest,
)
from monitor.sources.trail_files import TrailDirError, find_files
from monitor.sources.trail_local import LocalTrail
from monitor.store.sqlite import Store
from tests.support.trail import (
    ANALYTICS,
    MONITOR_PROD,
    ORDERS_APP,
    PROD,
    WATCHED,
    write_bad_files,
    write_trail,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


ALL_DAYS = TrailWindow(utc(2026, 11, 1), utc(2026, 11, 4))


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    return write_trail(tmp_path / "trail")


@pytest.fixture
def engine(trail: Path) -> LocalTrail:
    return LocalTrail(trail)


def test_local_trail_finds_every_fixture_case(engine: LocalTrail) -> None:
    events, result = assume_role_events(engine, ALL_DAYS, WATCHED)
    by_id = {e.event_id: e for e in events}
    assert list(by_id) == [
        "e1-cross-account",
        "e2-same-account",
        "e5-service",
        "e6-denied",
        "e7-web-identity",
        "e8-saml",
        "e9-cross-account-analytics",
        "e10-org-layout",
    ]
    assert result.bad_files == []

    cross = by_id["e1-cross-account"]
    assert cross.cross_account
    assert cross.source_account == "111111111111"
    assert cross.recipient_account == PROD
    assert cross.session_issuer_arn == "arn:aws:iam::111111111111:role/pgwarden-runner"
    assert cross.external_id_present is True
    assert cross.vpc_endpoint_id == "vpce-0a1b2c3d4e5f60718"
    assert cross.role_session_name == "pgwarden-222222222222"
    assert "super-secret-external-id" not in json.dumps(cross.as_dict())

    same = by_id["e2-same-account"]
    assert not same.cross_account
    assert same.principal_arn == f"arn:aws:iam::{PROD}:user/alice"
    assert same.external_id_present is False

    service = by_id["e5-service"]
    assert (service.principal_type, service.principal_arn) == (
        "AWSService",
        "ecs-tasks.amazonaws.com",
    )

    denied = by_id["e6-denied"]
    assert denied.error_code == "AccessDenied"
    assert denied.role_arn == MONITOR_PROD  # taken from the error message
    assert denied.principal_arn is None
    assert denied.hidden == ("principal_arn",)
    assert denied.source_account == "444444444444"

    web = by_id["e7-web-identity"]
    assert web.event_name == "AssumeRoleWithWebIdentity"
    assert (web.source_ip, web.user_agent, web.vpc_endpoint_id) == (None, None, None)

    assert by_id["e8-saml"].event_name == "AssumeRoleWithSAML"
    assert by_id["e10-org-layout"].recipient_account == ANALYTICS


def test_local_trail_duplicate_delivery_is_one_event(engine: LocalTrail) -> None:
    events, result = assume_role_events(engine, ALL_DAYS, [MONITOR_PROD])
    assert [r["event_id"] for r in result.rows].count("e1-cross-account") == 2
    assert [e.event_id for e in events].count("e1-cross-account") == 1


def test_local_trail_unwatched_role_only_when_asked_for_all(engine: LocalTrail) -> None:
    watched, _ = assume_role_events(engine, ALL_DAYS, WATCHED)
    everything, _ = assume_role_events(engine, ALL_DAYS, None)
    assert "e4-unwatched" not in {e.event_id for e in watched}
    assert {e.event_id for e in everything} - {e.event_id for e in watched} == {"e4-unwatched"}


def test_local_trail_no_watched_roles_selects_nothing(engine: LocalTrail) -> None:
    events, _ = assume_role_events(engine, ALL_DAYS, [])
    assert events == []


def test_local_trail_window_is_half_open(engine: LocalTrail) -> None:
    at = utc(2026, 11, 1, 0, 3, 12)
    starting, _ = assume_role_events(engine, TrailWindow(at, at + timedelta(seconds=1)), None)
    ending, _ = assume_role_events(engine, TrailWindow(at - timedelta(hours=1), at), None)
    assert [e.event_id for e in starting] == ["e1-cross-account"]
    assert ending == []


def test_local_trail_one_day_window_opens_only_that_days_files(trail: Path) -> None:
    # A corrupt file on another day would be reported if it were opened.
    write_bad_files(trail, f"AWSLogs/{PROD}/CloudTrail/us-east-1/2026/11/01")
    day = TrailWindow(utc(2026, 11, 2), utc(2026, 11, 3))
    events, result = assume_role_events(LocalTrail(trail), day, None)
    opened = find_files(trail, day.since.date(), day.since.date()).files
    assert result.files_read == len(opened) == 3
    assert all("/2026/11/02/" in str(p) for p in opened)
    assert result.bad_files == []
    assert {e.event_id for e in events} == {
        "e7-web-identity",
        "e8-saml",
        "e9-cross-account-analytics",
    }


def test_local_trail_account_and_region_partitions(engine: LocalTrail) -> None:
    analytics = TrailWindow(ALL_DAYS.since, ALL_DAYS.until, accounts=(ANALYTICS,))
    europe = TrailWindow(ALL_DAYS.since, ALL_DAYS.until, regions=("eu-west-1",))
    by_account, result = assume_role_events(engine, analytics, None)
    by_region, _ = assume_role_events(engine, europe, None)
    assert {e.event_id for e in by_account} == {"e9-cross-account-analytics", "e10-org-layout"}
    assert result.files_read == 2
    assert {e.event_id for e in by_region} == {"e7-web-identity", "e8-saml"}


def test_local_trail_without_awslogs_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not events")
    with pytest.raises(TrailDirError, match="no AWSLogs directory and no exported events"):
        find_files(tmp_path, utc(2026, 11, 1).date(), utc(2026, 11, 1).date())
    with pytest.raises(TrailDirError, match="not found"):
        find_files(tmp_path / "nope", utc(2026, 11, 1).date(), utc(2026, 11, 1).date())


def test_local_trail_access_changes(engine: LocalTrail) -> None:
    changes, _ = access_change_events(engine, ALL_DAYS, WATCHED)
    by_id = {c.event_id: c for c in changes}
    assert list(by_id) == [
        "c1-iam-auth-off",
        "c3-proxy",
        "c4-connect-policy",
        "c6-attach-monitor",
        "c7-instance-iam-on",
    ]
    assert (by_id["c1-iam-auth-off"].subject, by_id["c1-iam-auth-off"].iam_auth) == (
        "orders",
        False,
    )
    assert by_id["c7-instance-iam-on"].iam_auth is True
    assert by_id["c3-proxy"].subject == "orders-proxy"
    assert by_id["c6-attach-monitor"].policy_arn == "arn:aws:iam::aws:policy/AdministratorAccess"


def _config(trail: Path, store: Path) -> Config:
    return Config.model_validate(
        {
            "store": {"path": str(store)},
            "accounts": [
                {"id": PROD, "name": "prod", "role_arn": MONITOR_PROD},
                {"id": ANALYTICS, "name": "analytics"},
            ],
            "cloudtrail": {
                "local_dir": str(trail),
                "watched_roles": [ORDERS_APP],
                "initial_lookback_days": 2,
                "overlap_s": 900,
            },
        }
    )


def test_cloudtrail_ingest_overlap_catches_late_records_once(trail: Path, tmp_path: Path) -> None:
    config = _config(trail, tmp_path / "p.db")
    clock = FrozenClock(utc(2026, 11, 2, 0, 0))
    with Store.open(config.store.path) as store:
        first = ingest(store, config, LocalTrail(trail), clock)
        assert (first.since, first.until) == (utc(2026, 10, 31), utc(2026, 11, 2))
        # The analytics monitor role is not watched (that account has no role_arn).
        assert first.assume_role_new == 4  # e1, e2, e5, e6
        assert first.access_changes_new == 0

        # A record from 23:58 delivered 12 minutes late, into the next day's folder.
        late = f"AWSLogs/{PROD}/CloudTrail/us-east-1/2026/11/02/{PROD}_CloudTrail_late.json.gz"
        record = {
            "eventID": "late-1",
            "eventTime": "2026-11-01T23:58:00Z",
            "eventSource": "sts.amazonaws.com",
            "eventName": "AssumeRole",
            "requestParameters": {"roleArn": ORDERS_APP, "roleSessionName": "late"},
            "recipientAccountId": PROD,
        }
        (trail / late).parent.mkdir(parents=True, exist_ok=True)
        (trail / late).write_bytes(gzip.compress(json.dumps({"Records": [record]}).encode()))

        clock.advance(timedelta(minutes=15))
        second = ingest(store, config, LocalTrail(trail), clock)
        assert second.since == utc(2026, 11, 1, 23, 45)
        assert second.assume_role_events == 3  # e5 and e6 again, and the late one
        assert second.assume_role_new == 1
        rows = store.conn.execute("SELECT event_id FROM assume_role_events").fetchall()
        assert sorted(r[0] for r in rows) == sorted(
            ["e1-cross-account", "e2-same-account", "e5-service", "e6-denied", "late-1"]
        )
        assert store.get_cursor("cloudtrail", "window_end") == "2026-11-02T00:15:00Z"
        stored = store.conn.execute(
            "SELECT external_id_present, hidden FROM assume_role_events WHERE event_id = ?",
            ("e6-denied",),
        ).fetchall()
        assert stored == [(0, '["principal_arn"]')]


def test_cloudtrail_ingest_stores_access_changes(trail: Path, tmp_path: Path) -> None:
    config = _config(trail, tmp_path / "p.db")
    with Store.open(config.store.path) as store:
        summary = ingest(store, config, LocalTrail(trail), FrozenClock(utc(2026, 11, 3)))
        assert summary.access_changes_new == 5
        again = ingest(store, config, LocalTrail(trail), FrozenClock(utc(2026, 11, 3, 0, 5)))
        assert again.access_changes_new == 0
        count = store.conn.execute("SELECT count(*) FROM access_change_events").fetchall()
        assert count == [(5,)]


def test_cloudtrail_ingest_clock_behind_cursor_reads_nothing(trail: Path, tmp_path: Path) -> None:
    config = _config(trail, tmp_path / "p.db")
    with Store.open(config.store.path) as store:
        ingest(store, config, LocalTrail(trail), FrozenClock(utc(2026, 11, 3)))
        behind = ingest(store, config, LocalTrail(trail), FrozenClock(utc(2026, 11, 2)))
        assert behind.assume_role_events == 0
        assert store.get_cursor("cloudtrail", "window_end") == "2026-11-03T00:00:00Z"
