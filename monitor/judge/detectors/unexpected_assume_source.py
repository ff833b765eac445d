"""unexpected-assume-source: a watched role assumed from where it should not be.

    [detectors.unexpected-assume-source]
    allowed_source_accounts = []  # default: [aws].management_accounts
    allowed_principals = []       # globs over the caller's ARN; empty allows any
    watched_roles = []            # default: the monitor roles and [cloudtrail].watched_roles
    lookback_hours = 72
    denied_threshold = 5          # this many AccessDenied attempts...
    denied_window_minutes = 15    # ...within this window are a burst

Flags an AssumeRole into a watched role (the monitor roles, configured roles, and every
role granting rds-db:connect) from an account that is neither allowed nor the role's own,
or by a principal outside the allow list, and bursts of AccessDenied attempts.
AWS services (no caller account) are not flagged as an unexpected account.
Needs: CloudTrail AssumeRole events, the grants inventory.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from datetime import datetime, timedelta

from pydantic import Field

from monitor.config import Config
from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.judge.detectors.windows import densest
from monitor.models import EvidenceItem, Finding
from monitor.store import usage
from monitor.store.usage import Assumption


class UnexpectedAssumeSourceOptions(DetectorOptions):
    allowed_source_accounts: tuple[str, ...] = ()
    allowed_principals: tuple[str, ...] = ()
    watched_roles: tuple[str, ...] = ()
    lookback_hours: float = Field(default=72, gt=0)
    denied_threshold: int = Field(default=5, ge=1)
    denied_window_minutes: float = Field(default=15, gt=0)

    @classmethod
    def config_defaults(cls, config: Config) -> dict[str, object]:
        monitor_roles = [a.role_arn for a in config.accounts if a.role_arn]
        return {
            "allowed_source_accounts": tuple(config.aws.management_accounts),
            "watched_roles": tuple(sorted({*monitor_roles, *config.cloudtrail.watched_roles})),
        }


def _role_account(role: str) -> str | None:
    parts = role.split(":")
    return parts[4] if len(parts) > 5 else None


@register("unexpected-assume-source", UnexpectedAssumeSourceOptions, usage.assume_events)
def detect(
    data: list[Assumption], now: datetime, opts: UnexpectedAssumeSourceOptions
) -> list[Finding]:
    by_account: dict[tuple[str, str], list[Assumption]] = defaultdict(list)
    by_principal: dict[tuple[str, str], list[Assumption]] = defaultdict(list)
    denied: dict[tuple[str, str], list[Assumption]] = defaultdict(list)
    for event in data:
        src = event.source_account
        if src and src not in opts.allowed_source_accounts and src != _role_account(event.role):
            by_account[(event.role, src)].append(event)
        principal = event.principal or ""
        checked = opts.allowed_principals and principal and event.principal_type != "AWSService"
        if checked and not any(fnmatch.fnmatchcase(principal, g) for g in opts.allowed_principals):
            by_principal[(event.role, principal)].append(event)
        if event.error_code and "AccessDenied" in event.error_code:
            denied[(event.role, principal or event.source_ip or "unknown")].append(event)
    findings = [
        _finding(role, f"account/{src}", f"from account {src}", events, "not an allowed source")
        for (role, src), events in sorted(by_account.items())
    ]
    findings += [
        _finding(role, f"principal/{p}", f"by {p}", events, "not on the allow list")
        for (role, p), events in sorted(by_principal.items())
    ]
    window = timedelta(minutes=opts.denied_window_minutes)
    for (role, who), events in sorted(denied.items()):
        events.sort(key=lambda e: e.time)
        i, j = densest([e.time for e in events], window)
        if j - i >= opts.denied_threshold:
            findings.append(
                _finding(
                    role,
                    f"denied/{who}",
                    f"denied to {who}",
                    events[i:j],
                    "a burst of AccessDenied",
                )
            )
    return findings


def _finding(role: str, key: str, who: str, events: list[Assumption], rule: str) -> Finding:
    worked = [e for e in events if not e.error_code]
    name = role.rsplit("/", 1)[-1]
    hosts: dict[str | None, list[Assumption]] = defaultdict(list)
    for e in events:
        hosts[e.source_ip].append(e)
    return Finding(
        detector="unexpected-assume-source",
        subject=f"{role}/{key}",
        severity="high" if worked or key.startswith("denied/") else "medium",
        title=f"{name} assumed {who}" + ("" if worked else " (attempts denied)"),
        why=(f"{len(events)} AssumeRole calls into {role} {who}: {rule}. {len(worked)} succeeded."),
        remedy=(
            f"Check who is behind {who}. If it is not expected, tighten the trust policy of "
            f"{name} (Principal and sts:ExternalId) and revoke its active sessions: "
            f"aws iam put-role-policy --role-name {name} --policy-name AWSRevokeOlderSessions ..."
        ),
        account=_role_account(role),
        evidence=tuple(
            EvidenceItem(
                max(e.time for e in group),
                f"{group[-1].event_name} by {group[-1].principal or 'unknown'}"
                + (f" ({group[-1].error_code})" if group[-1].error_code else ""),
                ip,
                len(group),
            )
            for ip, group in sorted(hosts.items(), key=lambda kv: -len(kv[1]))
        ),
    )
