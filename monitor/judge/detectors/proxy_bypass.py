"""proxy-bypass: a database behind an IAM-only RDS Proxy that also takes password logins
directly.

    [detectors.proxy-bypass]
    window_days = 7   # direct password logins this recent count

A proxy whose every auth entry requires IAM (`IAMAuth = REQUIRED`) makes an IAM token the
way in. A successful login with a password (password, md5, scram-sha-256) at the database
itself, not through a proxy, is a path around it: whoever holds that password skips the
proxy's IAM check, and no principal is named anywhere.

"Not through a proxy" means not recorded by a proxy's own log, and from a client address
outside the subnets of every proxy fronting the database. This is inferred from the
subnets: a client inside them connecting directly is taken for the proxy and not flagged
(monitor/store/fronting.py).
Needs: discovered proxies (their auth and subnets), and `connection authenticated` lines
at the database (PostgreSQL 14+, log_connections on).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from pydantic import Field

from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.judge.remedy import quote_ident
from monitor.models import EvidenceItem, Finding, Proxy
from monitor.store import evidence
from monitor.store.evidence import PasswordLogin, ProxiedLogins

PASSWORD_METHODS = frozenset({"password", "md5", "scram-sha-256"})


class ProxyBypassOptions(DetectorOptions):
    LOOKBACK = ("window_days",)
    window_days: float = Field(default=7, gt=0)


def is_direct(login: PasswordLogin) -> bool:
    """A password login that reached the database through no proxy."""
    return login.via is None and login.method in PASSWORD_METHODS


@register("proxy-bypass", ProxyBypassOptions, evidence.proxy_bypass)
def detect(data: ProxiedLogins, now: datetime, opts: ProxyBypassOptions) -> list[Finding]:
    direct: dict[str, list[PasswordLogin]] = defaultdict(list)
    for login in filter(is_direct, data.logins):
        direct[login.target].append(login)
    findings = []
    for target, logins in sorted(direct.items()):
        iam_only = [p for p in data.fronting.proxies.get(target, ()) if p.iam_only]
        if iam_only:
            findings.append(_finding(target, iam_only, logins, opts))
    return findings


def _finding(
    target: str, proxies: list[Proxy], logins: list[PasswordLogin], opts: ProxyBypassOptions
) -> Finding:
    names = ", ".join(p.name for p in proxies)
    users = sorted({x.user for x in logins})
    total = sum(x.logins for x in logins)
    methods = ", ".join(sorted({x.method for x in logins}))
    networks = ", ".join(sorted({n for p in proxies for n in p.networks})) or "its subnets"
    return Finding(
        detector="proxy-bypass",
        subject=target,
        severity="high",
        title=f"{target} takes password logins directly, around IAM-only proxy {names}",
        why=(
            f"Proxy {names} requires IAM for every client, but in the last {opts.window_days:g}"
            f" days {total} logins with a password ({methods}) reached {target} directly, not"
            f" through a proxy, as {', '.join(users)}. Whoever holds those passwords goes"
            " around the proxy's IAM requirement."
        ),
        remedy=(
            "Require IAM for those users: "
            + " ".join(f"ALTER ROLE {quote_ident(u)} PASSWORD NULL;" for u in users)
            + f" (or GRANT rds_iam and drop their password lines from pg_hba.conf). Then let"
            f" only the proxy's subnets ({networks}) reach the database's security group on"
            " its port."
        ),
        target=target,
        db_user=users[0] if len(users) == 1 else None,
        evidence=tuple(
            EvidenceItem(
                x.last, f"{x.logins} direct logins as {x.user} with {x.method}", x.host, x.logins
            )
            for x in sorted(logins, key=lambda x: x.last, reverse=True)
        ),
        details={"proxies": [p.name for p in proxies], "logins": total},
    )
