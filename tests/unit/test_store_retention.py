"""Store retention: old history goes, in batches; what is open, unsent or recent stays.

The store is filled through pgwarden's own write paths (the pglogs and CloudTrail saves,
the session recorder, the roles and grants inventories, the findings lifecycle and the
outbox), with times relative to now, then pruned with a cutoff 30 days back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.clock import FrozenClock
from monitor.config import Config, validate
from monitor.errors import ConfigError
from monitor.judge import findings as lifecycle
from monitor.judge.detectors import unused_role
from monitor.models import EvidenceItem, Finding, SuspiciousEntry
from monitor.parsing.cloudtrail import AccessChangeEvent
from monitor.parsing.pglog_stats import ParseStats
from monitor.sources.activity import PollResult, SessionRow
from monitor.stages import run_stage
from monitor.stages.base import StageContext
from monitor.stages.retention import RetentionResult
from monitor.store import outbox
from monitor.store.events import save_auth_events, store_access_changes
from monitor.store.retention import PAUSE_S, TABLES, prune, prune_table
from monitor.store.sessions import SessionRecorder
from monitor.store.sqlite import Store
from monitor.store.usage import role_use
from tests.support.store import ACCOUNT, StoreBuilder, days

NOW = datetime.now(UTC)
KEEP_DAYS = 30
CUTOFF = NOW - days(KEEP_DAYS)
T0, T1, T2 = NOW - days(50), NOW - days(40), NOW - days(20)  # older, old, recent
TARGET = "orders-writer"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/db-admin"
IDLE = f"arn:aws:iam::{ACCOUNT}:role/db-idle"  # watched, never assumed
ROLES = unused_role.UnusedRoleOptions(days=KEEP_DAYS, watched_roles=(ROLE, IDLE))
REALERT = timedelta(hours=24)
HOUR = timedelta(hours=1)

# What the filled store loses with the cutoff 30 days back, per table.
PRUNED = {
    "auth_events": 1,
    "auth_log_suspicious": 1,
    "auth_log_unparsed": 1,
    "assume_role_events": 1,  # of 3: the oldest is where the trail's history starts
    "access_change_events": 1,
    "sessions": 1,  # ended before the cutoff; the open one started before it stays
    "findings": 1,  # resolved before it; open, acknowledged and suppressed ones stay
    # Sent before it, of findings resolved (new, repeat, resolve); the unsent, and those of
    # the open finding (its thread hangs from its "new" alert), stay.
    "outbox": 4,
    "db_roles": 1,
    "grants": 1,
}
KEPT = {
    "auth_events": 1,
    "auth_log_suspicious": 1,
    "auth_log_unparsed": 1,
    "assume_role_events": 2,
    "access_change_events": 1,
    "sessions": 2,
    "findings": 4,
    "outbox": 5,
    "db_roles": 2,
    "grants": 2,
    "targets": 1,
    "cursors": 1,
}


def finding(name: str, when: datetime) -> Finding:
    return Finding(
        detector="failure-burst",
        subject=f"{TARGET}/{name}",
        severity="medium",
        title=f"5 failed logins as {name}",
        why="At least 5 authentication failures within 10 minutes.",
        remedy=f'REVOKE rds_iam FROM "{name}";',
        target=TARGET,
        db_user=name,
        evidence=(EvidenceItem(when, f"auth_failed as {name}", "10.0.0.5", 5),),
    )


def session(pid: int, start: datetime) -> SessionRow:
    return SessionRow(
        pid, "app", "postgres", "10.0.0.5", None, 40000 + pid, "psql", start,
        None, None, None, "idle", None, "client backend", None,
    )  # fmt: skip


def change(event_id: str, when: datetime) -> AccessChangeEvent:
    return AccessChangeEvent(
        event_id, when, "rds.amazonaws.com", "ModifyDBCluster", ACCOUNT, "us-east-1",
        "arn:aws:iam::222222222222:user/ops", "203.0.113.9", "aws-cli", TARGET, True,
        None, None, None,
    )  # fmt: skip


def fill(builder: StoreBuilder) -> dict[str, str]:
    """One row before and one after the cutoff in every table retention prunes, plus what
    it must keep however old; the fingerprints of the findings, by name."""
    store = builder.store
    builder.target(TARGET, T0)
    with store.transaction():
        store.set_cursor("pglogs", TARGET, {"token": "t0"}, T0)
    for when in (T1, T2):
        builder.auth(TARGET, "app", when)
        entry = SuspiciousEntry(when, "user name holds a log_line_prefix", "b:[1]:LOG: x")
        stats = ParseStats(lines=3, unparsed=2, samples=["???"])
        save_auth_events(store, TARGET, "test.log", [], stats, [], when, [entry])
        with store.transaction() as tx:
            store_access_changes(tx, [change(f"change-{when:%j}", when)], when)
    for when in (T0, T1, T2):
        builder.assume(ROLE, when)

    # Sessions: a ends before the cutoff, b stays open from before it, c ends after it.
    recorder = SessionRecorder()
    for when, pids in ((T0, (1, 2)), (T1, (2, 3)), (T2, (2,))):
        rows = tuple(session(pid, T0 if pid < 3 else T1) for pid in pids)
        with store.transaction() as tx:
            recorder.record(tx, PollResult(TARGET, "ok", when, 1.0, sessions=rows))

    # Roles and grants: one dropped (withdrawn) before the cutoff, one after, one current.
    users = ["alice", "bob", "carol"]
    grants = [builder.grant(f"arn:aws:iam::{ACCOUNT}:user/{u}", TARGET, u) for u in users]
    for when, n in ((T0, 3), (T1, 2), (T2, 1)):
        builder.roles(TARGET, when, {u: ("rds_iam",) for u in users[-n:]})
        builder.grants[ACCOUNT] = grants[-n:]
        builder.inventory(when)

    return _findings(store)


def _findings(store: Store) -> dict[str, str]:
    """gone: resolved before the cutoff; late: resolved after it; open; acked;
    muted: suppressed. Alerts are sent an hour later, but acked's new and those of T2
    (open's repeat, late's resolve)."""
    names = ("gone", "late", "open", "acked", "muted")
    fps = {name: finding(name, T0).fingerprint for name in names}
    mute = lifecycle.Suppression("failure-burst", f"{TARGET}/muted", NOW + days(1), "test")
    for when, live in ((T0, names), (T1, names[1:]), (T2, names[2:])):
        found = [finding(name, when) for name in live]
        lifecycle.record(store, "failure-burst", found, when, realert=REALERT, suppressions=[mute])
        sent = [r.id for r in outbox.pending(store) if r.fingerprint != fps["acked"]]
        if when == T2:
            sent = []  # late's resolve waits, unsent
        outbox.mark_sent(store, sent, f"{when.timestamp():.6f}", False, when + HOUR)
        if when == T0:
            lifecycle.acknowledge(store, fps["acked"])
    return fps


def counts(store: Store) -> dict[str, int]:
    tables = [table for table, _ in TABLES] + ["targets", "cursors"]
    return {t: store.conn.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}


def statuses(store: Store) -> dict[str, str]:
    return dict(store.conn.execute("SELECT fingerprint, status FROM findings").fetchall())


def assert_pruned(store: Store, fps: dict[str, str]) -> None:
    """What retention leaves: exactly the recent rows and what it must never delete."""
    assert counts(store) == KEPT
    assert statuses(store) == {
        fps["late"]: "resolved",
        fps["open"]: "open",
        fps["acked"]: "acknowledged",
        fps["muted"]: "suppressed",
    }
    open_sessions = store.conn.execute(
        "SELECT pid, backend_start FROM sessions WHERE ended_at IS NULL"
    ).fetchall()
    assert [pid for pid, _ in open_sessions] == [2]  # started before the cutoff
    pending = [(r.fingerprint, r.kind) for r in outbox.pending(store)]
    assert pending == [(fps["acked"], "new"), (fps["open"], "repeat"), (fps["late"], "resolved")]
    assert outbox.thread_ts(store, fps["open"]) == f"{T0.timestamp():.6f}"
    roles = store.conn.execute("SELECT rolname FROM db_roles ORDER BY 1").fetchall()
    assert roles == [("bob",), ("carol",)]
    assert store.load_evidence(role_use, NOW, ROLES).history_start == T0


@pytest.fixture
def builder(tmp_path: Path) -> Iterator[StoreBuilder]:
    b = StoreBuilder.open(tmp_path / "pgwarden.db")
    yield b
    b.close()


def test_store_retention_deletes_old_rows_and_keeps_recent_open_and_unsent(
    builder: StoreBuilder,
) -> None:
    fps = fill(builder)
    before = counts(builder.store)
    pruned = prune(builder.store, CUTOFF)
    assert {p.table: p.deleted for p in pruned} == PRUNED
    assert all(p.cutoff == CUTOFF and p.batches == 1 for p in pruned)
    assert {t: before[t] - n for t, n in counts(builder.store).items()} == {
        t: PRUNED.get(t, 0) for t in before
    }
    assert_pruned(builder.store, fps)
    assert {p.table: p.deleted for p in prune(builder.store, CUTOFF)} == dict.fromkeys(PRUNED, 0)


def test_store_retention_check_fails_when_pruning_is_skipped(builder: StoreBuilder) -> None:
    """The check above is no tautology: on the same store, not pruned, it fails."""
    fps = fill(builder)
    with pytest.raises(AssertionError):
        assert_pruned(builder.store, fps)
    prune(builder.store, CUTOFF - days(15))  # a cutoff before T1 prunes too little
    with pytest.raises(AssertionError):
        assert_pruned(builder.store, fps)


def test_store_retention_deletes_in_batches_past_the_batch_size(builder: StoreBuilder) -> None:
    from monitor.models import AuthEvent

    events = [
        AuthEvent(time=T1 + timedelta(seconds=i), kind="connection_received",
                  client_host="10.0.0.5", client_port=i, pid=i, source="test.log")
        for i in range(12_345)
    ] + [AuthEvent(time=T2, kind="connection_received", client_host="10.0.0.6", pid=1)]  # fmt: skip
    save_auth_events(builder.store, TARGET, "test.log", events, ParseStats(), [], T2)
    seen: list[tuple[str, int]] = []
    pruned = prune(builder.store, CUTOFF, batch=5000, on_batch=lambda t, n: seen.append((t, n)))
    assert [n for t, n in seen if t == "auth_events"] == [5000, 5000, 2345]
    assert (pruned[0].table, pruned[0].deleted, pruned[0].batches) == ("auth_events", 12_345, 3)
    assert pruned[0].longest_ms > 0
    left = builder.store.conn.execute("SELECT time FROM auth_events").fetchall()
    assert [datetime.fromisoformat(t) for (t,) in left] == [T2]
    with pytest.raises(ValueError, match="batch must be at least 1"):
        prune(builder.store, CUTOFF, batch=0)


def old_events(builder: StoreBuilder, n: int) -> None:
    from monitor.models import AuthEvent

    events = [
        AuthEvent(time=T1 + timedelta(seconds=i), kind="connection_received",
                  client_host="10.0.0.5", client_port=i, pid=i, source="test.log")
        for i in range(n)
    ]  # fmt: skip
    save_auth_events(builder.store, TARGET, "test.log", events, ParseStats(), [], T2)


def test_store_retention_lets_another_writer_in_between_batches(builder: StoreBuilder) -> None:
    """A job that wants to write while a prune runs (an activity poll) gets the write lock
    at the next pause between two batches, not after the whole prune."""
    old_events(builder, 10_001)
    other = Store.open(builder.store.path, exclusive=False)
    order: list[object] = []

    wants = threading.Event()

    def write() -> None:
        wants.wait()
        with other.transaction():
            other.set_cursor("activity", TARGET, 1, NOW)
            # Noted while holding the write lock: no batch can come in between.
            order.append("other job")

    job = threading.Thread(target=write)
    job.start()

    def batch_done(table: str, rows: int) -> None:
        order.append(rows)
        wants.set()  # from the end of the first batch on, the other job wants the lock

    query = dict(TABLES)["auth_events"]
    pruned = prune_table(builder.store, "auth_events", query, CUTOFF, 1000, PAUSE_S, batch_done)
    job.join()
    other.close()
    assert pruned.deleted == 10_001 and pruned.batches == 11
    # In at one of the ten pauses, not after the last batch (a prune without pauses).
    assert order.index("other job") < len(order) - 1, order


def test_store_retention_queries_use_an_index(builder: StoreBuilder) -> None:
    """Each batch finds its rows by the cutoff column's index, never by a table scan."""
    from monitor import sql

    for table, query in TABLES:
        plan = builder.store.conn.execute(
            "EXPLAIN QUERY PLAN " + sql.load(query), {"cutoff": "x", "batch": 1}
        ).fetchall()
        details = [row[-1] for row in plan]
        scans = [d for d in details if d.startswith("SCAN") and "INDEX" not in d]
        assert not scans, f"{table}: {details}"
        assert any(d.startswith("SEARCH") and "INDEX" in d and "<?)" in d for d in details), (
            f"{table}: the cutoff is no index range: {details}"
        )


def test_store_retention_a_pruned_finding_alerts_as_a_resolved_one_would(
    builder: StoreBuilder,
) -> None:
    """A finding back after its resolved row was pruned opens and alerts as new, exactly as
    it would with the row kept: retention changes no alert."""
    fps = fill(builder)
    prune(builder.store, CUTOFF)
    back = lifecycle.record(
        builder.store, "failure-burst", [finding("gone", NOW), finding("late", NOW),
                                         finding("open", NOW)], NOW, realert=REALERT,
    )  # fmt: skip
    assert dict(back.queued) == {
        fps["gone"]: "new",  # its row pruned
        fps["late"]: "new",  # its row resolved: the same alert
        fps["open"]: "repeat",
        fps["acked"]: "resolved",
    }
    assert back.resolved == 2  # acked and muted (suppressed: resolved without an alert)


def config(tmp_path: Path, **retention: object) -> Config:
    return validate(
        {
            "store": {"path": str(tmp_path / "pgwarden.db")},
            "retention": {"days": KEEP_DAYS, **retention},
            "detectors": {
                name: {"days": KEEP_DAYS}
                for name in ("unused-db-user", "unused-iam-grant", "unused-role")
            },
        }
    )


def test_retention_stage_reports_one_row_per_table(builder: StoreBuilder, tmp_path: Path) -> None:
    fps = fill(builder)
    ctx = StageContext(config(tmp_path), builder.store, FrozenClock(NOW))
    result = run_stage("retention", ctx)
    assert isinstance(result, RetentionResult) and result.error is None
    assert {t.table: t.deleted for t in result.tables} == PRUNED
    assert {t.cutoff for t in result.tables} == {CUTOFF}
    assert result.deleted == sum(PRUNED.values()) and result.failures == 0
    assert result.columns == ("table", "deleted", "cutoff", "longest transaction")
    assert result.rows[0][:3] == ("auth_events", "1", str(CUTOFF))
    assert result.rows[0][3].endswith(" ms")
    assert_pruned(builder.store, fps)


def test_retention_stage_disabled_deletes_nothing(builder: StoreBuilder, tmp_path: Path) -> None:
    fill(builder)
    before = counts(builder.store)
    ctx = StageContext(config(tmp_path, enabled=False), builder.store, FrozenClock(NOW))
    result = run_stage("retention", ctx)
    assert isinstance(result, RetentionResult) and result.tables == () and result.rows == []
    assert counts(builder.store) == before


def test_retention_config_defaults_and_limits() -> None:
    retention = validate({}).retention
    assert (retention.enabled, retention.days, retention.interval_s) == (True, 400, 86400)
    with pytest.raises(ConfigError) as info:
        validate({"retention": {"days": 29, "interval_s": 0}})
    assert "retention.days: Input should be greater than or equal to 30 (got 29)" in (
        info.value.problems
    )
    assert any(p.startswith("retention.interval_s: ") for p in info.value.problems)


def test_retention_config_rejects_days_shorter_than_a_detector_reads() -> None:
    with pytest.raises(ConfigError) as info:
        validate({"retention": {"days": 60}})
    assert info.value.problems == [
        "retention.days: 60 is shorter than detectors.unused-db-user.days (90 days); "
        "keep at least 90 days, or that detector judges on pruned evidence"
    ]
    with pytest.raises(ConfigError) as info:
        validate(
            {
                "retention": {"days": 120},
                "detectors": {"unused-role": {"days": 180}, "new-source": {"learning_days": 200}},
            }
        )
    assert info.value.problems == [
        "retention.days: 120 is shorter than detectors.new-source.learning_days + "
        "detectors.new-source.alert_days (207 days); keep at least 207 days, or that "
        "detector judges on pruned evidence"
    ]
    # Detectors switched off read nothing; retention off prunes nothing.
    short: dict[str, object] = {n: {"days": 30} for n in ("unused-iam-grant", "unused-role")}
    off = {"unused-db-user": {"enabled": False}, **short}
    assert validate({"retention": {"days": 30}, "detectors": off}).retention.days == 30
    assert validate({"retention": {"days": 60, "enabled": False}}).retention.days == 60


def test_store_retention_leaves_unused_role_judging_as_before(builder: StoreBuilder) -> None:
    """The days unused-role observed count from the oldest AssumeRole event: it is kept, so
    an idle role is still "not assumed in 30 days" (medium), not "in the 0 days observed"."""
    fill(builder)

    def judged() -> list[tuple[str, str, str]]:
        data = builder.store.load_evidence(role_use, NOW, ROLES)
        return [(f.subject, f.severity, f.title) for f in unused_role.detect(data, NOW, ROLES)]

    before = judged()
    assert before == [(IDLE, "medium", "db-idle not assumed in 30 days")]
    prune(builder.store, CUTOFF)
    assert judged() == before
