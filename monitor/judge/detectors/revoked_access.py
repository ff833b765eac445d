"""revoked-access-present: access a reviewer decided to revoke that is still there.

    [detectors.revoked-access-present]
    grace_days = 7

`pgwarden report apply-decisions` remembers every `revoke` from the access review. Once
`grace_days` have passed since the decision, a db user the inventory still sees holding
rds_iam on its target, or a principal still allowed rds-db:connect, is flagged at high
severity: the decision was not carried out. Only an observation made after the grace
period counts, so a stale inventory never raises it. It resolves when the access goes.
Needs: review decisions, the database roles inventory, the grants inventory.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.judge.remedy import quote_ident
from monitor.models import EvidenceItem, Finding
from monitor.store import usage
from monitor.store.usage import RevokeDecision


class RevokedAccessOptions(DetectorOptions):
    grace_days: int = Field(default=7, ge=0)


@register("revoked-access-present", RevokedAccessOptions, usage.revoke_decisions)
def detect(data: list[RevokeDecision], now: datetime, opts: RevokedAccessOptions) -> list[Finding]:
    grace = timedelta(days=opts.grace_days)
    findings = []
    for d in data:
        if d.still_seen is None or d.still_seen < d.decided_at + grace:
            continue
        days = (now - d.decided_at).days
        decided = f"{d.reviewer} decided to revoke it on {d.decided_at:%Y-%m-%d} ({d.source})"
        if d.kind == "db_user":
            subject = f"db_user/{d.target}/{d.db_user}"
            title = f"{d.db_user} on {d.target} still holds rds_iam, {days} days after review"
            what = f"{d.db_user} still holds rds_iam on {d.target}"
            remedy = f"On {d.target}: REVOKE rds_iam FROM {quote_ident(d.db_user)};"
        else:
            subject = f"principal/{d.principal_arn}"
            title = f"{d.principal_arn} may still connect, {days} days after review"
            what = f"{d.principal_arn} is still allowed rds-db:connect"
            remedy = (
                "Remove its rds-db:connect statements (the access review's -revoke-iam.json "
                f"lists them; pgwarden grants shows them now) from {d.principal_arn}."
            )
        findings.append(
            Finding(
                detector="revoked-access-present",
                subject=subject,
                severity="high",
                title=title,
                why=f"{what}: {decided}. Last observed {d.still_seen:%Y-%m-%d %H:%M} UTC.",
                remedy=remedy,
                account=d.account
                or (d.principal_arn.split(":")[4] or None if d.principal_arn else None),
                target=d.target or None,
                db_user=d.db_user or None,
                evidence=(EvidenceItem(d.still_seen, what),),
                details={"reviewer": d.reviewer, "decided_at": d.decided_at.isoformat()},
            )
        )
    return findings
