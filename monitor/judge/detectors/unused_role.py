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

from datetime import datetime, timedelta

from pydantic import Field

from monitor.config import Config
from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.judge.detectors.unused import Unused
from monitor.models import EvidenceItem, Finding
from monitor.store import usage
from monitor.store.usage import RoleUse


class UnusedRoleOptions(DetectorOptions):
    LOOKBACK = ("days",)
    days: int = Field(default=90, ge=1)
    watched_roles: tuple[str, ...] = ()

    @classmethod
    def config_defaults(cls, config: Config) -> dict[str, object]:
        monitor_roles = [a.role_arn for a in config.accounts if a.role_arn]
        return {"watched_roles": sorted({*monitor_roles, *config.cloudtrail.watched_roles})}


@register("unused-role", UnusedRoleOptions, usage.role_use)
def detect(data: RoleUse, now: datetime, opts: UnusedRoleOptions) -> list[Finding]:
    period = timedelta(days=opts.days)
    unused = Unused(opts.days, now - data.history_start if data.history_start else timedelta(0))
    findings = []
    for role in sorted(data.roles):
        last = data.last_assumed.get(role)
        if last and last >= now - period:
            continue
        span = unused.span
        account = role.split(":")[4] if role.count(":") >= 5 else None
        findings.append(
            Finding(
                detector="unused-role",
                subject=role,
                severity=unused.severity,
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
