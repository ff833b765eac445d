"""The whole pipeline through real parts, and exactly the findings the scenario calls for.

PostgreSQL checks IAM tokens through PAM; moto holds the account, its monitor role and the
database's log group; CloudTrail files sit in the S3 layout on disk. `pgwarden once` runs
every stage, and the findings must be these and no others.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from monitor.config import validate
from monitor.sandbox.aws import Account
from monitor.sandbox.pam import IamPg
from monitor.sandbox.trail import assume_role_record, file_name, write_files
from monitor.stages import run_once
from tests.conftest import MotoServer
from tests.support.activity import target_table

ACCOUNT = "444444444444"  # moto keeps accounts apart: no other test's IAM state leaks in
MGMT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/pg-monitor-role"
RUNNER = f"arn:aws:sts::{MGMT}:assumed-role/pgwarden-runner/i-0abc"
APP, UNUSED = "scenario_app", "scenario_unused"


def login(iam_pg: IamPg, password: str) -> psycopg.Connection:
    return psycopg.connect(
        host=iam_pg.host, hostaddr="127.0.0.1", port=iam_pg.port, dbname="postgres", user=APP,
        password=password, sslmode="verify-full", sslrootcert=str(iam_pg.pki.ca_cert),
        connect_timeout=5, application_name="orders-api",
    )  # fmt: skip


def test_scenario_whole_pipeline_finds_exactly_this(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path
) -> None:
    iam_pg.create_iam_user(APP)
    iam_pg.create_iam_user(UNUSED)
    account = Account(moto_server.sandbox, ACCOUNT)
    rds = account.client("rds")

    def token() -> str:
        return str(
            rds.generate_db_auth_token(
                DBHostname=iam_pg.host, Port=iam_pg.port, DBUsername=APP, Region="us-east-1"
            )
        )

    # Six wrong tokens, then a right one from the same host: a guess that may have worked.
    start = len(iam_pg.server.log_text())
    for _ in range(6):
        with pytest.raises(psycopg.OperationalError, match="PAM authentication failed"):
            login(iam_pg, "not-a-token").close()
    session = login(iam_pg, token())
    lines = iam_pg.server.log_lines(start, "connection authorized: user=scenario_app")
    assert sum("PAM authentication failed" in x for x in lines) == 6

    # RDS publishes the server log to CloudWatch Logs in the database's account.
    account.ship_logs("demo", "demo-1", lines)

    # CloudTrail: the expected assumption, one from an unknown account, a denied burst.
    now = datetime.now(UTC).replace(microsecond=0)
    records = [assume_role_record("ok-1", now - timedelta(minutes=30), ROLE, RUNNER, MGMT)]
    records.append(
        assume_role_record(
            "odd-1", now - timedelta(minutes=20), ROLE, "arn:aws:iam::999999999999:user/x",
            "999999999999",
        )
    )  # fmt: skip
    records += [
        assume_role_record(
            f"denied-{i}", now - timedelta(minutes=10, seconds=-i), ROLE, RUNNER, MGMT,
            error="AccessDenied",
        )
        for i in range(5)
    ]  # fmt: skip
    write_files(tmp_path / "trail", {file_name(ACCOUNT, now): records})

    config = validate(
        {
            "store": {"path": str(tmp_path / "pgwarden.db")},
            "aws": {"endpoint_url": moto_server.url, "management_accounts": [MGMT]},
            "accounts": [{"id": ACCOUNT, "name": "prod", "role_arn": ROLE}],
            "targets": [target_table(iam_pg)],
            "pglogs": {"sources": ["cloudwatch"]},
            "cloudtrail": {"engine": "local", "local_dir": str(tmp_path / "trail")},
            "detectors": {"privileged-session": {"allowed_hosts": ["127.0.0.1/32"]}},
        }
    )
    try:
        reports = run_once(config)
    finally:
        session.close()
    assert [r.stage for r in reports] == [
        "activity", "pglogs", "grants", "cloudtrail", "detect", "alerts", "retention",
    ]  # fmt: skip
    assert [r.stage for r in reports if r.failures] == []

    with psycopg.connect(iam_pg.server.dsn(), autocommit=True) as admin:
        # The shared server holds other tests' IAM users too: each one is unused here.
        iam_users = {
            name
            for (name,) in admin.execute(
                "SELECT r.rolname FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid"
                " JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname = 'rds_iam' AND r.rolcanlogin"
            ).fetchall()
        }
    from monitor.store.sqlite import Store

    with Store.open(config.store.path, writer=False) as store:
        found = {
            (detector, subject, severity)
            for detector, subject, severity in store.conn.execute(
                "SELECT detector, subject, severity FROM findings WHERE status = 'open'"
            ).fetchall()
        }
        pending = store.conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchall()
    expected = {
        ("failure-burst", f"demo/user/{APP}", "high"),
        ("failure-burst", "demo/host/127.0.0.1", "high"),
        ("unexpected-assume-source", f"{ROLE}/account/999999999999", "high"),
        ("unexpected-assume-source", f"{ROLE}/denied/{RUNNER}", "high"),
    } | {
        # Watched for seconds, never used: said at low severity, with the days observed.
        ("unused-db-user", f"demo/{user}", "low")
        for user in iam_users - {APP, "pgmonitor"}
    }
    assert UNUSED in iam_users
    assert found == expected
    # Every new finding waits in the outbox (Slack is not configured here).
    assert pending[0][0] == len(expected)
