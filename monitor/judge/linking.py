"""Who is probably behind a login: link it to the role assumptions that could have made its token.

An IAM token is signed with credentials; for a role, those came from an AssumeRole. So the
candidates for a login as db user U on target T at time t are:

- who: the principals whose grants allow rds-db:connect as U on T;
- when: for a role, an assumption within the credentials' lifetime before t;
- from where: the assumption came from the login's client address (or a VPC endpoint).

Each link carries its confidence and the reason. It is a lead for a person, never a fact.
Where the database's own log names the caller (an `iam-db-auth-error` NotAuthorized line),
`stated` gives that principal as a fact, "as stated by the database's own log": findings
show it first, apart from the guesses. The ARN is still log text, escaped on the way out.
Pure: the loader (monitor/store/evidence.py) reads the store, `link` only compares.
"""

from __future__ import annotations

import fnmatch
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from monitor.models import LinkedPrincipal, StatedPrincipal
from monitor.store.evidence import MAX_LIFETIME, Assumption, LinkData

USUAL_LIFETIME = timedelta(hours=1)
SHOWN = 3


def link(
    data: LinkData, target: str, db_user: str, when: datetime, client: str | None
) -> tuple[LinkedPrincipal, ...]:
    """The best candidates behind a login as `db_user` on `target` at `when` from `client`."""
    found: list[tuple[int, datetime, LinkedPrincipal]] = []
    for principal, kind, pattern in data.grants.get(target, []):
        if not fnmatch.fnmatchcase(db_user, pattern):
            continue
        if kind != "role":
            why = f"may connect as {db_user} directly (IAM {kind}); no assumption to match"
            found.append((2, datetime.min, LinkedPrincipal(principal, "low", why)))
            continue
        best = _best_assumption(data.assumptions.get(principal, []), when, client)
        if best is None:
            why = f"may connect as {db_user}, but was not assumed in the 12 h before"
            found.append((3, datetime.min, LinkedPrincipal(principal, "low", why)))
            continue
        level, assumption = best
        minutes = int((when - assumption.time).total_seconds() // 60)
        place = assumption.source_ip or assumption.vpc_endpoint or "an unknown address"
        why = (
            f"may connect as {db_user}; assumed by {assumption.caller or 'an unknown caller'} "
            f"from {place} {minutes} min before"
            + (", the login's own address" if level == "high" else "")
        )
        rank = {"high": 0, "medium": 1, "low": 2}[level]
        found.append((rank, assumption.time, LinkedPrincipal(principal, level, why)))
    found.sort(key=lambda item: (item[0], -item[1].timestamp() if item[1] != datetime.min else 0))
    return tuple(item[2] for item in found[:SHOWN])


def stated(callers: Iterable[str | None]) -> tuple[StatedPrincipal, ...]:
    """The principals the database's own log names as the caller of failed logins, most
    named first."""
    counts = Counter(c for c in callers if c)
    return tuple(
        StatedPrincipal(
            arn,
            f"as stated by the database's own log (iam-db-auth-error): the caller of {n} "
            "failed logins, not authorized to rds-db:connect",
        )
        for arn, n in counts.most_common()
    )


def _best_assumption(
    assumptions: list[Assumption], when: datetime, client: str | None
) -> tuple[Literal["high", "medium", "low"], Assumption] | None:
    times = [a.time for a in assumptions]
    window = assumptions[bisect_left(times, when - MAX_LIFETIME) : bisect_right(times, when)]
    if not window:
        return None
    same_place = [a for a in window if client and a.source_ip == client]
    if same_place:
        return "high", same_place[-1]
    recent = [a for a in window if when - a.time <= USUAL_LIFETIME]
    if recent:
        return "medium", recent[-1]
    return "low", window[-1]
