"""failure-burst: many failed logins in a short window, per user or from one client host.

    [detectors.failure-burst]
    threshold = 5          # failures ...
    window_minutes = 10    # ... within this sliding window
    lookback_hours = 24    # a burst older than this no longer holds: the finding resolves

Raised to high when a successful login from the same host follows: the guess may have worked.
Where an `iam-db-auth-error` line names the caller, the finding shows that principal as
stated by the database's own log, before any guess from AssumeRole timing.

Behind an RDS Proxy, the failures a proxy's own log records are the target's, with the
client's address; a database-side failure from inside a fronting proxy's subnets is shown
"via proxy <name>", never under the proxy's address (inferred from the subnets: a client
inside them connecting directly is taken for the proxy; monitor/store/fronting.py).
Needs: auth events from the PostgreSQL logs (log_connections on), or a proxy's log.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from pydantic import Field

from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.judge.detectors.windows import densest
from monitor.judge.linking import link, stated
from monitor.models import EvidenceItem, Finding
from monitor.store import evidence
from monitor.store.evidence import Attempt, AuthHistory
from monitor.store.fronting import via_text


class FailureBurstOptions(DetectorOptions):
    threshold: int = Field(default=5, ge=2)
    window_minutes: float = Field(default=10, gt=0)
    lookback_hours: float = Field(default=24, gt=0)


@register("failure-burst", FailureBurstOptions, evidence.auth_history)
def detect(data: AuthHistory, now: datetime, opts: FailureBurstOptions) -> list[Finding]:
    window = timedelta(minutes=opts.window_minutes)
    groups: dict[tuple[str, str, str], list[Attempt]] = defaultdict(list)
    for attempt in data.failures:
        groups[(attempt.target, "user", attempt.user)].append(attempt)
        if attempt.host:
            groups[(attempt.target, "host", attempt.host)].append(attempt)
    findings = []
    for (target, axis, key), attempts in sorted(groups.items()):
        attempts.sort(key=lambda a: a.time)
        i, j = densest([a.time for a in attempts], window)
        burst = attempts[i:j]
        if len(burst) < opts.threshold:
            continue
        findings.append(_finding(target, axis, key, burst, data, opts))
    return findings


def _finding(
    target: str,
    axis: str,
    key: str,
    burst: list[Attempt],
    data: AuthHistory,
    opts: FailureBurstOptions,
) -> Finding:
    start = burst[0].time
    hosts = {a.host for a in burst if a.host}
    users = {a.user for a in burst}
    followed = [
        s
        for s in data.successes
        if s.target == target and s.time >= start and s.host in hosts and s.user in users
    ]
    by_source = Counter((a.user, a.host, a.via) for a in burst)
    who = f"as {key}" if axis == "user" else f"from {key}"
    proxies = sorted({a.via for a in burst if a.via})
    title = (
        f"{len(burst)} failed logins {who} on {target}{via_text(', '.join(proxies))}"
        f" within {opts.window_minutes:g} min"
    )
    if followed:
        title += ", then a success"
    user, host, _ = by_source.most_common(1)[0][0]
    callers = stated(a.caller for a in burst)
    return Finding(
        stated=callers,
        principals=link(data.links, target, user, start, host),
        detector="failure-burst",
        subject=f"{target}/{axis}/{key}",
        severity="high" if followed else "medium",
        title=title,
        why=(
            f"At least {opts.threshold} authentication failures within {opts.window_minutes:g}"
            f" minutes {who}."
            + (
                " A login from the same host succeeded afterwards: the guess may have worked."
                if followed
                else ""
            )
            + "".join(f" The database's own log names the caller: {p.arn}." for p in callers[:1])
        ),
        remedy=_remedy(axis, hosts, callers[0].arn if callers else None, user),
        target=target,
        db_user=key if axis == "user" else (next(iter(users)) if len(users) == 1 else None),
        evidence=_evidence(burst, by_source, followed),
        details={
            "failures": len(burst),
            "first": start.isoformat(),
            "followed_by_success": bool(followed),
        },
    )


def _evidence(
    burst: list[Attempt],
    by_source: Counter[tuple[str, str | None, str | None]],
    followed: list[Attempt],
) -> tuple[EvidenceItem, ...]:
    """The first successes after the burst, then each source's failures, most first."""
    successes = [
        EvidenceItem(s.time, f"then a successful login as {s.user}{via_text(s.via)}", s.host)
        for s in followed[:3]
    ]
    failures = [
        EvidenceItem(
            min(a.time for a in burst if (a.user, a.host, a.via) == (user, host, via)),
            f"failed login as {user}{via_text(via)}",
            host,
            count,
        )
        for (user, host, via), count in by_source.most_common()
    ]
    return (*successes, *failures)


def _remedy(axis: str, hosts: set[str], caller: str | None, user: str) -> str:
    if caller:
        return (
            f"{caller} was refused rds-db:connect as {user}. If it should connect, allow"
            f" rds-db:connect on dbuser:<resource-id>/{user} in its policy; if not, find out"
            " why it tries (pgwarden trail assume-role lists its role's assumptions)."
        )
    if axis == "host" or hosts:
        return (
            f"Find out who runs {', '.join(sorted(hosts)) or 'the client'}. If it is not expected,"
            " block it at the security group, and review the sessions it opened "
            "(pgwarden findings show, pg_stat_activity)."
        )
    return "Check the client's IAM token generation (host, port, region, user)."
