"""The period a report covers: an ISO week, or the days between two dates, in a time zone.

A period is [start, end) in UTC. Days begin at midnight in `[reports].timezone`, so a week
in Europe/Berlin starts on Monday 00:00 Berlin time and a DST change inside it is a day of
23 or 25 hours. The label names the files: `2026-W47` for a week, `2026-11-01_2026-11-08`
for `--since 2026-11-01 --until 2026-11-08` (the until day itself is not included).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.errors import PgwardenError

_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    timezone: str
    days: tuple[date, ...]  # local days covered, in order


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _between(label: str, first: date, stop: date, timezone: str) -> Period:
    zone = ZoneInfo(timezone)
    days = tuple(first + timedelta(days=i) for i in range((stop - first).days))
    return Period(label, _midnight(first, zone), _midnight(stop, zone), timezone, days)


def iso_week(text: str, timezone: str) -> Period:
    """`2026-W47`: Monday 00:00 to the next Monday 00:00, local time."""
    match = _WEEK.fullmatch(text)
    monday = None
    if match:
        with contextlib.suppress(ValueError):  # week 53 of a 52-week year, week 00...
            monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    if monday is None:
        raise PgwardenError(f"--week {text}: not an ISO week; write YYYY-Www, e.g. 2026-W47")
    return _between(text, monday, monday + timedelta(days=7), timezone)


def date_range(since: str, until: str, timezone: str) -> Period:
    """`--since D --until D`: from the since day's midnight to the until day's, local time."""
    days = []
    for option, text in (("--since", since), ("--until", until)):
        try:
            days.append(date.fromisoformat(text))
        except ValueError:
            raise PgwardenError(f"{option} {text}: not a date; write YYYY-MM-DD") from None
    first, stop = days
    if stop <= first:
        raise PgwardenError(f"--until {until}: must be after --since {since}")
    return _between(f"{first}_{stop}", first, stop, timezone)


def last_complete_week(now: datetime, timezone: str) -> Period:
    """The ISO week before the one `now` falls in, in the time zone."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    year, week, _ = (today - timedelta(days=7)).isocalendar()
    return iso_week(f"{year}-W{week:02d}", timezone)


def choose(
    week: str | None, since: str | None, until: str | None, now: datetime, timezone: str
) -> Period:
    """The period the options name; without any, the last complete week."""
    if week and (since or until):
        raise PgwardenError("--week: give either --week or --since/--until, not both")
    if week:
        return iso_week(week, timezone)
    if since or until:
        if not (since and until):
            raise PgwardenError("--since/--until: give both dates, or use --week")
        return date_range(since, until, timezone)
    return last_complete_week(now, timezone)
