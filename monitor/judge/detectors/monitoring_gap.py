"""monitoring-gap: pgwarden watching itself.

    [detectors.monitoring-gap]
    missed_polls = 3              # a target not polled successfully for this many intervals
    poll_interval_s = 10          # default: [activity].interval_s
    log_silent_minutes = 60       # no log event from a target that has sessions
    cloudtrail_lag_minutes = 60   # CloudTrail ingestion not moved for this long
    check_logs = true             # default: [pglogs].enabled
    check_cloudtrail = true       # default: [cloudtrail].enabled

A blind spot is a finding too: an audit that silently stopped is worse than none.
Needs: poll outcomes, auth events, sessions and the sources' cursors.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from monitor.config import Config
from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.models import EvidenceItem, Finding, Severity
from monitor.store import usage
from monitor.store.usage import Health


class MonitoringGapOptions(DetectorOptions):
    missed_polls: int = Field(default=3, ge=1)
    poll_interval_s: float = Field(default=10, gt=0)
    log_silent_minutes: float = Field(default=60, gt=0)
    cloudtrail_lag_minutes: float = Field(default=60, gt=0)
    check_logs: bool = True
    check_cloudtrail: bool = True

    @classmethod
    def config_defaults(cls, config: Config) -> dict[str, object]:
        return {
            "poll_interval_s": config.activity.interval_s,
            "check_logs": config.pglogs.enabled,
            "check_cloudtrail": config.cloudtrail.enabled,
        }


@register("monitoring-gap", MonitoringGapOptions, usage.health)
def detect(data: Health, now: datetime, opts: MonitoringGapOptions) -> list[Finding]:
    findings = []
    poll_gap = timedelta(seconds=opts.poll_interval_s * opts.missed_polls)
    silent = timedelta(minutes=opts.log_silent_minutes)
    for t in data.targets:
        since = t.last_ok or t.watched_since
        if now - since > poll_gap:
            findings.append(
                _gap(
                    f"{t.target}/poll",
                    "high",
                    f"{t.target} not polled successfully since {since:%Y-%m-%d %H:%M} UTC",
                    f"No good pg_stat_activity poll for {opts.missed_polls} intervals; "
                    f"last error: {t.reason or 'none recorded'}.",
                    "Run pgwarden once --only activity to see the error, then fix access "
                    "(network, CA bundle, IAM token, rds_iam) or remove the target.",
                    t.target,
                    t.polled_at,
                )
            )
        busy = t.last_session is not None and t.last_session >= now - silent
        quiet = t.last_log_event is None or t.last_log_event < now - silent
        if opts.check_logs and busy and quiet and now - t.watched_since > silent:
            findings.append(
                _gap(
                    f"{t.target}/logs",
                    "medium",
                    f"No PostgreSQL log events from {t.target} for {opts.log_silent_minutes:g} min",
                    "The target has sessions, but no connection line reached pgwarden: failed "
                    "logins would go unseen.",
                    "Check that the postgresql log export to CloudWatch Logs is on and that "
                    "log_connections=1 in the parameter group.",
                    t.target,
                    t.last_log_event,
                )
            )
    lag = timedelta(minutes=opts.cloudtrail_lag_minutes)
    trail = max((v for k, v in data.cursors.items() if k.startswith("cloudtrail")), default=None)
    started = min((t.watched_since for t in data.targets), default=now)
    if opts.check_cloudtrail and (trail or started) < now - lag:
        findings.append(
            _gap(
                "cloudtrail",
                "medium",
                "CloudTrail ingestion is behind"
                + (f" (last moved {trail:%Y-%m-%d %H:%M} UTC)" if trail else " (never ran)"),
                f"AssumeRole records have not been read for over {opts.cloudtrail_lag_minutes:g} "
                "minutes: who obtained database credentials is unknown for that time.",
                "Run pgwarden once --only cloudtrail and fix the error it reports.",
                None,
                trail,
            )
        )
    return findings


def _gap(
    subject: str, severity: Severity, title: str, why: str, remedy: str, target: str | None,
    last: datetime | None,
) -> Finding:  # fmt: skip
    return Finding(
        detector="monitoring-gap",
        subject=subject,
        severity=severity,
        title=title,
        why=why,
        remedy=remedy,
        target=target,
        evidence=(EvidenceItem(last, "last seen"),) if last else (),
    )
