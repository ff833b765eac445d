"""password-login: a login authenticated by a password (or any method but PAM/IAM).

    [detectors.password-login]
    iam_only = false     # true: flag every password login, not only users holding rds_iam
    lookback_days = 7

On RDS an IAM token is checked through PAM, so a user holding `rds_iam` who logs in any
other way is going around IAM. With `iam_only`, the database is meant to be IAM-only.
Behind an RDS Proxy, a login from inside a fronting proxy's subnets is shown "via proxy
<name>", never under the proxy's address: the proxy logs in with its secret's password for
its clients (inferred from the subnets: a client inside them connecting directly is taken
for the proxy; monitor/store/fronting.py). proxy-bypass flags the direct password path.
Needs: `connection authenticated` lines (PostgreSQL 14+, log_connections on) and the
database roles inventory.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.judge.linking import link
from monitor.judge.remedy import quote_ident
from monitor.models import EvidenceItem, Finding
from monitor.store import evidence
from monitor.store.evidence import PasswordLogin, PasswordLogins
from monitor.store.fronting import via_text


class PasswordLoginOptions(DetectorOptions):
    LOOKBACK = ("lookback_days",)
    iam_only: bool = False
    lookback_days: float = Field(default=7, gt=0)


@register("password-login", PasswordLoginOptions, evidence.password_logins)
def detect(data: PasswordLogins, now: datetime, opts: PasswordLoginOptions) -> list[Finding]:
    grouped: dict[tuple[str, str, str], list[PasswordLogin]] = {}
    for login in data.logins:
        holds_iam = (login.target, login.user) in data.rds_iam
        if holds_iam or opts.iam_only:
            grouped.setdefault((login.target, login.user, login.method), []).append(login)
    findings = []
    for (target, user, method), logins in sorted(grouped.items()):
        holds_iam = (target, user) in data.rds_iam
        total = sum(x.logins for x in logins)
        findings.append(
            Finding(
                detector="password-login",
                subject=f"{target}/{user}/{method}",
                severity="high" if holds_iam else "medium",
                title=f"{user} logged in to {target} with {method}, not IAM ({total}×)",
                why=(
                    f"{user} holds rds_iam, so its logins should be IAM tokens checked by PAM; "
                    f"{total} logins used {method} instead."
                    if holds_iam
                    else f"The database is set IAM-only (iam_only = true); {user} used {method}."
                ),
                remedy=(
                    f"ALTER ROLE {quote_ident(user)} PASSWORD NULL; and remove the pg_hba.conf "
                    f"line that allows {method} for it, or set rds.force_ssl and IAM-only access."
                ),
                target=target,
                db_user=user,
                principals=link(data.links, target, user, logins[-1].last, logins[-1].host),
                evidence=tuple(
                    EvidenceItem(
                        x.last,
                        f"{x.logins} logins with {x.method}{via_text(x.via)}",
                        x.host,
                        x.logins,
                    )
                    for x in sorted(logins, key=lambda x: x.last, reverse=True)
                ),
            )
        )
    return findings
