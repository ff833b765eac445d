"""keep | review | revoke, and why: the access review's recommendations. Pure.

A db user's or a principal's unused verdict is the unused detectors' own (`unused-db-user`
and `unused-iam-grant`, with their `days`), evaluated at the period's end, so the report
and the findings never disagree. Other reasons only ever raise a row to `review`. Every
reason that applies is given, the deciding one first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from monitor.judge.detectors import unused_db_user, unused_iam_grant
from monitor.store.usage import Grant, GrantUse, IamRole

Recommendation = Literal["keep", "review", "revoke"]
RECOMMENDATIONS: tuple[Recommendation, ...] = ("revoke", "review", "keep")  # most urgent first


@dataclass(frozen=True)
class Advice:
    recommendation: Recommendation
    reason: str


@dataclass(frozen=True)
class Kept:
    """A reviewer's keep, standing at the period's end: it overrides an unused verdict."""

    reviewer: str
    until: datetime

    def verdict(self) -> tuple[Recommendation, str]:
        return "keep", f"kept by {self.reviewer} until {self.until:%Y-%m-%d} (access review)"


def _unless_kept(
    verdict: tuple[Recommendation, str], kept: Kept | None
) -> tuple[Recommendation, str]:
    return kept.verdict() if kept and verdict[0] != "keep" else verdict


def _combine(verdicts: Sequence[tuple[Recommendation, str]]) -> Advice:
    worst = min(verdicts, key=lambda v: RECOMMENDATIONS.index(v[0]))
    reasons = [worst[1]] + [r for rec, r in verdicts if r != worst[1] and rec != "keep"]
    return Advice(worst[0], "; ".join(reasons))


@dataclass(frozen=True)
class UserFacts:
    target: str
    db_user: str
    rds_iam: bool | None  # None: no such login role in the roles inventory
    superuser: bool
    principals: int
    sessions: int
    auth_failures: int
    open_findings: int
    last_used: datetime | None
    role_first_seen: datetime | None
    watched_since: datetime | None
    kept: Kept | None = None


def advise_user(
    facts: UserFacts, end: datetime, opts: unused_db_user.UnusedDbUserOptions
) -> Advice:
    verdicts = [_unless_kept(_usage(facts, end, opts), facts.kept)]
    if facts.rds_iam and facts.superuser:
        verdicts.append(("review", "superuser (or rds_superuser) reachable with an IAM token"))
    if facts.auth_failures and not facts.sessions:
        verdicts.append(("review", f"{facts.auth_failures} failed logins and no session"))
    if facts.open_findings:
        verdicts.append(("review", f"{facts.open_findings} open findings"))
    return _combine(verdicts)


def _usage(
    facts: UserFacts, end: datetime, opts: unused_db_user.UnusedDbUserOptions
) -> tuple[Recommendation, str]:
    if facts.rds_iam is None:
        if facts.principals and not facts.sessions:
            return "review", "IAM grants connect as a user that is not a login role here"
        return "review", "not in the roles inventory (dropped, or roles not read yet)"
    if not facts.rds_iam:
        if facts.principals:
            return "review", "IAM grants connect, but the user lacks rds_iam: the grant is unused"
        return "keep", "no rds_iam: cannot log in with an IAM token"
    if facts.role_first_seen is None or facts.watched_since is None:
        return "review", "target not in the inventory"
    role = IamRole(
        facts.target, facts.db_user, facts.role_first_seen, facts.watched_since, facts.last_used
    )
    found = unused_db_user.detect([role], end, opts)
    last = f"last used {facts.last_used:%Y-%m-%d}" if facts.last_used else "never seen in use"
    if found and found[0].severity == "medium":
        return "revoke", f"no login or session in {opts.days} days ({last})"
    if found:
        days = found[0].details["observed_days"]
        return "review", (
            f"no login or session in the {days} days observed, less than the {opts.days}-day "
            f"threshold ({last})"
        )
    if facts.last_used and facts.last_used >= end - timedelta(days=opts.days):
        return "keep", f"in use ({last})"
    return "keep", f"new: first seen {facts.role_first_seen:%Y-%m-%d}, within the grace period"


@dataclass(frozen=True)
class GrantFacts:
    target: str | None
    resource_id: str
    db_user: str
    first_observed: datetime
    last_login: datetime | None

    @property
    def exact(self) -> bool:
        return self.target is not None and not any(c in self.db_user for c in "*?")

    @property
    def label(self) -> str:
        return f"{self.target or self.resource_id}/{self.db_user}"


@dataclass(frozen=True)
class PrincipalFacts:
    arn: str
    type: str
    account: str
    grants: tuple[GrantFacts, ...]
    last_assumed: datetime | None
    kept: Kept | None = None


def advise_principal(
    facts: PrincipalFacts,
    end: datetime,
    history_start: datetime | None,
    opts: unused_iam_grant.UnusedIamGrantOptions,
) -> Advice:
    verdicts: list[tuple[Recommendation, str]] = []
    exact = [g for g in facts.grants if g.exact]
    if exact:
        usage = _grant_usage(facts, exact, end, history_start, opts)
        verdicts.append(_unless_kept(usage, facts.kept))
    wide = sorted(g.label for g in facts.grants if not g.exact)
    if wide:
        shown = ", ".join(wide[:3]) + (f" and {len(wide) - 3} more" if len(wide) > 3 else "")
        verdicts.append(("review", f"may connect by pattern or to unwatched databases: {shown}"))
    return _combine(verdicts)


def _grant_usage(
    facts: PrincipalFacts,
    exact: list[GrantFacts],
    end: datetime,
    history_start: datetime | None,
    opts: unused_iam_grant.UnusedIamGrantOptions,
) -> tuple[Recommendation, str]:
    # Policy and statement do not change the verdict; the plan reads them from the store.
    grants = [
        Grant(
            facts.arn,
            facts.type,
            facts.account,
            g.target or "",
            g.db_user,
            "",
            "",
            g.resource_id,
            g.first_observed,
            g.last_login,
        )
        for g in exact
    ]
    assumed = {facts.arn: facts.last_assumed} if facts.last_assumed else {}
    found = unused_iam_grant.detect(GrantUse(grants, assumed, history_start), end, opts)
    if len(found) < len(grants):
        signs = [(facts.last_assumed, "assumed")] + [
            (g.last_login, f"login as {g.label}") for g in exact
        ]
        when, what = max(((t, w) for t, w in signs if t), key=lambda s: s[0])
        return "keep", f"in use (last {what} {when:%Y-%m-%d})"
    if all(f.severity == "medium" for f in found):
        return "revoke", f"not assumed and no login as its db users in {opts.days} days"
    return "review", (
        f"not assumed and no login as its db users in the history so far, shorter than the "
        f"{opts.days}-day threshold"
    )
