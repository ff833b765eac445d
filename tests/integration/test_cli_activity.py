"""`pgwarden once --only activity` and `pgwarden targets`, run as a user would."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.sandbox.pam import IamPg
from tests.conftest import MotoServer

RunCli = Callable[..., Any]
ACCOUNT_C = "444444444444"


def write_config(tmp_path: Path, moto_url: str, targets: str, accounts: str = "") -> Path:
    path = tmp_path / "pgwarden.toml"
    path.write_text(
        f"""
[store]
path = "pgwarden.db"
[aws]
endpoint_url = "{moto_url}"
[[accounts]]
id = "222222222222"
name = "prod"
role_arn = "arn:aws:iam::222222222222:role/pg-monitor-role"
{accounts}
{targets}
[activity]
connect_timeout_s = 3
poll_deadline_s = 5
""",
        encoding="utf-8",
    )
    return path


def target(iam_pg: IamPg, name: str, port: int) -> str:
    return f"""
[[targets]]
name = "{name}"
account = "prod"
cluster_id = "{name}"
endpoint = "{iam_pg.host}"
port = {port}
hostaddr = "127.0.0.1"
ca_bundle = "{iam_pg.pki.ca_cert}"
"""


def test_cli_once_activity_prints_table_and_exit_1_when_a_target_is_down(
    iam_pg: IamPg,
    moto_server: MotoServer,
    tmp_path: Path,
    run_cli: RunCli,
    free_port: Callable[[], int],
) -> None:
    config = write_config(
        tmp_path,
        moto_server.url,
        target(iam_pg, "demo", iam_pg.port) + target(iam_pg, "gone", free_port()),
    )
    result = run_cli("once", "--only", "activity", "--config", str(config))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "== activity"
    assert lines[1].split() == ["target", "status", "sessions", "duration", "error"]
    demo = lines[2].split()
    assert demo[:2] == ["demo", "ok"] and int(demo[2]) >= 0 and demo[4] == "ms"
    assert lines[3].split()[:3] == ["gone", "down", "-"] and "Connection refused" in lines[3]
    # Neither the token nor anything like it reaches the output or the logs.
    assert "X-Amz-Signature" not in result.stdout + result.stderr
    with sqlite3.connect(tmp_path / "pgwarden.db") as db:
        status = dict(db.execute("SELECT target, status FROM target_status").fetchall())
        assert status == {"demo": "ok", "gone": "down"}
        kept = db.execute("SELECT name, endpoint_type FROM targets ORDER BY name").fetchall()
        assert kept == [("demo", "cluster"), ("gone", "cluster")]


def test_cli_once_all_ok_exit_0(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path, run_cli: RunCli
) -> None:
    config = write_config(tmp_path, moto_server.url, target(iam_pg, "demo", iam_pg.port))
    result = run_cli("once", "--only", "activity", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[2].split()[:2] == ["demo", "ok"]


def test_cli_once_unknown_stage_exit_2(
    moto_server: MotoServer, tmp_path: Path, run_cli: RunCli
) -> None:
    config = write_config(tmp_path, moto_server.url, "")
    result = run_cli("once", "--only", "activty", "--config", str(config))
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1] == "--only activty: unknown stage; known: "
        "activity, pglogs, grants, cloudtrail, detect, alerts, retention"
    )


def test_cli_once_missing_ca_bundle_is_that_target_only(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path, run_cli: RunCli
) -> None:
    broken = target(iam_pg, "broken", iam_pg.port).replace(str(iam_pg.pki.ca_cert), "/nope/ca.pem")
    config = write_config(tmp_path, moto_server.url, target(iam_pg, "demo", iam_pg.port) + broken)
    result = run_cli("once", "--only", "activity", "--config", str(config))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[2].split()[:2] == ["demo", "ok"]
    assert lines[3].split()[:3] == ["broken", "down", "-"]
    assert lines[3].endswith("CA bundle not found: /nope/ca.pem")
    assert "Traceback" not in result.stderr


def test_cli_targets_lists_configured_and_discovered(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path, run_cli: RunCli
) -> None:
    sts = moto_server.client("sts")
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT_C}:role/pg-monitor-role", RoleSessionName="setup"
    )["Credentials"]
    rds = moto_server.client(
        "rds",
        region="us-west-2",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    rds.create_db_cluster(
        DBClusterIdentifier="billing",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="pw-not-used-123",
        EnableIAMDatabaseAuthentication=True,
        Tags=[{"Key": "pgwarden", "Value": "monitor"}],
    )
    resource_id = rds.describe_db_clusters()["DBClusters"][0]["DbClusterResourceId"]
    accounts = f"""
[[accounts]]
id = "{ACCOUNT_C}"
name = "billing"
role_arn = "arn:aws:iam::{ACCOUNT_C}:role/pg-monitor-role"
regions = ["us-west-2"]
discover = true
discover_tags = {{ pgwarden = "monitor" }}
"""
    config = write_config(
        tmp_path, moto_server.url, target(iam_pg, "demo", iam_pg.port), accounts=accounts
    )
    result = run_cli("targets", "--config", str(config))
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == [
        "target",
        "source",
        "account",
        "region",
        "type",
        "endpoint",
        "db_user",
        "resource",
        "proxies",
        "logs",
    ]
    assert rows[1][:5] == ["demo", "config", "prod", "us-east-1", "cluster"]
    # Both read from CloudWatch Logs (the default source), the discovered one too.
    assert rows[1][-1] == rows[2][-1] == "cloudwatch"
    assert rows[2][:5] == [
        "billing/us-west-2/billing",
        "discovered",
        "billing",
        "us-west-2",
        "cluster",
    ]
    assert rows[2][5].startswith("billing.cluster-") and rows[2][7] == resource_id
    offline = run_cli("targets", "--no-discover", "--config", str(config))
    assert [line.split()[0] for line in offline.stdout.splitlines()] == ["target", "demo"]
    assert json.dumps(rows)  # the table is plain text, no colour codes
