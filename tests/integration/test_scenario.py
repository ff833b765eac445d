"""The whole pipeline through real parts, and exactly the findings the scenario calls for.

PostgreSQL checks IAM tokens through PAM; moto holds the account, its monitor role and the
database's log group; CloudTrail files sit in the S3 layout on disk. `pgwarden once` runs
every stage, and the findings must be these and no others.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from monitor.config import validate
from monitor.pipeline import run_once
from monitor.sandbox.pam import IamPg
from tests.conftest import MotoServer
from tests.support.activity import target_table

ACCOUNT = "444444444444"  # moto keeps accounts apart: no other test's IAM state leaks in
MGMT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/pg-monitor-role"
RUNNER = f"arn:aws:sts::{MGMT}:assumed-role/pgwarden-runner/i-0abc"
APP, UNUSED = "scenario_app", "scenario_unused"


def assumed(moto_server: MotoServer, service: str) -> Any:
    creds = moto_server.client("sts").assume_role(RoleArn=ROLE, RoleSessionName="scenario")[
        "Credentials"
    ]
    return moto_server.client(
        service,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def login(iam_pg: IamPg, password: str) -> psycopg.Connection:
    return psycopg.connect(
        host=iam_pg.host, hostaddr="127.0.0.1", port=iam_pg.port, dbname="postgres", user=APP,
        password=password, sslmode="verify-full", sslrootcert=str(iam_pg.pki.ca_cert),
        connect_timeout=5, application_name="orders-api",
    )  # fmt: skip


def server_lines(iam_pg: IamPg, start: int, until: str) -> list[str]:
    """The log lines written since `start`, once `until` has appeared (with a deadline)."""
    deadline = time.monotonic() + 10
    while True:
        lines = iam_pg.server.log_text()[start:].splitlines()
        if any(until in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def trail_record(
    event_id: str, when: datetime, caller: str, account: str | None, error: str | None = None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": caller, "accountId": account},
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "Boto3/1.44",
        "requestParameters": {"roleArn": ROLE, "roleSessionName": "s1", "durationSeconds": 3600},
        "eventID": event_id,
        "recipientAccountId": ACCOUNT,
        "eventType": "AwsApiCall",
    }
    if error:
        record["errorCode"] = error
        record["errorMessage"] = f"{caller} is not authorized to perform sts:AssumeRole on {ROLE}"
    return record


def write_trail(root: Path, records: list[dict[str, Any]], day: datetime) -> None:
    folder = root / f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{day:%Y/%m/%d}"
    folder.mkdir(parents=True)
    name = f"{ACCOUNT}_CloudTrail_us-east-1_{day:%Y%m%dT%H%MZ}_x.json.gz"
    (folder / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))


def test_scenario_whole_pipeline_finds_exactly_this(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path
) -> None:
    iam_pg.create_iam_user(APP)
    iam_pg.create_iam_user(UNUSED)
    rds = assumed(moto_server, "rds")

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
    lines = server_lines(iam_pg, start, "connection authorized: user=scenario_app")
    assert sum("PAM authentication failed" in x for x in lines) == 6

    # RDS publishes the server log to CloudWatch Logs in the database's account.
    logs = assumed(moto_server, "logs")
    group = "/aws/rds/cluster/demo/postgresql"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="demo-1")
    now_ms = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="demo-1",
        logEvents=[{"timestamp": now_ms - 1000 + i, "message": x} for i, x in enumerate(lines)],
    )

    # CloudTrail: the expected assumption, one from an unknown account, a denied burst.
    now = datetime.now(UTC).replace(microsecond=0)
    records = [trail_record("ok-1", now - timedelta(minutes=30), RUNNER, MGMT)]
    records.append(
        trail_record(
            "odd-1", now - timedelta(minutes=20), "arn:aws:iam::999999999999:user/x", "999999999999"
        )
    )
    records += [
        trail_record(
            f"denied-{i}", now - timedelta(minutes=10, seconds=-i), RUNNER, MGMT, "AccessDenied"
        )
        for i in range(5)
    ]
    write_trail(tmp_path / "trail", records, now)

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
        "activity", "pglogs", "grants", "cloudtrail", "detect", "alerts",
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
