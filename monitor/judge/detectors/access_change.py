"""access-change: a control-plane change that opens a way in or blinds the monitor.

    [detectors.access-change]
    lookback_days = 14          # a change stays a finding this long, then resolves
    # Callers whose changes are expected (IAM globs), e.g. your infrastructure pipeline:
    ignore_principals = ["arn:aws:sts::*:assumed-role/terraform-apply/*"]
    report_refused = true       # a refused attempt is a finding too, at low severity

Each change CloudTrail recorded (stage `cloudtrail`, `pgwarden trail access-changes`) is
one finding with the caller, source IP, time, resource and the exact request fields
(passwords redacted). What each kind means and what to do:

* iam-auth-off (high): IAM database authentication turned off on a cluster or instance.
  The monitor's own IAM login fails and every IAM user is locked out; only passwords
  remain. Turn it back on (`--enable-iam-database-authentication`) and ask who and why.
* log-export-removed (high): `postgresql` or `iam-db-auth-error` no longer exported to
  CloudWatch Logs: logins stop reaching pgwarden. Re-enable the export.
* logging-parameter (high when it turns log_connections or log_disconnections off, changes
  log_line_prefix or log_destination, or resets the group; rds.force_ssl off opens
  plain-text logins): put the parameter back and check `pgwarden doctor`.
* master-password (high): the master password was set, which opens a password login
  beside IAM. Confirm the change was planned; rotate it into Secrets Manager.
* proxy-created / proxy-auth / proxy-deleted: an RDS Proxy is a way in. High when it takes
  passwords (IAMAuth DISABLED) or no longer requires TLS; add it to [[targets]].
* connect-grant (medium): a policy now grants rds-db:connect (low when the new policy
  version is not the default). Review it in the next access review (`pgwarden grants`).
* watched-role (medium): a policy or trust change on a watched role (the monitor role or a
  role that may connect). Check who may now assume it.
* protection-stopped / activity-stream-stopped (high): GuardDuty RDS Protection or
  Database Activity Streams stopped. Turn them back on.
* trail-stopped / trail-deleted (high): a CloudTrail trail records nothing any more, so
  role assumptions and these very changes go unseen. Start it again (or recreate it).
* log-group-deleted (high): an RDS log group deleted, and the login events in it with it.
  Ask who and why.

Needs: the cloudtrail stage (access_change_events).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from pydantic import Field

from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.models import EvidenceItem, Finding, LinkedPrincipal, Severity
from monitor.parsing.access_change import Change, changes
from monitor.parsing.cloudtrail import AccessChangeEvent
from monitor.parsing.policy import glob_match
from monitor.store import usage

_SEVERITY: dict[str, Severity] = {
    "blinds": "high",
    "opens": "high",
    "changes": "medium",
    "minor": "low",
}
_RANK = ("low", "medium", "high")
_SHOWN = 300


class AccessChangeOptions(DetectorOptions):
    LOOKBACK = ("lookback_days",)
    lookback_days: float = Field(default=14, gt=0)
    ignore_principals: list[str] = Field(default_factory=list)
    report_refused: bool = True


@register("access-change", AccessChangeOptions, usage.access_changes)
def detect(
    data: list[AccessChangeEvent], now: datetime, opts: AccessChangeOptions
) -> list[Finding]:
    findings = []
    for event in data:
        if event.error_code and not opts.report_refused:
            continue
        if any(glob_match(p, event.principal_arn or "") for p in opts.ignore_principals):
            continue
        found = changes(event)
        if found:
            findings.append(_finding(event, found))
    return findings


def _finding(event: AccessChangeEvent, found: list[Change]) -> Finding:
    severity = max((_SEVERITY[c.effect] for c in found), key=_RANK.index)
    who = event.principal_arn or "an unknown caller"
    resource = event.subject or event.event_name
    where = f"{event.recipient_account or '?'}/{event.aws_region or '?'}"
    summary = "; ".join(c.summary for c in found)
    refused = ""
    if event.error_code:
        severity = "low"
        refused = f" It was refused ({event.error_code}): nothing changed, but someone tried."
    title = f"{'Refused: ' if event.error_code else ''}{summary} on {resource}"
    why = (
        f"{who} called {event.event_name} on {resource} in {where} at "
        f"{event.event_time:%Y-%m-%d %H:%M:%S} UTC from {event.source_ip or 'an unknown address'}"
        f": {summary}.{refused}"
    )
    return Finding(
        detector="access-change",
        subject=f"event/{event.event_id}",
        severity=severity,
        title=title,
        why=why,
        remedy=" ".join(dict.fromkeys(_REMEDY.get(c.kind, _REMEDY["other"]) for c in found)),
        account=event.recipient_account,
        evidence=(
            EvidenceItem(
                event.event_time, f"{event.event_name} {resource} by {who}", event.source_ip
            ),
            *(
                EvidenceItem(event.event_time, f"{c.kind}: {_shown(c.fields)}", event.source_ip)
                for c in found
            ),
        ),
        principals=(
            (LinkedPrincipal(event.principal_arn, "high", "the caller CloudTrail recorded"),)
            if event.principal_arn
            else ()
        ),
        details={
            "event_id": event.event_id,
            "event_source": event.event_source,
            "event_name": event.event_name,
            "principal_arn": event.principal_arn,
            "source_ip": event.source_ip,
            "user_agent": event.user_agent,
            "region": event.aws_region,
            "resource": event.subject,
            "error_code": event.error_code,
            "changes": [
                {"kind": c.kind, "summary": c.summary, "request": dict(c.fields)} for c in found
            ],
        },
    )


def _shown(fields: Mapping[str, object]) -> str:
    """The request fields in one line, cut short for a message (the details keep them all)."""
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


_REMEDY = {
    "iam-auth-off": "Turn IAM database authentication back on and ask the caller why.",
    "iam-auth-on": "Expected if IAM logins are being rolled out; check the target's grants.",
    "log-export-removed": "Re-enable the postgresql and iam-db-auth-error log exports.",
    "logging-parameter": "Put the parameter back, then run pgwarden doctor.",
    "master-password": "Confirm the password change was planned; keep it in Secrets Manager.",
    "proxy-created": "Add the proxy to [[targets]] and require IAM auth and TLS on it.",
    "proxy-auth": "Set IAMAuth REQUIRED and RequireTLS on the proxy again.",
    "proxy-deleted": "Remove the proxy from [[targets]] if it was meant to go.",
    "proxy-modified": "Check the proxy's new settings.",
    "activity-stream-stopped": "Start the activity stream again.",
    "protection-stopped": "Turn GuardDuty RDS Protection (RDS_LOGIN_EVENTS) back on.",
    "trail-stopped": "Start the trail again (aws cloudtrail start-logging) and ask the caller why.",
    "trail-deleted": "Recreate the trail pgwarden reads, then ask the caller why.",
    "log-group-deleted": "Ask the caller why: the login events in it are gone.",
    "connect-grant": "Review the grant: pgwarden grants shows who may now connect.",
    "connect-policy": "Check the policy's rds-db: statements.",
    "watched-role": "Check the role's trust and permissions: who may now assume it.",
    "other": "Check the change.",
}
