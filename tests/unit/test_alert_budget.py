"""The delivery budget (monitor/outputs/alerts/budget.py): pure, over queued rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.models import Finding
from monitor.outputs.alerts.budget import Limits, budget, source_host
from tests.support.findings import NOW, make_finding

LIMITS = Limits(max_per_run=20, max_age=timedelta(days=1), max_per_detector=10, max_per_host=5)


@dataclass(frozen=True)
class Row:
    finding: Finding
    created_at: datetime = NOW


def test_budget_urgent_never_folded_even_when_old() -> None:
    old_high = Row(make_finding(subject="h", severity="critical"), NOW - timedelta(days=3))
    old_low = Row(make_finding(subject="l", severity="low"), NOW - timedelta(days=3))
    chosen = budget([old_low, old_high], NOW, LIMITS)
    assert chosen.urgent == [old_high]
    assert [f.rows for f in chosen.folds] == [[old_low]] and chosen.alone == []


def test_budget_host_spike_then_detector_spike_then_flood() -> None:
    one_host = [Row(make_finding(subject=f"a{i}", host="10.0.0.9")) for i in range(6)]
    noisy = [
        Row(make_finding(subject=f"n{i}", detector="new-source", host=f"10.1.0.{i}"))
        for i in range(11)
    ]
    quiet = [Row(make_finding(subject=f"q{i}", host=f"10.2.0.{i}")) for i in range(4)]
    chosen = budget([*one_host, *noisy, *quiet], NOW, LIMITS)
    assert [f.title for f in chosen.folds] == [
        "pgwarden: spike from one source host",
        "pgwarden: spike from one detector",
    ]
    assert chosen.folds[0].rows == one_host and chosen.folds[1].rows == noisy
    assert "10.0.0.9" in chosen.folds[0].reason and "new-source" in chosen.folds[1].reason
    assert chosen.alone == quiet  # the noisy detector did not use up their budget
    flood = [
        Row(make_finding(subject=f"f{i}", host=f"10.3.0.{i}", detector=f"d{i % 3}"))
        for i in range(25)
    ]
    chosen = budget(flood, NOW, Limits(20, timedelta(days=1), max_per_detector=9))
    assert [f.rows for f in chosen.folds] == [flood] and chosen.alone == []


def test_budget_source_host_needs_one_host() -> None:
    assert source_host(make_finding(host="10.0.0.5")) == "10.0.0.5"
    assert source_host(make_finding(host="")) is None
