"""Reviewers' decisions read back: checked row by row, keep mutes, revoke is followed up."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config import Config, validate
from monitor.errors import PgwardenError
from monitor.judge.detection import run_detectors
from monitor.outputs.formats import csv_value
from monitor.outputs.reports.access_review import write_report
from monitor.outputs.reports.decisions import apply
from monitor.outputs.reports.period import iso_week
from monitor.sources.activity import RoleRow
from monitor.store.sessions import record_roles
from monitor.store.sqlite import to_text
from tests.support import review
from tests.support.review import END, ODD, OLD_ROLE
from tests.support.store import StoreBuilder, days
from tests.unit.test_access_review import context

DECIDED = END + days(1)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[StoreBuilder]:
    builder = review.build(tmp_path / "p.db")
    yield builder
    builder.close()


def reviewed(
    world: StoreBuilder, tmp_path: Path, name: str, edits: dict[str, tuple[str, str, str]]
) -> Path:
    """The report's CSV as a spreadsheet saves it, with (decision, reviewer, notes) filled in
    for the rows whose db user (or principal) is a key of `edits`."""
    path = tmp_path / "reports" / name
    if not path.exists():
        write_report(context(world, tmp_path), iso_week("2026-W47", "UTC"))
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    key = header.index("db_user" if "db_user" in header else "principal_arn")
    for row in rows[1:]:
        if csv_value(row[key]) in edits:
            decision, reviewer, notes = edits[csv_value(row[key])]
            row[header.index("decision")] = decision
            row[header.index("reviewer")] = reviewer
            if "notes" in header:
                row[header.index("notes")] = notes
    out = tmp_path / f"reviewed-{name}"
    with open(out, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return out


def config(tmp_path: Path) -> Config:
    return validate({"reports": {"dir": str(tmp_path / "reports")}})


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_decisions_bad_rows_reported_by_line_others_applied(
    world: StoreBuilder, tmp_path: Path
) -> None:
    path = reviewed(
        world,
        tmp_path,
        "access-review-2026-W47-users.csv",
        {
            "admin": ("keep", "alice", "break-glass account,\nreviewed with the DBA team"),
            "app": ("maybe", "alice", ""),
            "legacy": ("revoke", "", ""),
            "old": ("Revoke", "alice", ""),
            "=cmd": ("keep", "alice", ""),
        },
    )
    outcome = apply(world.store, path, 90, DECIDED)
    # The notes cell spans two lines: later rows keep their physical line numbers.
    assert outcome.problems == [
        f'line {line_of(path, ",app,")}: decision: "maybe" is not keep or revoke (or blank)',
        f"line {line_of(path, ',legacy,')}: reviewer: required with a decision",
    ]
    assert sorted((d.db_user, d.decision) for d in outcome.decisions) == [
        ("=cmd", "keep"),
        ("admin", "keep"),
        ("old", "revoke"),
    ]
    stored = world.store.conn.execute(
        "SELECT target, db_user, decision, reviewer, notes, source FROM review_decisions"
        " ORDER BY db_user"
    ).fetchall()
    assert stored[1] == (
        "orders",
        "admin",
        "keep",
        "alice",
        "break-glass account,\nreviewed with the DBA team",
        f"{path.name}:{line_of(path, ',admin,')}",
    )
    assert outcome.blank == 3  # the rows nobody decided on
    nothing = world.store.conn.execute(
        "SELECT count(*) FROM review_decisions WHERE db_user IN ('app', 'legacy')"
    ).fetchall()
    assert nothing == [(0,)]


def test_decisions_unknown_subject_and_foreign_file(world: StoreBuilder, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        "target,db_user,reviewer,decision\r\norders,old,alice,revoke\r\n"
        "nowhere,app,alice,keep\r\norders,app,alice\r\n",
        encoding="utf-8",
    )
    outcome = apply(world.store, path, 90, DECIDED)
    assert outcome.problems == [
        "line 4: 3 fields, expected 4",
        'line 3: target: "nowhere" is not a known target',
    ]
    assert [d.db_user for d in outcome.decisions] == ["old"]
    other = tmp_path / "other.csv"
    other.write_text("name,value\r\na,b\r\n", encoding="utf-8")
    with pytest.raises(PgwardenError, match=re.escape("other.csv: not an access-review CSV")):
        apply(world.store, other, 90, DECIDED)


def test_decisions_keep_mutes_unused_findings_for_keep_days(
    world: StoreBuilder, tmp_path: Path
) -> None:
    cfg = config(tmp_path)
    run_detectors(world.store, cfg, DECIDED)
    found = "SELECT status FROM findings WHERE detector = ? AND subject = ?"
    assert world.store.conn.execute(found, ("unused-db-user", "orders/old")).fetchall() == [
        ("open",)
    ]
    users = reviewed(
        world, tmp_path, "access-review-2026-W47-users.csv", {"old": ("keep", "alice", "")}
    )
    principals = reviewed(
        world, tmp_path, "access-review-2026-W47-principals.csv", {OLD_ROLE: ("keep", "carol", "")}
    )
    assert apply(world.store, users, 30, DECIDED).muted == 1
    assert apply(world.store, principals, 30, DECIDED).muted == 2  # grant and role unused
    assert world.store.conn.execute(found, ("unused-db-user", "orders/old")).fetchall() == [
        ("suppressed",)
    ]
    for detector, subject in (
        ("unused-iam-grant", f"{OLD_ROLE}/orders/old"),
        ("unused-role", OLD_ROLE),
    ):
        assert world.store.conn.execute(found, (detector, subject)).fetchall() == [("suppressed",)]
    reasons = world.store.conn.execute(
        "SELECT detector, subject_glob, until, reason FROM suppressions ORDER BY detector"
    ).fetchall()
    until = to_text(DECIDED + days(30))
    line = line_of(users, ",old,")
    assert reasons[0] == (
        "unused-db-user",
        "orders/old",
        until,
        f"access review: kept by alice ({users.name}:{line})",
    )
    assert [r[:2] for r in reasons[1:]] == [
        ("unused-iam-grant", f"{OLD_ROLE}/*"),
        ("unused-role", OLD_ROLE),
    ]
    # The next week's report keeps them too, saying who decided.
    ctx = context(world, tmp_path)
    write_report(ctx, iso_week("2026-W48", "UTC"))
    kept = "kept by {} until 2026-12-24 (access review)"
    for name, key, value, who in (
        ("users", "db_user", "old", "alice"),
        ("principals", "principal_arn", OLD_ROLE, "carol"),
    ):
        with open(ctx.config.reports.dir / f"access-review-2026-W48-{name}.csv", newline="") as f:
            row = next(r for r in csv.DictReader(f) if r[key] == value)
        assert (row["recommendation"], row["reason"]) == ("keep", kept.format(who))
    # Still muted in the next pass, open again once keep_days are over.
    run_detectors(world.store, cfg, DECIDED + days(29))
    assert world.store.conn.execute(found, ("unused-db-user", "orders/old")).fetchall() == [
        ("suppressed",)
    ]
    run_detectors(world.store, cfg, DECIDED + days(31))
    assert world.store.conn.execute(found, ("unused-db-user", "orders/old")).fetchall() == [
        ("open",)
    ]


def roles_poll(world: StoreBuilder, when_days: float, keep_odd_rds_iam: bool) -> None:
    roles = [
        RoleRow(name, False, True, None, member)
        for name, member in {
            "app": ("rds_iam",),
            "old": ("rds_iam",),
            ODD: ("rds_iam",) if keep_odd_rds_iam else (),
        }.items()
    ]
    with world.store.transaction() as tx:
        record_roles(tx, "orders", roles, to_text(DECIDED + days(when_days)))


def test_decisions_revoke_still_present_next_week_is_flagged(
    world: StoreBuilder, tmp_path: Path
) -> None:
    cfg = config(tmp_path)
    path = reviewed(
        world, tmp_path, "access-review-2026-W47-users.csv", {ODD: ("revoke", "bob", "")}
    )
    assert len(apply(world.store, path, 90, DECIDED).decisions) == 1
    flagged = (
        "SELECT status, severity, title FROM findings WHERE detector = 'revoked-access-present'"
    )
    roles_poll(world, 1, keep_odd_rds_iam=True)
    run_detectors(world.store, cfg, DECIDED + days(1))
    assert world.store.conn.execute(flagged).fetchall() == []  # within the week's grace
    roles_poll(world, 8, keep_odd_rds_iam=True)
    run_detectors(world.store, cfg, DECIDED + days(8))
    assert world.store.conn.execute(flagged).fetchall() == [
        ("open", "high", f"{ODD} on orders still holds rds_iam, 8 days after review")
    ]
    alerts = world.store.conn.execute(
        "SELECT kind FROM outbox WHERE fingerprint LIKE 'revoked-access-present:%'"
    ).fetchall()
    assert alerts == [("new",)]
    # The next report lists it as an open finding on that user.
    ctx = context(world, tmp_path)
    write_report(ctx, iso_week("2026-W49", "UTC"))
    with open(ctx.config.reports.dir / "access-review-2026-W49-users.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["db_user"] == ODD)
    # Open on it: this finding, and unused-db-user's.
    assert row["open_findings"] == "2" and "2 open findings" in row["reason"]
    # Revoked at last: the finding resolves.
    roles_poll(world, 9, keep_odd_rds_iam=False)
    run_detectors(world.store, cfg, DECIDED + days(9))
    assert world.store.conn.execute(flagged).fetchall()[0][0] == "resolved"
