"""`pgwarden report ...` as a user runs it; the revocation plan run by a DBA on real PostgreSQL."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.support import review
from tests.support.pg import PgServer
from tests.support.review import ODD

pytestmark = pytest.mark.integration
RunCli = Callable[..., Any]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    review.build(tmp_path / "p.db").close()
    path = tmp_path / "pgwarden.toml"
    path.write_text(
        '[store]\npath = "p.db"\n\n[reports]\ndir = "out"\ntimezone = "UTC"\n', encoding="utf-8"
    )
    return path


def test_report_cli_access_review(run_cli: RunCli, config: Path, tmp_path: Path) -> None:
    done = run_cli("report", "access-review", "--week", "2026-W47", "--config", str(config))
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [
        "access-review-2026-W47-principals.csv",
        "access-review-2026-W47-revoke-iam.json",
        "access-review-2026-W47-revoke.sql",
        "access-review-2026-W47-users.csv",
        "access-review-2026-W47.html",
    ]
    assert "access-review-2026-W47-users.csv" in done.stdout and "rows" in done.stdout
    other = run_cli(
        "report", "access-review", "--since", "2026-11-01", "--until", "2026-11-23",
        "--out", str(tmp_path / "range"), "--format", "csv", "--config", str(config),
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert (tmp_path / "range" / "access-review-2026-11-01_2026-11-23-users.csv").is_file()
    assert not list((tmp_path / "range").glob("*.html"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--week", "2026-47"), "--week 2026-47: not an ISO week; write YYYY-Www, e.g. 2026-W47"),
        (("--format", "pdf"), "--format pdf: unknown format pdf; known: csv, html"),
        (("--since", "2026-11-01"), "--since/--until: give both dates, or use --week"),
    ],
)
def test_report_cli_bad_options(
    run_cli: RunCli, config: Path, args: tuple[str, ...], message: str
) -> None:
    done = run_cli("report", "access-review", *args, "--config", str(config))
    assert done.returncode == 2
    assert done.stderr.strip() == message


def test_report_cli_apply_decisions(run_cli: RunCli, config: Path, tmp_path: Path) -> None:
    run_cli("report", "access-review", "--week", "2026-W47", "--config", str(config))
    users = tmp_path / "out" / "access-review-2026-W47-users.csv"
    with open(users, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row["db_user"] == "old":
            row.update(decision="revoke", reviewer="alice")
        if row["db_user"] == "app":
            row.update(decision="delete", reviewer="alice")
    with open(users, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    line = 2 + [r["db_user"] for r in rows].index("app")
    done = run_cli("report", "apply-decisions", str(users), "--config", str(config))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f'{users.name}: line {line}: decision: "delete" is not keep or revoke (or blank)'
    ]
    assert done.stdout.startswith("applied 1 decisions (keep 0, revoke 1; 0 findings muted)")
    missing = run_cli("report", "apply-decisions", "nope.csv", "--config", str(config))
    assert missing.returncode == 2
    assert missing.stderr.startswith("nope.csv: cannot read the decisions CSV")


def test_report_revoke_sql_runs_on_postgres(
    run_cli: RunCli, config: Path, tmp_path: Path, pg_server: PgServer
) -> None:
    """What a DBA does with the plan: only the recommended users lose rds_iam."""
    run_cli("report", "access-review", "--week", "2026-W47", "--config", str(config))
    plan = (tmp_path / "out" / "access-review-2026-W47-revoke.sql").read_text(encoding="utf-8")
    users = ("app", "old", ODD)
    with psycopg.connect(pg_server.dsn(), autocommit=True) as admin:
        admin.execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam')"
            " THEN CREATE ROLE rds_iam; END IF; END $$"
        )
        for user in users:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN IN ROLE rds_iam").format(sql.Identifier(user))
            )
        try:
            admin.execute(plan.encode())
            members = admin.execute(
                "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member"
                " JOIN pg_roles g ON g.oid = a.roleid WHERE g.rolname = 'rds_iam'"
                " AND m.rolname = ANY(%s)",
                (list(users),),
            ).fetchall()
            assert members == [("app",)]
        finally:
            for user in users:
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(user)))
