"""Frozen data shared between stages: findings, their evidence and linked principals."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")
Status = Literal["open", "acknowledged", "suppressed", "resolved"]


@dataclass(frozen=True)
class EvidenceItem:
    """One line of evidence: what happened, when, from where, how often."""

    time: datetime
    what: str
    host: str | None = None
    count: int = 1


@dataclass(frozen=True)
class LinkedPrincipal:
    """An IAM principal that plausibly produced a login. `confidence` is never certainty."""

    arn: str
    confidence: Literal["high", "medium", "low"]
    why: str


@dataclass(frozen=True)
class Finding:
    """What a detector returns. The fingerprint is stable: detector plus subject key."""

    detector: str
    subject: str
    severity: Severity
    title: str
    why: str
    remedy: str
    account: str | None = None
    target: str | None = None
    db_user: str | None = None
    evidence: tuple[EvidenceItem, ...] = ()
    principals: tuple[LinkedPrincipal, ...] = ()
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.detector}\0{self.subject}".encode()).hexdigest()
        return f"{self.detector}:{digest[:16]}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fingerprint"] = self.fingerprint
        data["evidence"] = [{**e, "time": e["time"].isoformat()} for e in data["evidence"]]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(
            detector=data["detector"],
            subject=data["subject"],
            severity=data["severity"],
            title=data["title"],
            why=data["why"],
            remedy=data["remedy"],
            account=data.get("account"),
            target=data.get("target"),
            db_user=data.get("db_user"),
            evidence=tuple(
                EvidenceItem(datetime.fromisoformat(e["time"]), e["what"], e["host"], e["count"])
                for e in data.get("evidence", [])
            ),
            principals=tuple(LinkedPrincipal(**p) for p in data.get("principals", [])),
            details=data.get("details", {}),
        )
