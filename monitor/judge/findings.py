"""The findings lifecycle: open, repeat, resolve and suppress, with alerts queued alongside.

A detector pass hands its findings to `record`. In one transaction it opens new findings,
updates the ones that still hold, resolves those that no longer do, and puts the alerts
they call for in the outbox. So an alert can never be lost between a finding and Slack.
The rows are read and written by monitor/store/findings.py.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from monitor.errors import PgwardenError
from monitor.models import SEVERITIES, Finding
from monitor.store import findings as stored
from monitor.store.findings import StoredState
from monitor.store.sqlite import Conn, Store

log = logging.getLogger(__name__)

AlertKind = Literal["new", "repeat", "resolved"]


class UnknownFinding(PgwardenError):
    def __init__(self, fingerprint: str) -> None:
        super().__init__(
            f"{fingerprint}: no such finding; pgwarden findings list shows the fingerprints"
        )


@dataclass(frozen=True)
class Suppression:
    detector: str
    subject_glob: str
    until: datetime
    reason: str

    def covers(self, detector: str, subject: str, now: datetime) -> bool:
        return (
            self.detector == detector
            and now < self.until
            and fnmatch.fnmatchcase(subject, self.subject_glob)
        )


@dataclass
class RecordSummary:
    opened: int = 0
    repeated: int = 0
    resolved: int = 0
    suppressed: int = 0
    queued: list[tuple[str, AlertKind]] = field(default_factory=list)


def active_suppressions(store: Store, now: datetime) -> list[Suppression]:
    return [Suppression(*row) for row in stored.active_suppressions(store, now)]


def record(
    store: Store,
    detector: str,
    findings: list[Finding],
    now: datetime,
    *,
    realert: timedelta,
    suppressions: Sequence[Suppression] = (),
) -> RecordSummary:
    """Apply one complete pass of `detector`: what it did not return no longer holds."""
    summary = RecordSummary()
    all_suppressions = [*suppressions, *active_suppressions(store, now)]
    with store.transaction() as tx:
        existing = stored.detector_states(tx, detector)
        seen: set[str] = set()
        for finding in findings:
            if finding.detector != detector:
                raise ValueError(f"{finding.detector} finding recorded as {detector}")
            fp = finding.fingerprint
            if fp in seen:
                continue
            seen.add(fp)
            muted = any(s.covers(detector, finding.subject, now) for s in all_suppressions)
            kind = _upsert(tx, finding, existing.get(fp), muted, now, realert)
            if muted:
                summary.suppressed += 1
            if kind is None:
                continue
            stored.enqueue_alert(tx, finding, kind, now)
            summary.queued.append((fp, kind))
            if kind == "new":
                summary.opened += 1
            else:
                summary.repeated += 1
        for fp, state in existing.items():
            if fp in seen or state.status == "resolved":
                continue
            stored.resolve_finding(tx, fp, now)
            summary.resolved += 1
            if state.status != "suppressed":
                stored.enqueue_alert(tx, stored.stored_finding(tx, fp), "resolved", now)
                summary.queued.append((fp, "resolved"))
    log.info(
        "findings recorded",
        extra={"detector": detector, **{k: v for k, v in vars(summary).items() if k != "queued"}},
    )
    return summary


def _upsert(
    tx: Conn,
    finding: Finding,
    row: StoredState | None,
    muted: bool,
    now: datetime,
    realert: timedelta,
) -> AlertKind | None:
    """Write the finding; return the alert it calls for, if any."""
    status = "suppressed" if muted else "open"
    if row is None:
        stored.insert_finding(tx, finding, status, now, alerted=not muted)
        return None if muted else "new"
    if muted:
        kind: AlertKind | None = None
    elif row.status in ("resolved", "suppressed"):
        kind = "new"
    elif row.status == "acknowledged":
        kind = None
        status = "acknowledged"
    elif _rank(finding.severity) < _rank(row.severity):
        kind = "repeat"  # it got worse: say so now, whatever the re-alert interval
    elif (last := row.last_alerted_at) is None or datetime.fromisoformat(last) + realert <= now:
        kind = "repeat"
    else:
        kind = None
    stored.update_finding(tx, finding, status, now, alerted=kind is not None)
    return kind


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def suppress(store: Store, fingerprint: str, until: datetime, reason: str, now: datetime) -> None:
    """Mute one finding until `until`: it stays recorded, but raises no alert."""
    found = stored.finding_subject(store, fingerprint)
    if found is None:
        raise UnknownFinding(fingerprint)
    if until <= now:
        raise PgwardenError(f"--until {until.date()}: the date must be in the future")
    detector, subject = found
    with store.transaction() as tx:
        stored.add_suppression(tx, detector, subject_glob(subject), until, reason, now)


def subject_glob(subject: str) -> str:
    """A glob matching exactly `subject`: its own metacharacters escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in subject)


def get_finding(store: Store, fingerprint: str) -> tuple[dict[str, object], Finding]:
    """One finding's lifecycle columns, and the finding itself with evidence and principals."""
    found = stored.get_finding(store, fingerprint)
    if found is None:
        raise UnknownFinding(fingerprint)
    return found


def acknowledge(store: Store, fingerprint: str) -> None:
    """Someone is on it: keep the finding open, but stop repeat alerts."""
    with store.transaction() as tx:
        changed = stored.acknowledge(tx, fingerprint)
    if not changed:
        get_finding(store, fingerprint)  # raises UnknownFinding when it does not exist
        raise PgwardenError(f"{fingerprint}: only an open finding can be acknowledged")
