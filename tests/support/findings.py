"""Findings for tests, built the way detectors build them."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.models import EvidenceItem, Finding, LinkedPrincipal, Severity

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def make_finding(
    subject: str = "orders-writer/app_user",
    detector: str = "failure-burst",
    severity: Severity = "medium",
    user: str = "app_user",
    host: str = "10.0.0.5",
) -> Finding:
    return Finding(
        detector=detector,
        subject=subject,
        severity=severity,
        title=f"5 failed logins as {user}",
        why="At least 5 authentication failures within 10 minutes.",
        remedy=f'REVOKE rds_iam FROM "{user}";',
        account="222222222222",
        target="orders-writer",
        db_user=user,
        evidence=(EvidenceItem(NOW, f"auth_failed as {user}", host, 5),),
        principals=(
            LinkedPrincipal("arn:aws:iam::222222222222:role/app", "medium", "may connect as user"),
        ),
    )
