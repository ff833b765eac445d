"""`pgwarden doctor`: the store, account denial, CloudTrail, log sources and Slack rows,
each made to fail (or warn) against the real parts, naming its fix."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.aws import AwsSessions
from monitor.clock import FrozenClock
from monitor.config import validate
from monitor.doctor.checks import diagnose
from monitor.sandbox.pam import IamPg
from monitor.store.sqlite import Store, migrations
from tests.conftest import MotoServer, SlackApi
from tests.integration.test_aws import enforced_auth  # noqa: F401 - a fixture used below
from tests.support.activity import ACCOUNT_B, target_table
from tests.support.athena import post
from tests.support.doctor import (
    ACCOUNT,
    REGION,
    row,
    run,
)
from tests.support.trail import write_trail

pytestmark = pytest.mark.integration


@pytest.fixture
def setup(doctor_setup: dict[str, Any]) -> dict[str, Any]:
    return doctor_setup


def only(raw: dict[str, Any], *groups: str) -> dict[str, Any]:
    """Switch off what the test does not look at, to keep it quick."""
    if "cloudtrail" not in groups:
        raw["cloudtrail"] = {"enabled": False}
    if "slack" not in groups:
        raw["alerts"]["slack"]["enabled"] = False
    if "logs" not in groups:
        raw["pglogs"] = {"enabled": False}
    return raw


def test_doctor_store_rows_fail_with_their_fixes(setup: dict[str, Any], tmp_path: Path) -> None:
    setup["store"]["path"] = str(tmp_path / "missing" / "pgwarden.db")
    results = run(only(setup, "store"))
    writable = row(results, "store", "writable")
    assert writable.status == "fail" and "does not exist" in writable.found
    assert writable.fix == f"mkdir -p {tmp_path / 'missing'}"

    path = tmp_path / "pgwarden.db"
    Store.open(path).close()
    os.chmod(path, 0o644)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {migrations()[-1][0] - 1}")
    setup["store"]["path"] = str(path)
    results = run(setup)
    assert row(results, "store", "writable").status == "ok"
    mode = row(results, "store", "mode")
    assert mode.status == "fail" and "pgwarden.db is 0644" in mode.found
    assert mode.fix.startswith(f"chmod 600 {path}")  # and its -wal and -shm, if there
    schema = row(results, "store", "schema")
    assert schema.status == "fail" and schema.fix == "pgwarden once"


def test_doctor_assume_role_denied_names_the_trust_policy(
    setup: dict[str, Any],
    enforced_auth: dict[str, str],  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in enforced_auth.items():
        monkeypatch.setenv(name, value)
    setup["accounts"].append(
        {
            "id": ACCOUNT_B,
            "name": "analytics",
            "role_arn": f"arn:aws:iam::{ACCOUNT_B}:role/pg-monitor-role",
            "external_id": "env:PGW_DOCTOR_EXT_ID",
        }
    )
    monkeypatch.setenv("PGW_DOCTOR_EXT_ID", "doctor-external-id")
    setup["targets"] = []
    results = run(only(setup, "accounts"))
    denied = row(results, "accounts", "assume-role", "analytics")
    assert denied.status == "fail" and "AccessDenied" in denied.found
    assert f"run the fix in account {ACCOUNT_B}" in denied.found
    assert denied.fix.startswith("aws iam update-assume-role-policy --role-name pg-monitor-role")
    policy = json.loads(denied.fix.split("--policy-document ", 1)[1].strip("'"))
    statement = policy["Statement"][0]
    assert statement["Principal"]["AWS"].startswith("arn:aws:iam::123456789012:user/")
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "EXTERNAL_ID"}}
    assert "doctor-external-id" not in json.dumps([r.as_dict() for r in results])
    assert row(results, "accounts", "caller-identity", "analytics").found.startswith("not checked")
    assert row(results, "accounts", "assume-role", "prod").status == "ok"


def test_doctor_cloudtrail_table_rows_fail_with_their_fixes(
    setup: dict[str, Any], moto_server: MotoServer
) -> None:
    glue = moto_server.client("glue")
    glue.delete_table(DatabaseName="default", Name="cloudtrail")
    results = run(only(setup, "cloudtrail"))
    table = row(results, "cloudtrail", "table")
    assert table.status == "fail" and "no table default.cloudtrail" in table.found
    assert table.fix.startswith("pgwarden trail ddl > cloudtrail.sql && aws athena")
    assert row(results, "cloudtrail", "probe").found == (
        "not checked: table default.cloudtrail unusable"
    )

    glue.create_table(DatabaseName="default", TableInput={"Name": "cloudtrail"})
    unprojected = row(run(only(setup, "cloudtrail")), "cloudtrail", "table")
    assert unprojected.status == "fail" and "no partition projection" in unprojected.found
    assert "'DROP TABLE default.cloudtrail'" in unprojected.fix


@pytest.fixture
def held_queries(moto_server: MotoServer) -> Iterator[None]:
    """Athena queries in moto stay QUEUED until cancelled."""
    post(
        moto_server,
        "/moto-api/state-manager/set-transition",
        {
            "model_name": "athena::execution",
            "transition": {"progression": "manual", "times": 10**6},
        },
    )
    yield
    post(
        moto_server, "/moto-api/state-manager/unset-transition", {"model_name": "athena::execution"}
    )


def test_doctor_cloudtrail_probe_past_its_deadline_fails(
    setup: dict[str, Any], held_queries: None
) -> None:
    setup["cloudtrail"]["query_deadline_s"] = 1
    started = time.monotonic()
    probe = row(run(only(setup, "cloudtrail")), "cloudtrail", "probe")
    assert time.monotonic() - started < 30
    assert probe.status == "fail" and "still running after 1 s" in probe.found
    assert probe.fix == "query_deadline_s = 2  # in [cloudtrail]"


def test_doctor_cloudtrail_local_files(setup: dict[str, Any], tmp_path: Path) -> None:
    trail = tmp_path / "trail"
    trail.mkdir()
    setup["cloudtrail"] = {"engine": "local", "local_dir": str(trail), "bucket": "org-trail"}
    config = validate(only(setup, "cloudtrail"))
    clock = FrozenClock(datetime(2026, 11, 2, 12, 30, tzinfo=UTC))

    def rows() -> Any:
        return diagnose(config, aws=AwsSessions.from_config(config), clock=clock)

    empty = row(rows(), "cloudtrail", "local-files")
    assert empty.status == "fail" and "no AWSLogs directory" in empty.found
    assert empty.fix == f"aws s3 sync s3://org-trail/AWSLogs/ {trail}/AWSLogs/"
    # Exported events suit `trail --local`, not the stage: it needs the bucket's copy.
    (trail / "incident.jsonl").write_text('{"eventID": "x"}\n')
    exported = row(rows(), "cloudtrail", "local-files")
    assert exported.status == "fail" and exported.found.endswith(
        "no AWSLogs directory (a copy of the trail bucket)"
    )
    (trail / "incident.jsonl").unlink()

    write_trail(trail)
    clock.advance(datetime(2026, 11, 20, tzinfo=UTC) - clock.now())
    stale = row(rows(), "cloudtrail", "local-files")
    assert stale.status == "fail" and "2026/11/19..2026/11/20" in stale.found
    assert stale.fix == empty.fix

    clock.advance(datetime(2026, 11, 2, 12, 30, tzinfo=UTC) - clock.now())
    results = rows()
    assert row(results, "cloudtrail", "local-files").found == "5 objects for 2026/11/01..2026/11/02"
    probe = row(results, "cloudtrail", "probe")
    assert probe.status == "ok" and "read " in probe.found

    stray = trail / "AWSLogs" / "222222222222" / "CloudTrail" / "us_east_1"
    stray.mkdir()
    warned = row(rows(), "cloudtrail", "local-files")
    assert warned.status == "warn" and f"such as {stray}" in warned.found


def test_doctor_log_rows_fail_with_their_fixes(
    setup: dict[str, Any], moto_server: MotoServer, iam_pg: IamPg, tmp_path: Path
) -> None:
    config = validate(setup)
    aws = AwsSessions.from_config(config)
    logs = aws.client("logs", REGION, ACCOUNT)
    logs.delete_log_group(logGroupName="/aws/rds/cluster/demo/iam-db-auth-error")
    quiet = "/aws/rds/cluster/demo/postgresql"
    logs.delete_log_group(logGroupName=quiet)
    logs.create_log_group(logGroupName=quiet)
    logs.create_log_stream(logGroupName=quiet, logStreamName="demo-1")
    streamless = "/aws/rds/cluster/streamless/postgresql"
    logs.create_log_group(logGroupName=streamless)
    setup["targets"] += [
        target_table(iam_pg, "unexported", cluster_id="unexported"),
        target_table(iam_pg, "streamless", cluster_id="streamless"),
    ]
    missing = tmp_path / "no-such.log"
    setup["pglogs"]["files"].append({"target": "unexported", "paths": [str(missing)]})
    try:
        results = run(only(setup, "logs"), aws=aws)
    finally:
        logs.delete_log_group(logGroupName=streamless)

    silent = row(results, "logs", "postgresql", "demo")
    assert silent.status == "warn" and "no events in the last hour" in silent.found
    assert silent.fix == f"aws logs tail {quiet} --since 1h --region us-east-1"
    iam_errors = row(results, "logs", "iam-db-auth-error", "demo")
    assert iam_errors.status == "warn" and "no log group" in iam_errors.found
    assert iam_errors.fix == (
        "aws rds modify-db-cluster --region us-east-1 --db-cluster-identifier demo "
        """--cloudwatch-logs-export-configuration '{"EnableLogTypes":["iam-db-auth-error"]}' """
        "--apply-immediately"
    )
    unexported = row(results, "logs", "postgresql", "unexported")
    assert unexported.status == "fail" and "no log group" in unexported.found
    assert unexported.fix == "fix the rds unexported rows first"
    # A group nothing was ever written to is silence, not a quiet database.
    empty = row(results, "logs", "postgresql", "streamless")
    assert empty.status == "fail" and "has no streams" in empty.found
    gone = row(results, "logs", "file", "unexported")
    assert gone.status == "fail" and "no such file or directory" in gone.found
    assert gone.fix.startswith('paths = ["EXISTING_LOG_PATH"]  # in [[pglogs.files]]')
    assert row(results, "logs", "file", "demo").status == "ok"


def test_doctor_unreadable_log_file_names_the_acl(setup: dict[str, Any], tmp_path: Path) -> None:
    directory = tmp_path / "pglog"
    directory.mkdir()
    (directory / "postgresql.log.gz").write_bytes(b"not gzip at all")
    setup["pglogs"] = {
        "sources": ["files"],
        "files": [{"target": "demo", "paths": [str(directory)]}],
    }
    unreadable = row(run(only(setup, "logs")), "logs", "file")
    assert unreadable.status == "fail" and "cannot read" in unreadable.found
    assert unreadable.fix.startswith("sudo setfacl -R -m u:") and str(directory) in unreadable.fix


def test_doctor_slack_rows_fail_with_their_fixes(
    setup: dict[str, Any], slack_api: SlackApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup["alerts"]["slack"]["channels"] = {"critical": "C0SECOPS", "high": "#nowhere"}
    slack_api.channels["C0SECOPS"]["is_member"] = False
    results = run(only(setup, "slack"))
    outsider = row(results, "slack", "channel", "C0SECOPS")
    assert outsider.status == "fail" and "the bot is not a member" in outsider.found
    assert outsider.fix == "/invite @pgwarden  # typed in C0SECOPS"
    nowhere = row(results, "slack", "channel", "#nowhere")
    assert nowhere.status == "fail" and "no such channel" in nowhere.found
    assert nowhere.fix.startswith("/invite @pgwarden  # typed in #nowhere; create the channel")
    assert row(results, "slack", "channel", "#pgwarden").status == "ok"

    slack_api.fail_next(200, {"ok": False, "error": "invalid_auth"})
    results = run(only(setup, "slack"))
    auth = row(results, "slack", "auth.test")
    assert auth.status == "fail" and auth.found.startswith("auth.test: invalid_auth")
    assert auth.fix == "export PGW_DOCTOR_SLACK_TOKEN=xoxb-BOT-TOKEN"
    assert row(results, "slack", "channel", "#pgwarden").found == (
        "not checked: Slack refused the token"
    )

    # Canned answers in order: auth.test passes, the channel lookup lacks its scope.
    slack_api.fail_next(200, {"ok": True, "user": "pgwarden", "user_id": "U0", "team": "t"})
    slack_api.fail_next(200, {"ok": False, "error": "missing_scope"})
    setup["alerts"]["slack"]["channels"] = {}
    scope = row(run(only(setup, "slack")), "slack", "channel", "#pgwarden")
    assert scope.status == "fail" and "missing_scope" in scope.found
    assert "channels:read and groups:read" in scope.fix

    monkeypatch.delenv("PGW_DOCTOR_SLACK_TOKEN")
    token = row(run(only(setup, "slack")), "slack", "token")
    assert token.status == "fail" and "PGW_DOCTOR_SLACK_TOKEN is not set" in token.found
    assert token.fix == "export PGW_DOCTOR_SLACK_TOKEN=xoxb-BOT-TOKEN"
