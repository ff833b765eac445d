"""unused-iam-grant: a principal allowed rds-db:connect as a db user that never uses it.

    [detectors.unused-iam-grant]
    days = 90

For each (principal, target, db user) the grants inventory finds, look for a sign of use in
`days`: the role was assumed, or somebody logged in as that db user. With neither, the
grant is standing access nobody exercises. Wildcard grants (any user) are left to the
access review, which lists them.
Needs: the grants inventory, CloudTrail AssumeRole events, auth events.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field

from monitor import sql
from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.models import EvidenceItem, Finding
from monitor.store.sqlite import from_text


class UnusedIamGrantOptions(DetectorOptions):
    days: int = Field(default=90, ge=1)


@dataclass(frozen=True)
class Grant:
    principal: str
    principal_type: str
    account: str
    target: str
    db_user: str
    policy: str
    statement: str
    resource_id: str
    first_observed: datetime
    last_login: datetime | None


@dataclass(frozen=True)
class GrantUse:
    grants: list[Grant]
    last_assumed: dict[str, datetime]
    history_start: datetime | None


def load(conn: sqlite3.Connection, now: datetime, opts: UnusedIamGrantOptions) -> GrantUse:
    grants = [
        Grant(p, pt, a, t, u, pol, st, r, datetime.fromisoformat(first), from_text(login))
        for p, pt, a, t, u, pol, st, r, first, login in conn.execute(
            sql.load("store/connect_grants")
        )
    ]
    last: dict[str, datetime] = {}
    for arn, when in conn.execute(sql.load("store/role_last_assumed")):
        last[arn] = datetime.fromisoformat(when)
    (start,) = conn.execute(sql.load("store/trail_history_start")).fetchall()[0]
    return GrantUse(grants, last, from_text(start))


@register("unused-iam-grant", UnusedIamGrantOptions, load)
def detect(data: GrantUse, now: datetime, opts: UnusedIamGrantOptions) -> list[Finding]:
    period = timedelta(days=opts.days)
    findings = []
    for grant in data.grants:
        assumed = data.last_assumed.get(grant.principal)
        signs = [t for t in (assumed, grant.last_login) if t]
        if any(t >= now - period for t in signs):
            continue
        since = min(t for t in (grant.first_observed, data.history_start) if t)
        full = now - since >= period
        span = f"{opts.days} days" if full else f"the {(now - since).days} days observed"
        name = grant.principal.rsplit("/", 1)[-1]
        findings.append(
            Finding(
                detector="unused-iam-grant",
                subject=f"{grant.principal}/{grant.target}/{grant.db_user}",
                severity="medium" if full else "low",
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
