from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.judge.findings import Suppression, UnknownFinding, record, suppress
from monitor.store.sqlite import Store
from tests.support.findings import NOW, make_finding

REALERT = timedelta(hours=6)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "p.db")


def statuses(store: Store) -> dict[str, tuple[str, int]]:
    rows = store.conn.execute("SELECT subject, status, count FROM findings").fetchall()
    return {s: (st, c) for s, st, c in rows}


def outbox(store: Store) -> list[tuple[str, str]]:
    rows = store.conn.execute("SELECT fingerprint, kind FROM outbox ORDER BY id").fetchall()
    return [(fp, kind) for fp, kind in rows]


def test_findings_fingerprint_is_stable() -> None:
    a, b = make_finding(), make_finding(severity="high", user="other")
    assert a.fingerprint == make_finding().fingerprint
    assert a.fingerprint == b.fingerprint  # same detector and subject
    assert a.fingerprint != make_finding(subject="x").fingerprint
    assert a.fingerprint.startswith("failure-burst:")


def test_findings_lifecycle_open_repeat_resolve(store: Store) -> None:
    f = make_finding()
    first = record(store, "failure-burst", [f], NOW, realert=REALERT)
    assert (first.opened, first.repeated, first.resolved) == (1, 0, 0)
    # Still holds within the re-alert interval: updated, no new alert.
    record(store, "failure-burst", [f], NOW + timedelta(hours=1), realert=REALERT)
    assert statuses(store) == {f.subject: ("open", 2)}
    assert outbox(store) == [(f.fingerprint, "new")]
    # Past the re-alert interval: a repeat.
    record(store, "failure-burst", [f], NOW + timedelta(hours=7), realert=REALERT)
    assert outbox(store)[-1] == (f.fingerprint, "repeat")
    # Gone from the pass: resolved, and a resolve message queued.
    gone = record(store, "failure-burst", [], NOW + timedelta(hours=8), realert=REALERT)
    assert gone.resolved == 1
    assert statuses(store)[f.subject][0] == "resolved"
    assert outbox(store)[-1] == (f.fingerprint, "resolved")
    # Comes back: reopened with a new alert.
    record(store, "failure-burst", [f], NOW + timedelta(hours=9), realert=REALERT)
    assert statuses(store)[f.subject] == ("open", 4)
    assert outbox(store)[-1] == (f.fingerprint, "new")


def test_findings_escalation_alerts_at_once(store: Store) -> None:
    record(store, "failure-burst", [make_finding()], NOW, realert=REALERT)
    worse = make_finding(severity="high")
    summary = record(store, "failure-burst", [worse], NOW + timedelta(minutes=1), realert=REALERT)
    assert summary.queued == [(worse.fingerprint, "repeat")]


def test_findings_other_detectors_untouched(store: Store) -> None:
    record(store, "failure-burst", [make_finding()], NOW, realert=REALERT)
    record(store, "new-source", [], NOW, realert=REALERT)
    assert statuses(store)["orders-writer/app_user"][0] == "open"
    with pytest.raises(ValueError, match="recorded as"):
        record(store, "new-source", [make_finding()], NOW, realert=REALERT)


def test_findings_config_suppression_mutes_and_lapses(store: Store) -> None:
    f = make_finding()
    rule = Suppression("failure-burst", "orders-writer/*", NOW + timedelta(days=1), "pentest")
    summary = record(store, "failure-burst", [f], NOW, realert=REALERT, suppressions=[rule])
    assert summary.suppressed == 1
    assert statuses(store)[f.subject][0] == "suppressed"
    assert outbox(store) == []
    # The suppression expired: the finding opens and alerts.
    later = NOW + timedelta(days=2)
    record(store, "failure-burst", [f], later, realert=REALERT, suppressions=[rule])
    assert statuses(store)[f.subject][0] == "open"
    assert outbox(store) == [(f.fingerprint, "new")]


def test_findings_cli_style_suppress(store: Store) -> None:
    f = make_finding(subject="t/odd*user?")
    other = make_finding(subject="t/odd-user-x")
    record(store, "failure-burst", [f, other], NOW, realert=REALERT)
    suppress(store, f.fingerprint, NOW + timedelta(days=30), "known", NOW)
    assert statuses(store)[f.subject][0] == "suppressed"
    summary = record(store, "failure-burst", [f, other], NOW + timedelta(days=1), realert=REALERT)
    # The glob metacharacters in the subject were escaped: only that subject is muted.
    assert statuses(store)[other.subject][0] == "open"
    assert statuses(store)[f.subject][0] == "suppressed"
    assert summary.suppressed == 1
    with pytest.raises(UnknownFinding):
        suppress(store, "nope:123", NOW + timedelta(days=1), "x", NOW)


def test_findings_outbox_written_in_same_transaction(store: Store) -> None:
    f = make_finding()
    store.conn.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'x'); END"
    )
    with pytest.raises(Exception, match="x"):
        record(store, "failure-burst", [f], NOW, realert=REALERT)
    # The finding was not opened without its alert.
    assert statuses(store) == {}
    store.conn.execute("DROP TRIGGER boom")
    record(store, "failure-burst", [f], NOW, realert=REALERT)
    payload = json.loads(store.conn.execute("SELECT payload FROM outbox").fetchall()[0][0])
    assert payload["finding"]["fingerprint"] == f.fingerprint
