"""new-source: the first use of a db user or role from a new place, after a learning period.

    [detectors.new-source]
    learning_days = 14   # what a subject does in its first days is learned, not flagged
    alert_days = 7       # a new value stays a finding this long after it first appears

For a db user on a target: a new client host or application_name. For a database behind an
RDS Proxy: a new client host in the proxy's own log. For a watched role: a new source IP or
source account. Like ElastAlert's new_term, but the history is the store, so it survives
restarts and is never forgotten.

A database-side address inside the subnets of a proxy fronting the target is the proxy's,
never a new source. This is inferred from the subnets: a client inside them connecting
directly is taken for the proxy (monitor/store/fronting.py).
Needs: sessions, auth events (the database's or a proxy's log), CloudTrail AssumeRole events.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.judge.linking import link
from monitor.models import EvidenceItem, Finding, LinkedPrincipal, Severity
from monitor.store import evidence
from monitor.store.evidence import FirstSeen, History
from monitor.store.fronting import via_text

SEVERITY: dict[str, Severity] = {
    "source account": "high",
    "source IP": "medium",
    "client host": "medium",
    "application_name": "low",
}


class NewSourceOptions(DetectorOptions):
    LOOKBACK = ("learning_days", "alert_days")
    learning_days: float = Field(default=14, ge=0)
    alert_days: float = Field(default=7, gt=0)


@register("new-source", NewSourceOptions, evidence.first_seen)
def detect(data: History, now: datetime, opts: NewSourceOptions) -> list[Finding]:
    learning, alerting = timedelta(days=opts.learning_days), timedelta(days=opts.alert_days)
    started = dict(data.started)
    for item in data.values:
        key = (item.kind, item.subject)
        started[key] = min(item.first, started.get(key, item.first))
    findings = []
    for item in sorted(data.values, key=lambda i: (i.subject, i.attribute, i.value)):
        learned_by = started[(item.kind, item.subject)] + learning
        if item.first <= learned_by or item.first < now - alerting:
            continue
        target, user, who, name, principals = _subject(item, data)
        findings.append(
            Finding(
                detector="new-source",
                subject=f"{item.subject}/{item.attribute}={item.value}",
                severity=SEVERITY.get(item.attribute, "medium"),
                title=f"{name}: first use from {item.attribute} {item.value}{via_text(item.via)}",
                why=(
                    f"{who} was first used from {item.attribute} {item.value}"
                    f"{via_text(item.via)} on "
                    f"{item.first:%Y-%m-%d %H:%M} UTC, after {opts.learning_days:g} days of "
                    "history that never showed it."
                ),
                remedy=(
                    f"Confirm with the owner of {name} that {item.value} is expected. If it is "
                    "not, revoke the credentials it used and review what it did."
                ),
                target=target,
                db_user=user,
                evidence=(
                    EvidenceItem(
                        item.first,
                        f"first seen{via_text(item.via)} ({item.seen}× since)",
                        item.value,
                    ),
                ),
                principals=principals,
            )
        )
    return findings


def _subject(
    item: FirstSeen, data: History
) -> tuple[str | None, str | None, str, str, tuple[LinkedPrincipal, ...]]:
    """(target, db user, who, short name, linked principals) of a first-seen value."""
    if item.kind == "db":
        target, user = item.subject.split("/", 1)
        host = item.value if item.attribute == "client host" else None
        return (
            target,
            user,
            f"{user} on {target}",
            user,
            link(data.links, target, user, item.first, host),
        )
    if item.kind == "proxy":  # the proxy's log names no user
        return item.subject, None, item.subject, item.subject, ()
    return None, None, item.subject, item.subject.rsplit("/", 1)[-1], ()
