"""unused-role: a watched role that nobody assumed in `days`.

    [detectors.unused-role]
    days = 90
    watched_roles = []   # default: every account's monitor role and [cloudtrail].watched_roles

Watched are the monitor roles, the configured ones, and every role the grants inventory
finds allowed to rds-db:connect. CloudTrail is the record; IAM's RoleLastUsed is the
fallback when the trail in the store does not reach back far enough.
Needs: CloudTrail AssumeRole events, the grants inventory (trust and RoleLastUsed).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from monitor import sql
from monitor.config import Config
from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.models import EvidenceItem, Finding


class UnusedRoleOptions(DetectorOptions):
    days: int = Field(default=90, ge=1)
    watched_roles: tuple[str, ...] = ()

    @classmethod
    def config_defaults(cls, config: Config) -> dict[str, Any]:
        monitor_roles = [a.role_arn for a in config.accounts if a.role_arn]
        return {"watched_roles": sorted({*monitor_roles, *config.cloudtrail.watched_roles})}


@dataclass(frozen=True)
class RoleUse:
    roles: set[str]
    last_assumed: dict[str, datetime]
    history_start: datetime | None


def load(conn: sqlite3.Connection, now: datetime, opts: UnusedRoleOptions) -> RoleUse:
    granting = {r for (r,) in conn.execute(sql.load("store/granting_roles"))}
    last: dict[str, datetime] = {}
    for name in ("store/role_last_used", "store/role_last_assumed"):
        for arn, when in conn.execute(sql.load(name)):
            moment = datetime.fromisoformat(when)
            last[arn] = max(moment, last.get(arn, moment))
    (start,) = conn.execute(sql.load("store/trail_history_start")).fetchall()[0]
    history = datetime.fromisoformat(start) if start else None
    return RoleUse({*opts.watched_roles, *granting}, last, history)


@register("unused-role", UnusedRoleOptions, load)
def detect(data: RoleUse, now: datetime, opts: UnusedRoleOptions) -> list[Finding]:
    period = timedelta(days=opts.days)
    observed = now - data.history_start if data.history_start else timedelta(0)
    findings = []
    for role in sorted(data.roles):
        last = data.last_assumed.get(role)
        if last and last >= now - period:
            continue
        full = observed >= period
        span = f"{opts.days} days" if full else f"the {observed.days} days of CloudTrail held"
        account = role.split(":")[4] if role.count(":") >= 5 else None
        findings.append(
            Finding(
                detector="unused-role",
                subject=role,
                severity="medium" if full else "low",
                title=f"{role.rsplit('/', 1)[-1]} not assumed in {span}",
                why=(
                    f"The role can reach databases (rds-db:connect or the monitor role), but "
                    f"nobody assumed it in {span}"
                    + (f"; last assumed {last:%Y-%m-%d}." if last else ".")
                ),
                remedy=(
                    f"If it is no longer needed, remove its rds-db:connect statements and its "
                    f"trust policy: aws iam delete-role --role-name {role.rsplit('/', 1)[-1]} "
                    "(after detaching its policies)."
                ),
                account=account,
                evidence=(EvidenceItem(last, "last assumed"),) if last else (),
            )
        )
    return findings
