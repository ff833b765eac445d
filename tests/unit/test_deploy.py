"""deploy/: the IAM policies match what the stages declare, and the systemd units verify."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config, validate
from monitor.doctor.checks import groups as doctor_groups
from monitor.errors import PgwardenError
from monitor.pipeline import stage_specs
from monitor.policies import documents, render
from monitor.reports.publish import IAM_ACTIONS
from tests.conftest import require

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
EXAMPLE = load_config(REPO / "config.example.toml")
RunCli = Callable[..., subprocess.CompletedProcess[str]]


def actions(document: dict[str, Any]) -> dict[str, list[str]]:
    return {a: s["Resource"] for s in document["Statement"] for a in s["Action"]}


def test_deploy_iam_files_are_the_generated_ones(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("iam-policy", "--config", str(REPO / "config.example.toml"), "--out", "gen")
    assert result.returncode == 0, result.stderr
    generated = sorted(p.name for p in (tmp_path / "gen").iterdir())
    assert generated == sorted(p.name for p in DEPLOY.glob("iam-*.json"))
    for name in generated:
        assert (tmp_path / "gen" / name).read_text() == (DEPLOY / name).read_text(), (
            f"deploy/{name} is stale: pgwarden iam-policy --config config.example.toml --out deploy"
        )


def test_deploy_iam_policy_prints_every_document(run_cli: RunCli) -> None:
    result = run_cli("iam-policy", "--config", str(REPO / "config.example.toml"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == documents(EXAMPLE)


def test_deploy_policies_cover_every_declared_action_and_only_those() -> None:
    docs = documents(EXAMPLE)
    declared_monitor = {a for s in stage_specs() for a in s.iam_actions} | {
        a for g in doctor_groups() for a in g.iam_actions
    }
    declared_mgmt = {a for s in stage_specs() for a in s.management_actions}
    assert set(actions(docs["monitor-policy"])) == declared_monitor
    # The example uploads no reports, so the report upload's KMS actions are left out.
    kms = {"kms:GenerateDataKey", "kms:Decrypt"}
    assert set(actions(docs["management-policy"])) == declared_mgmt | set(IAM_ACTIONS) - kms


def test_deploy_report_upload_is_scoped_to_its_prefix_and_key() -> None:
    raw = {
        "aws": {"management_accounts": ["111111111111"]},
        "reports": {"s3_uri": "s3://audit/pgwarden/", "s3_kms_key_id": "alias/audit"},
    }
    mgmt = actions(documents(validate(raw))["management-policy"])
    assert mgmt["s3:PutObject"] == ["arn:aws:s3:::audit/pgwarden/*"]
    assert mgmt["kms:GenerateDataKey"] == ["arn:aws:kms:us-east-1:111111111111:key/*"]
    key = "arn:aws:kms:us-east-1:111111111111:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    raw["reports"]["s3_kms_key_id"] = key
    mgmt = actions(documents(validate(raw))["management-policy"])
    assert mgmt["kms:GenerateDataKey"] == mgmt["kms:Decrypt"] == [key]


def test_deploy_monitor_role_may_do_what_the_issue_lists() -> None:
    monitor = actions(documents(EXAMPLE)["monitor-policy"])
    assert monitor["rds-db:connect"] == ["arn:aws:rds-db:*:*:dbuser:*/pgmonitor"]
    assert {"rds:DescribeDBClusters", "rds:DescribeDBInstances"} <= set(monitor)
    assert monitor["logs:FilterLogEvents"] == ["arn:aws:logs:*:*:log-group:/aws/rds/*"]
    assert monitor["iam:GetAccountAuthorizationDetails"] == ["*"]
    assert monitor["iam:GetRole"] == ["arn:aws:iam::*:role/*"]
    assert not any(a.startswith(("sts:", "athena:", "s3:")) for a in monitor)


def test_deploy_management_role_assumes_only_the_monitor_roles() -> None:
    mgmt = actions(documents(EXAMPLE)["management-policy"])
    assert mgmt["sts:AssumeRole"] == [
        "arn:aws:iam::222222222222:role/pg-monitor-role",
        "arn:aws:iam::333333333333:role/pg-monitor-role",
    ]
    assert mgmt["athena:StartQueryExecution"] == [
        "arn:aws:athena:us-east-1:111111111111:workgroup/primary"
    ]
    assert (
        mgmt["glue:GetTable"][-1] == "arn:aws:glue:us-east-1:111111111111:table/default/cloudtrail"
    )
    assert mgmt["s3:GetObject"] == [
        "arn:aws:s3:::org-cloudtrail-logs/AWSLogs/*",
        "arn:aws:s3:::my-athena-results/pgwarden/*",
    ]
    assert mgmt["s3:PutObject"] == ["arn:aws:s3:::my-athena-results/pgwarden/*"]
    # Only secrets referenced by ARN; env: references need no permission.
    assert mgmt["secretsmanager:GetSecretValue"] == [
        "arn:aws:secretsmanager:us-east-1:111111111111:secret:pgwarden/external-id-analytics"
    ]
    assert not any(a.startswith(("rds-db:", "logs:", "iam:")) for a in mgmt)


def test_deploy_trust_policy_requires_the_external_id() -> None:
    (statement,) = documents(EXAMPLE)["monitor-trust-policy"]["Statement"]
    assert statement["Principal"] == {"AWS": ["arn:aws:iam::111111111111:root"]}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {
        "StringEquals": {"sts:ExternalId": "REPLACE-WITH-THE-EXTERNAL-ID"}
    }


def test_deploy_policies_leave_out_what_the_config_does_not_name() -> None:
    config = validate({"aws": {"management_accounts": ["111111111111"]}})
    mgmt = actions(documents(config)["management-policy"])
    assert set(mgmt) == {
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "athena:StartQueryExecution",
        "athena:StopQueryExecution",
        "glue:GetDatabase",
        "glue:GetTable",
    }
    with pytest.raises(PgwardenError, match=r"^aws\.management_accounts: list the account"):
        documents(validate({}))
    assert render({"a": 1}) == '{\n  "a": 1\n}\n'


def test_deploy_pgmonitor_sql_has_the_three_statements() -> None:
    statements = [
        line for line in (DEPLOY / "pgmonitor.sql").read_text().splitlines()
        if line and not line.startswith("--")
    ]  # fmt: skip
    assert statements == [
        "CREATE USER pgmonitor WITH LOGIN;",
        "GRANT rds_iam TO pgmonitor;",
        "GRANT pg_monitor TO pgmonitor;",
    ]


UNITS = ("pgwarden.service", "pgwarden-once.service", "pgwarden-once.timer")


def test_deploy_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    require(analyze, "systemd-analyze is not installed")
    assert analyze is not None
    # verify checks that ExecStart exists: point it at this machine's pgwarden.
    exe = shutil.which("pgwarden", path=str(Path(sys.executable).parent))
    assert exe is not None
    for unit in UNITS:
        text = (DEPLOY / unit).read_text().replace("/opt/pgwarden/bin/pgwarden", exe)
        (tmp_path / unit).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *UNITS], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "")
    # Exposure 0 (locked down) to 10 (unsafe); the hardening keeps it under 2.
    for service in UNITS[:2]:
        security = subprocess.run(
            [analyze, "security", "--offline=true", "--threshold=20", service],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert security.returncode == 0, security.stdout[-2000:]


def test_deploy_daemon_unit_runs_as_its_own_user_in_a_locked_down_system() -> None:
    lines = set((DEPLOY / "pgwarden.service").read_text().splitlines())
    assert {
        "User=pgwarden",
        "StateDirectory=pgwarden",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
    } <= lines
    timer = (DEPLOY / "pgwarden-once.timer").read_text()
    assert "Unit=pgwarden-once.service" in timer and "OnCalendar=" in timer
