"""The findings, suppressions and queued alerts tables: how the findings lifecycle is stored.

The lifecycle itself (what opens, repeats and resolves) is decided in monitor/judge/findings.py;
this module only reads and writes its rows. The writes run inside `Store.transaction()`, so
a finding and the alert it calls for commit together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from monitor import sql
from monitor.models import Finding
from monitor.store.sqlite import Conn, Store, to_text

# Evidence kept with a finding in the store; the message shows fewer.
EVIDENCE_CAP = 20

# The columns of `list_findings` and of `get_finding`'s lifecycle, in the queries' order.
FINDING_COLUMNS = (
    "fingerprint", "detector", "severity", "status", "title", "subject",
    "first_seen", "last_seen", "count",
)  # fmt: skip


@dataclass(frozen=True)
class StoredState:
    """Where a finding stands in the store, before this pass."""

    fingerprint: str
    status: str
    severity: str
    last_alerted_at: str | None


def active_suppressions(store: Store, now: datetime) -> list[tuple[str, str, datetime, str]]:
    """(detector, subject glob, until, reason) of the suppressions not yet expired."""
    rows = store.conn.execute(sql.load("store/suppressions_active"), (to_text(now),)).fetchall()
    return [(d, g, datetime.fromisoformat(u), r) for d, g, u, r in rows]


def detector_states(tx: Conn, detector: str) -> dict[str, StoredState]:
    """Every finding `detector` has recorded, by fingerprint."""
    rows = tx.execute(sql.load("store/findings_of_detector"), (detector,))
    return {row[0]: StoredState(*row) for row in rows}


def insert_finding(tx: Conn, finding: Finding, status: str, now: datetime, alerted: bool) -> None:
    stamp = to_text(now)
    evidence, details = _json(finding)
    tx.execute(
        sql.load("store/finding_insert"),
        (
            finding.fingerprint, finding.detector, finding.subject, finding.severity,
            finding.title, status, stamp, stamp, evidence, details, stamp if alerted else None,
        ),
    )  # fmt: skip


def update_finding(tx: Conn, finding: Finding, status: str, now: datetime, alerted: bool) -> None:
    stamp = to_text(now)
    evidence, details = _json(finding)
    tx.execute(
        sql.load("store/finding_update"),
        (
            finding.severity, finding.title, status, stamp, evidence, details,
            stamp if alerted else None, finding.fingerprint,
        ),
    )  # fmt: skip


def _json(finding: Finding) -> tuple[str, str]:
    data = finding.to_json()
    return json.dumps(data["evidence"][:EVIDENCE_CAP]), json.dumps(data, default=str)


def resolve_finding(tx: Conn, fingerprint: str, now: datetime) -> None:
    tx.execute(sql.load("store/finding_resolve"), (to_text(now), fingerprint))


def stored_finding(tx: Conn, fingerprint: str) -> Finding:
    """The finding as last recorded."""
    row = tx.execute(sql.load("store/finding_details"), (fingerprint,)).fetchall()[0]
    return Finding.from_json(json.loads(row[0]))


def enqueue_alert(tx: Conn, finding: Finding, kind: str, now: datetime) -> None:
    """Queue the alert in the outbox, with how often and since when the finding held."""
    count, first_seen = tx.execute(
        sql.load("store/finding_count"), (finding.fingerprint,)
    ).fetchall()[0]
    payload = {"finding": finding.to_json(), "count": count, "first_seen": first_seen}
    tx.execute(
        sql.load("store/outbox_insert"),
        (finding.fingerprint, kind, json.dumps(payload, default=str), to_text(now), to_text(now)),
    )


def finding_subject(store: Store, fingerprint: str) -> tuple[str, str] | None:
    """(detector, subject) of a recorded finding, or None."""
    rows = store.conn.execute(sql.load("store/finding_subject"), (fingerprint,)).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def add_suppression(
    tx: Conn, detector: str, glob: str, until: datetime, reason: str, now: datetime
) -> int:
    """Mute `detector`'s findings whose subject matches `glob` until `until`, from now on and
    those already recorded; returns how many recorded findings it muted."""
    tx.execute(
        sql.load("store/suppression_insert"),
        (detector, glob, to_text(until), reason, to_text(now)),
    )
    return tx.execute(sql.load("store/findings_suppress_matching"), (detector, glob)).rowcount


def list_findings(
    store: Store, status: str | None = None, detector: str | None = None
) -> list[dict[str, object]]:
    """Findings, worst and newest first, as FINDING_COLUMNS."""
    cursor = store.conn.execute(
        sql.load("store/findings_list"), {"status": status, "detector": detector}
    )
    return [dict(zip(FINDING_COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def get_finding(store: Store, fingerprint: str) -> tuple[dict[str, object], Finding] | None:
    """One finding's lifecycle columns and the finding itself, or None."""
    rows = store.conn.execute(sql.load("store/finding_get"), (fingerprint,)).fetchall()
    if not rows:
        return None
    *columns, details = rows[0]
    return dict(zip(FINDING_COLUMNS, columns, strict=True)), Finding.from_json(json.loads(details))


def acknowledge(tx: Conn, fingerprint: str) -> bool:
    """Acknowledge an open finding; False when there is no open finding of that fingerprint."""
    return bool(tx.execute(sql.load("store/finding_acknowledge"), (fingerprint,)).rowcount)


def open_by_severity(store: Store) -> dict[str, int]:
    """How many findings are open, by severity."""
    rows = store.conn.execute(sql.load("store/findings_open_by_severity")).fetchall()
    return {severity: count for severity, count in rows}
