"""off-hours: sessions of human users outside working hours, in the team's time zone.

    [detectors.off-hours]
    user_patterns = ["*@*", "*.*"]   # globs naming human users (e.g. IAM-mapped e-mails)
    working_hours = "08:00-19:00"
    working_days = ["mon", "tue", "wed", "thu", "fri"]
    timezone = "UTC"
    lookback_days = 7

Local time follows the zone's daylight-saving rules. For a database behind an RDS Proxy,
the logins the proxy's own log records count too, with the client's address; a session
whose client address lies in a fronting proxy's subnets is shown "via proxy <name>", never
with the proxy's address (inferred from the subnets: a client inside them connecting
directly is taken for the proxy; monitor/store/fronting.py).
Needs: sessions, or a proxy's log.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from datetime import datetime

from pydantic import Field, field_validator

from monitor.judge.detectors.hours import DAYS, parse_span, within
from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.judge.linking import link
from monitor.models import EvidenceItem, Finding
from monitor.store import evidence
from monitor.store.evidence import SessionStart, SessionStarts
from monitor.store.fronting import via_text


class OffHoursOptions(DetectorOptions):
    LOOKBACK = ("lookback_days",)
    user_patterns: tuple[str, ...] = ("*@*", "*.*")
    working_hours: str = "08:00-19:00"
    working_days: tuple[str, ...] = DAYS[:5]
    timezone: str = "UTC"
    lookback_days: float = Field(default=7, gt=0)

    @field_validator("working_hours")
    @classmethod
    def _span(cls, value: str) -> str:
        parse_span(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zoneinfo.ZoneInfo(value)
        return value


@register("off-hours", OffHoursOptions, evidence.session_starts)
def detect(data: SessionStarts, now: datetime, opts: OffHoursOptions) -> list[Finding]:
    grouped: dict[tuple[str, str], list[SessionStart]] = defaultdict(list)
    for s in data.sessions:
        if not within(s.started, opts.working_hours, opts.working_days, opts.timezone):
            grouped[(s.target, s.user)].append(s)
    zone = zoneinfo.ZoneInfo(opts.timezone)
    return [
        Finding(
            detector="off-hours",
            subject=f"{target}/{user}",
            severity="low",
            title=f"{user} used {target} outside working hours ({len(items)} sessions)",
            why=(
                f"Working hours are {opts.working_hours} on {', '.join(opts.working_days)} "
                f"({opts.timezone}); {user} started sessions at "
                + ", ".join(f"{s.started.astimezone(zone):%a %H:%M}" for s in items[-3:])
                + " local time."
            ),
            remedy=f"Ask {user} whether these sessions were theirs; if not, revoke their access.",
            target=target,
            db_user=user,
            principals=link(data.links, target, user, items[-1].started, items[-1].host),
            evidence=tuple(
                EvidenceItem(
                    s.started,
                    f"session started{via_text(s.via)} ({s.application or 'no application_name'})",
                    s.host,
                )
                for s in items[-5:]
            ),
        )
        for (target, user), items in sorted(grouped.items())
    ]
