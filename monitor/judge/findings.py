"""The findings lifecycle: open, repeat, resolve and suppress, with alerts queued alongside.

A detector pass hands its findings to `record`. In one transaction it opens new findings,
updates the ones that still hold, resolves those that no longer do, and puts the alerts
they call for in the outbox. So an alert can never be lost between a finding and Slack.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from monitor.errors import PgwardenError
from monitor.models import SEVERITIES, Finding
from monitor.store.sqlite import Store, to_text

log = logging.getLogger(__name__)

AlertKind = Literal["new", "repeat", "resolved"]
# Evidence kept with a finding in the store; the message shows fewer.
EVIDENCE_CAP = 20


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
    rows = store.conn.execute(
        "SELECT detector, subject_glob, until, reason FROM suppressions WHERE until > ?",
        (to_text(now),),
    ).fetchall()
    return [Suppression(d, g, datetime.fromisoformat(u), r) for d, g, u, r in rows]


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
        existing = {
            row[0]: row
            for row in tx.execute(
                "SELECT fingerprint, status, severity, last_alerted_at FROM findings"
                " WHERE detector = ?",
                (detector,),
            )
        }
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
            _enqueue(tx, finding, kind, now)
            summary.queued.append((fp, kind))
            if kind == "new":
                summary.opened += 1
            else:
                summary.repeated += 1
        for fp, status, _severity, _alerted in existing.values():
            if fp in seen or status == "resolved":
                continue
            tx.execute(
                "UPDATE findings SET status = 'resolved', resolved_at = ? WHERE fingerprint = ?",
                (to_text(now), fp),
            )
            summary.resolved += 1
            if status != "suppressed":
                finding = Finding.from_json(_stored_finding(tx, fp))
                _enqueue(tx, finding, "resolved", now)
                summary.queued.append((fp, "resolved"))
    log.info(
        "findings recorded",
        extra={"detector": detector, **{k: v for k, v in vars(summary).items() if k != "queued"}},
    )
    return summary


def _upsert(
    tx: sqlite3.Connection,
    finding: Finding,
    row: tuple[str, str, str, str | None] | None,
    muted: bool,
    now: datetime,
    realert: timedelta,
) -> AlertKind | None:
    """Write the finding; return the alert it calls for, if any."""
    stamp = to_text(now)
    evidence = json.dumps(finding.to_json()["evidence"][:EVIDENCE_CAP])
    details = json.dumps(finding.to_json(), default=str)
    status = "suppressed" if muted else "open"
    if row is None:
        tx.execute(
            "INSERT INTO findings (fingerprint, detector, subject, severity, title, status,"
            " first_seen, last_seen, count, evidence, details, last_alerted_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
            (
                finding.fingerprint, finding.detector, finding.subject, finding.severity,
                finding.title, status, stamp, stamp, evidence, details,
                None if muted else stamp,
            ),
        )  # fmt: skip
        return None if muted else "new"
    _fp, old_status, old_severity, last_alerted = row
    if muted:
        kind: AlertKind | None = None
    elif old_status in ("resolved", "suppressed"):
        kind = "new"
    elif old_status == "acknowledged":
        kind = None
        status = "acknowledged"
    elif _rank(finding.severity) < _rank(old_severity):
        kind = "repeat"  # it got worse: say so now, whatever the re-alert interval
    elif last_alerted is None or datetime.fromisoformat(last_alerted) + realert <= now:
        kind = "repeat"
    else:
        kind = None
    tx.execute(
        "UPDATE findings SET severity = ?, title = ?, status = ?, last_seen = ?,"
        " count = count + 1, evidence = ?, details = ?, resolved_at = NULL,"
        " last_alerted_at = COALESCE(?, last_alerted_at) WHERE fingerprint = ?",
        (
            finding.severity, finding.title, status, stamp, evidence, details,
            stamp if kind else None, finding.fingerprint,
        ),
    )  # fmt: skip
    return kind


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _stored_finding(tx: sqlite3.Connection, fingerprint: str) -> dict[str, Any]:
    row = tx.execute("SELECT details FROM findings WHERE fingerprint = ?", (fingerprint,))
    data: dict[str, Any] = json.loads(row.fetchall()[0][0])
    return data


def _enqueue(tx: sqlite3.Connection, finding: Finding, kind: AlertKind, now: datetime) -> None:
    count = tx.execute(
        "SELECT count, first_seen FROM findings WHERE fingerprint = ?", (finding.fingerprint,)
    ).fetchall()[0]
    payload = {"finding": finding.to_json(), "count": count[0], "first_seen": count[1]}
    tx.execute(
        "INSERT INTO outbox (fingerprint, kind, payload, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (finding.fingerprint, kind, json.dumps(payload, default=str), to_text(now), to_text(now)),
    )


def suppress(store: Store, fingerprint: str, until: datetime, reason: str, now: datetime) -> None:
    """Mute one finding until `until`: it stays recorded, but raises no alert."""
    rows = store.conn.execute(
        "SELECT detector, subject FROM findings WHERE fingerprint = ?", (fingerprint,)
    ).fetchall()
    if not rows:
        raise UnknownFinding(fingerprint)
    if until <= now:
        raise PgwardenError(f"--until {until.date()}: the date must be in the future")
    detector, subject = rows[0]
    with store.transaction() as tx:
        add_suppression(tx, detector, subject_glob(subject), until, reason, now)


def subject_glob(subject: str) -> str:
    """A glob matching exactly `subject`: its own metacharacters escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in subject)


def add_suppression(
    tx: sqlite3.Connection, detector: str, glob: str, until: datetime, reason: str, now: datetime
) -> int:
    """Mute `detector`'s findings whose subject matches `glob` until `until`, from now on and
    those already recorded; returns how many recorded findings it muted."""
    tx.execute(
        "INSERT INTO suppressions (detector, subject_glob, until, reason, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (detector, glob, to_text(until), reason, to_text(now)),
    )
    # SQLite's GLOB and fnmatchcase agree on *, ? and [c], which is all subject_glob makes.
    return tx.execute(
        "UPDATE findings SET status = 'suppressed' WHERE detector = ? AND subject GLOB ?"
        " AND status != 'resolved'",
        (detector, glob),
    ).rowcount


FINDING_COLUMNS = (
    "fingerprint", "detector", "severity", "status", "title", "subject",
    "first_seen", "last_seen", "count",
)  # fmt: skip


def list_findings(
    store: Store, status: str | None = None, detector: str | None = None
) -> list[dict[str, Any]]:
    """Findings, worst and newest first."""
    cursor = store.conn.execute(
        f"SELECT {', '.join(FINDING_COLUMNS)} FROM findings"  # noqa: S608 - fixed column names
        " WHERE (:status IS NULL OR status = :status)"
        " AND (:detector IS NULL OR detector = :detector)"
        " ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2"
        " WHEN 'low' THEN 3 ELSE 4 END, last_seen DESC",
        {"status": status, "detector": detector},
    )
    return [dict(zip(FINDING_COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def get_finding(store: Store, fingerprint: str) -> tuple[dict[str, Any], Finding]:
    """One finding's lifecycle columns, and the finding itself with evidence and principals."""
    rows = store.conn.execute(
        f"SELECT {', '.join(FINDING_COLUMNS)}, details FROM findings"  # noqa: S608
        " WHERE fingerprint = ?",
        (fingerprint,),
    ).fetchall()
    if not rows:
        raise UnknownFinding(fingerprint)
    *columns, details = rows[0]
    return dict(zip(FINDING_COLUMNS, columns, strict=True)), Finding.from_json(json.loads(details))


def acknowledge(store: Store, fingerprint: str) -> None:
    """Someone is on it: keep the finding open, but stop repeat alerts."""
    with store.transaction() as tx:
        changed = tx.execute(
            "UPDATE findings SET status = 'acknowledged' WHERE fingerprint = ? AND status = 'open'",
            (fingerprint,),
        ).rowcount
    if not changed:
        get_finding(store, fingerprint)  # raises UnknownFinding when it does not exist
        raise PgwardenError(f"{fingerprint}: only an open finding can be acknowledged")
