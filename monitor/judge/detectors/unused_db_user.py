"""unused-db-user: a login role holding rds_iam that nobody has used for `days`.

    [detectors.unused-db-user]
    days = 90

No successful login in the logs, no session in pg_stat_activity and (for pgwarden's own
user) no good poll for `days`. When
pgwarden has watched the target for less than that, the finding says "not seen in the N
days observed" at low severity instead of claiming the full period. A role created after
pgwarden started watching gets `days` of grace before it counts as unused.
Behind an RDS Proxy, the logins the proxy's own log records count, and so do the proxy's
sessions at the database: a proxy logs in as the user its clients name.
Needs: the database roles inventory, auth events (the database's or a proxy's log), sessions.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.judge.detectors.unused import Unused
from monitor.judge.remedy import quote_ident
from monitor.models import EvidenceItem, Finding
from monitor.store import usage
from monitor.store.usage import IamRole

# A role first seen this long after the target was is one created while we watched.
CREATED_WHILE_WATCHED = timedelta(days=1)


class UnusedDbUserOptions(DetectorOptions):
    LOOKBACK = ("days",)
    days: int = Field(default=90, ge=1)


@register("unused-db-user", UnusedDbUserOptions, usage.iam_roles)
def detect(data: list[IamRole], now: datetime, opts: UnusedDbUserOptions) -> list[Finding]:
    period = timedelta(days=opts.days)
    findings = []
    for role in data:
        if role.last_used and role.last_used >= now - period:
            continue
        created_later = role.first_seen - role.watched_since > CREATED_WHILE_WATCHED
        unused = Unused(opts.days, now - (role.first_seen if created_later else role.watched_since))
        if created_later and not unused.full:
            continue  # a new role: give it the whole period before calling it unused
        span = unused.span
        last = f"last used {role.last_used:%Y-%m-%d}" if role.last_used else "never seen in use"
        findings.append(
            Finding(
                detector="unused-db-user",
                subject=f"{role.target}/{role.user}",
                severity=unused.severity,
                title=f"{role.user} on {role.target}: not seen in {span}",
                why=(
                    f"{role.user} holds rds_iam and may log in with an IAM token, but no login"
                    f" and no session was seen in {span} ({last})."
                ),
                remedy=(
                    f"If nobody needs it: REVOKE rds_iam FROM {quote_ident(role.user)}; "
                    f"then DROP ROLE {quote_ident(role.user)}; once its objects are reassigned."
                ),
                target=role.target,
                db_user=role.user,
                evidence=(
                    (EvidenceItem(role.last_used, f"last login or session as {role.user}"),)
                    if role.last_used
                    else ()
                ),
                details={"observed_days": unused.observed.days, "last_used": last},
            )
        )
    return findings
