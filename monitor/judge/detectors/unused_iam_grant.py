"""unused-iam-grant: a principal allowed rds-db:connect as a db user that never uses it.

    [detectors.unused-iam-grant]
    days = 90

For each (principal, target, db user) the grants inventory finds, look for a sign of use in
`days`: the role was assumed, or somebody logged in as that db user. With neither, the
grant is standing access nobody exercises. Wildcard grants (any user) are left to the
access review, which lists them.
A login the proxy's own log records, for a database behind an RDS Proxy, counts as use.
Needs: the grants inventory, CloudTrail AssumeRole events, auth events.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.judge.detectors.unused import Unused
from monitor.models import EvidenceItem, Finding
from monitor.store import usage
from monitor.store.usage import GrantUse


class UnusedIamGrantOptions(DetectorOptions):
    LOOKBACK = ("days",)
    days: int = Field(default=90, ge=1)


@register("unused-iam-grant", UnusedIamGrantOptions, usage.grant_use)
def detect(data: GrantUse, now: datetime, opts: UnusedIamGrantOptions) -> list[Finding]:
    period = timedelta(days=opts.days)
    findings = []
    for grant in data.grants:
        assumed = data.last_assumed.get(grant.principal)
        signs = [t for t in (assumed, grant.last_login) if t]
        if any(t >= now - period for t in signs):
            continue
        since = min(t for t in (grant.first_observed, data.history_start) if t)
        unused = Unused(opts.days, now - since)
        span = unused.span
        name = grant.principal.rsplit("/", 1)[-1]
        findings.append(
            Finding(
                detector="unused-iam-grant",
                subject=f"{grant.principal}/{grant.target}/{grant.db_user}",
                severity=unused.severity,
                title=f"{name} may connect as {grant.db_user} on {grant.target}, unused in {span}",
                why=(
                    f"{grant.principal} is allowed rds-db:connect as {grant.db_user} on "
                    f"{grant.target} ({grant.policy}, statement {grant.statement}), but in {span} "
                    "it was not assumed and nobody logged in as that user."
                ),
                remedy=(
                    f"Remove the statement {grant.statement} granting rds-db:connect on "
                    f"dbuser:{grant.resource_id}/{grant.db_user} from {grant.policy}."
                ),
                account=grant.account,
                target=grant.target,
                db_user=grant.db_user,
                evidence=tuple(
                    EvidenceItem(t, what)
                    for t, what in (
                        (assumed, "last assumed"),
                        (grant.last_login, "last login as user"),
                    )
                    if t
                ),
            )
        )
    return findings
