"""privileged-session: a superuser, rds_superuser or master-user session from an unlisted
host, or outside the allowed hours.

    [detectors.privileged-session]
    allowed_hosts = []          # IPs or CIDRs privileged sessions may come from
    allowed_hours = ""          # e.g. "08:00-19:00"; empty: any time
    allowed_days = ["mon", "tue", "wed", "thu", "fri"]
    timezone = "UTC"
    master_users = []           # the instances' master user names, e.g. ["postgres"]
    ignore_users = ["rdsadmin"] # RDS's own maintenance user
    lookback_hours = 24

With no hosts listed, every privileged session is reported: list the bastion hosts. A
session whose client address lies in the subnets of an RDS Proxy fronting the target is
shown "via proxy <name>", never with the proxy's address (inferred from the subnets: a
client inside them connecting directly is taken for the proxy; monitor/store/fronting.py).
Needs: sessions and the database roles inventory.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from datetime import datetime

from pydantic import Field, field_validator

from monitor.judge.detectors.hours import DAYS, parse_span, within
from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.judge.linking import link
from monitor.judge.remedy import quote_ident, quote_literal
from monitor.models import EvidenceItem, Finding
from monitor.store import evidence
from monitor.store.evidence import PrivilegedSession, PrivilegedSessions
from monitor.store.fronting import via_text


class PrivilegedSessionOptions(DetectorOptions):
    allowed_hosts: tuple[str, ...] = ()
    allowed_hours: str = ""
    allowed_days: tuple[str, ...] = DAYS[:5]
    timezone: str = "UTC"
    master_users: tuple[str, ...] = ()
    ignore_users: tuple[str, ...] = ("rdsadmin",)
    lookback_hours: float = Field(default=24, gt=0)

    @field_validator("allowed_hosts")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for host in value:
            ipaddress.ip_network(host, strict=False)  # ValueError names the bad entry
        return value

    @field_validator("allowed_hours")
    @classmethod
    def _span(cls, value: str) -> str:
        if value:
            parse_span(value)
        return value


def _listed(host: str | None, allowed: tuple[str, ...]) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in allowed)


@register("privileged-session", PrivilegedSessionOptions, evidence.privileged_sessions)
def detect(
    data: PrivilegedSessions, now: datetime, opts: PrivilegedSessionOptions
) -> list[Finding]:
    grouped: dict[tuple[str, str, str, str | None], list[tuple[PrivilegedSession, str]]] = (
        defaultdict(list)
    )
    for s in data.sessions:
        reasons = []
        if s.via:
            reasons.append(f"through proxy {s.via}, which hides the client")
        elif not _listed(s.host, opts.allowed_hosts):
            reasons.append("from a host not listed")
        if opts.allowed_hours and not within(
            s.started, opts.allowed_hours, opts.allowed_days, opts.timezone
        ):
            reasons.append(f"outside {opts.allowed_hours} {opts.timezone}")
        if reasons:
            label = f"via proxy {s.via}" if s.via else s.host or "local"
            grouped[(s.target, s.user, label, s.via)].append((s, " and ".join(reasons)))
    findings = []
    for (target, user, label, via), items in sorted(grouped.items(), key=lambda kv: kv[0][:3]):
        kind = items[0][0].why
        findings.append(
            Finding(
                detector="privileged-session",
                subject=f"{target}/{user}/{label}",
                severity="high",
                title=f"{kind} {user} connected to {target} {label if via else 'from ' + label}",
                why=f"{len(items)} sessions of {user} ({kind}) {items[0][1]}.",
                remedy=_remedy(user),
                target=target,
                db_user=user,
                principals=link(data.links, target, user, items[-1][0].started, items[-1][0].host),
                evidence=tuple(
                    EvidenceItem(
                        s.started,
                        f"session started{via_text(s.via)}"
                        f" ({s.application or 'no application_name'})",
                        s.host,
                    )
                    for s, _ in items[-5:]
                ),
            )
        )
    return findings


def _remedy(user: str) -> str:
    terminate = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"  # noqa: S608 - text for a person
        f" WHERE usename = {quote_literal(user)};"
    )
    return (
        f"Confirm who used {user}. If it was not planned: {terminate} then rotate: "
        f"ALTER ROLE {quote_ident(user)} PASSWORD NULL; (or reset the master password "
        "through the RDS API)."
    )
