"""unexpected-assume-source, privileged-session, off-hours, monitoring-gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.judge.detectors import (
    monitoring_gap,
    off_hours,
    privileged_session,
    unexpected_assume_source,
)
from monitor.judge.detectors.hours import within
from monitor.store import evidence, usage

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday
ROLE = "arn:aws:iam::222222222222:role/pg-monitor-role"
MGMT = "111111111111"


def assume(
    src: str | None, minutes_ago: float, error: str | None = None, principal: str | None = None
) -> usage.Assumption:
    return usage.Assumption(
        f"e{minutes_ago}", NOW - timedelta(minutes=minutes_ago), "AssumeRole", "222222222222", src,
        principal or f"arn:aws:iam::{src}:user/x", "IAMUser", "198.51.100.7", ROLE, error,
    )  # fmt: skip


UAS = unexpected_assume_source.UnexpectedAssumeSourceOptions(allowed_source_accounts=(MGMT,))


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([assume(MGMT, 5)], {}),
        ([assume("222222222222", 5)], {}),  # the role's own account
        ([assume(None, 5)], {}),  # an AWS service
        ([assume("999999999999", 5)], {f"{ROLE}/account/999999999999": "high"}),
        ([assume("999999999999", 5, "AccessDenied")], {f"{ROLE}/account/999999999999": "medium"}),
        (
            [assume(MGMT, m, "AccessDenied") for m in (1, 2, 3, 4, 5)],
            {f"{ROLE}/denied/arn:aws:iam::{MGMT}:user/x": "high"},
        ),
        ([assume(MGMT, m * 10, "AccessDenied") for m in (1, 2, 3, 4, 5)], {}),
    ],
)
def test_unexpected_assume_source_cases(
    events: list[usage.Assumption], expected: dict[str, str]
) -> None:
    found = unexpected_assume_source.detect(events, NOW, UAS)
    assert {f.subject: f.severity for f in found} == expected


def test_unexpected_assume_source_principal_allow_list() -> None:
    opts = UAS.model_copy(update={"allowed_principals": (f"arn:aws:iam::{MGMT}:role/pgwarden*",)})
    ok = assume(MGMT, 5, principal=f"arn:aws:iam::{MGMT}:role/pgwarden-runner")
    odd = assume(MGMT, 6, principal=f"arn:aws:iam::{MGMT}:user/mallory")
    found = unexpected_assume_source.detect([ok, odd], NOW, opts)
    assert [f.subject for f in found] == [f"{ROLE}/principal/arn:aws:iam::{MGMT}:user/mallory"]


def priv(host: str | None, started: datetime) -> evidence.PrivilegedSession:
    return evidence.PrivilegedSession("db1", "postgres", host, "psql", started, "superuser")


@pytest.mark.parametrize(
    ("sessions", "opts", "expected"),
    [
        ([priv("10.0.5.9", NOW)], {"allowed_hosts": ("10.0.5.0/24",)}, []),
        ([priv("10.9.9.9", NOW)], {"allowed_hosts": ("10.0.5.0/24",)}, ["db1/postgres/10.9.9.9"]),
        ([priv(None, NOW)], {"allowed_hosts": ("10.0.5.0/24",)}, ["db1/postgres/local"]),
        ([priv("10.9.9.9", NOW)], {}, ["db1/postgres/10.9.9.9"]),
        (
            [priv("10.0.5.9", NOW.replace(hour=23))],
            {"allowed_hosts": ("10.0.5.0/24",), "allowed_hours": "08:00-19:00"},
            ["db1/postgres/10.0.5.9"],
        ),
    ],
)
def test_privileged_session_cases(
    sessions: list[evidence.PrivilegedSession],
    opts: dict[str, object],
    expected: list[str],
) -> None:
    options = privileged_session.PrivilegedSessionOptions.model_validate(opts)
    found = privileged_session.detect(evidence.PrivilegedSessions(sessions), NOW, options)
    assert [f.subject for f in found] == expected
    assert all("pg_terminate_backend" in f.remedy for f in found)


def test_privileged_session_bad_options() -> None:
    with pytest.raises(ValueError, match="not a span of hours"):
        privileged_session.PrivilegedSessionOptions(allowed_hours="9-5")
    with pytest.raises(ValueError):
        privileged_session.PrivilegedSessionOptions(allowed_hosts=("10.0.0.0/33",))


BERLIN = off_hours.OffHoursOptions(timezone="Europe/Berlin", working_hours="08:00-19:00")


@pytest.mark.parametrize(
    ("started", "inside"),
    [
        # 2026-03-29: Berlin springs forward (UTC+1 -> UTC+2). 06:30 UTC is 08:30 CEST: inside.
        (datetime(2026, 3, 30, 6, 30, tzinfo=UTC), True),
        # The Friday before, 06:30 UTC was 07:30 CET: outside.
        (datetime(2026, 3, 27, 6, 30, tzinfo=UTC), False),
        # 2026-10-25: back to UTC+1. 17:30 UTC on Monday the 26th is 18:30 CET: inside.
        (datetime(2026, 10, 26, 17, 30, tzinfo=UTC), True),
        # The Friday before (still CEST), 17:30 UTC was 19:30: outside.
        (datetime(2026, 10, 23, 17, 30, tzinfo=UTC), False),
        # Saturday noon.
        (datetime(2026, 11, 21, 11, 0, tzinfo=UTC), False),
    ],
)
def test_off_hours_follows_daylight_saving(started: datetime, inside: bool) -> None:
    assert within(started, BERLIN.working_hours, BERLIN.working_days, BERLIN.timezone) is inside
    session = evidence.SessionStart("db1", "jane.doe@example.com", "10.0.0.1", "psql", started)
    found = off_hours.detect(evidence.SessionStarts([session]), NOW, BERLIN)
    assert (found == []) is inside


def test_off_hours_wrapping_night_shift() -> None:
    night = ("mon", "tue", "wed", "thu", "fri")
    # Tuesday 03:00 belongs to Monday's 22:00-06:00 shift.
    assert within(datetime(2026, 11, 24, 3, 0, tzinfo=UTC), "22:00-06:00", night, "UTC")
    # Saturday 03:00 belongs to Friday's shift; Sunday 03:00 to Saturday's, which is off.
    assert within(datetime(2026, 11, 28, 3, 0, tzinfo=UTC), "22:00-06:00", night, "UTC")
    assert not within(datetime(2026, 11, 29, 3, 0, tzinfo=UTC), "22:00-06:00", night, "UTC")


def state(
    last_ok_min: float | None, last_log_min: float | None, last_session_min: float | None
) -> usage.TargetState:
    def ago(m: float | None) -> datetime | None:
        return None if m is None else NOW - timedelta(minutes=m)

    return usage.TargetState(
        "db1", "ok", "connection refused", ago(0), ago(last_ok_min), ago(last_log_min),
        ago(last_session_min), NOW - timedelta(days=3),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("target", "cursors", "expected"),
    [
        (state(0.1, 5, 1), {"cloudtrail:x": NOW - timedelta(minutes=10)}, []),
        (state(10, 5, 1), {"cloudtrail:x": NOW}, ["db1/poll"]),
        (state(None, 5, 1), {"cloudtrail:x": NOW}, ["db1/poll"]),
        (state(0.1, 120, 1), {"cloudtrail:x": NOW}, ["db1/logs"]),
        (state(0.1, None, 1), {"cloudtrail:x": NOW}, ["db1/logs"]),
        (state(0.1, 120, 300), {"cloudtrail:x": NOW}, []),  # no sessions: silence is expected
        (state(0.1, 5, 1), {"cloudtrail:x": NOW - timedelta(hours=3)}, ["cloudtrail"]),
        (state(0.1, 5, 1), {}, ["cloudtrail"]),
    ],
)
def test_monitoring_gap_cases(
    target: usage.TargetState, cursors: dict[str, datetime], expected: list[str]
) -> None:
    data = usage.Health([target], cursors)
    found = monitoring_gap.detect(data, NOW, monitoring_gap.MonitoringGapOptions())
    assert [f.subject for f in found] == expected
