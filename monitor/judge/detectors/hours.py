"""Working hours in a time zone, shared by the detectors that judge the time of day."""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_span(span: str) -> tuple[time, time]:
    """'08:00-19:00' -> (08:00, 19:00). An end before the start wraps past midnight."""
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)", span)
    if not match:
        raise ValueError(f'not a span of hours as HH:MM-HH:MM: "{span}"')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return time(h1, m1), time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)


def within(moment: datetime, span: str, days: tuple[str, ...], zone: str) -> bool:
    """Is `moment` inside the span on one of `days`, in `zone`'s local time (DST included)?"""
    local = moment.astimezone(ZoneInfo(zone))
    start, end = parse_span(span)
    now = local.time()
    if start <= end:
        return DAYS[local.weekday()] in days and start <= now < end
    # Wrapping span (22:00-06:00): the early hours belong to the previous day's shift.
    if now >= start:
        return DAYS[local.weekday()] in days
    return now < end and DAYS[(local.weekday() - 1) % 7] in days
