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
from monitor.outputs.policies import documents, render
from monitor.registry import ATHENA_ACTIONS
from monitor.sources.discovery import DISCOVERY_ACTIONS
from monitor.sources.pglogs.ingest import LOG_SOURCES
from monitor.stages import stage_specs
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


MGMT = "111111111111"
PROD = "222222222222"
RUNNER = f"arn:aws:iam::{MGMT}:role/pgwarden-runner"


def base(**sections: Any) -> dict[str, Any]:
    """A config with one database account and one configured cluster, plus `sections`."""
    raw: dict[str, Any] = {
        "aws": {"management_accounts": [MGMT], "runner_role_arn": RUNNER},
        "accounts": [
            {"id": PROD, "name": "prod", "role_arn": f"arn:aws:iam::{PROD}:role/pg-monitor-role"}
        ],
        "targets": [
            {
                "name": "orders",
                "account": "prod",
                "cluster_id": "orders",
                "endpoint": "orders.cluster-abc.us-east-1.rds.amazonaws.com",
            }
        ],
        "cloudtrail": {"engine": "local", "local_dir": "trail"},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return raw


def declared(stage: str) -> set[str]:
    return next(set(s.iam_actions) for s in stage_specs() if s.name == stage)


def doctor(*names: str) -> set[str]:
    return {a for g in doctor_groups() if g.name in names for a in g.iam_actions}


ALWAYS = declared("activity") | declared("grants") | doctor("rds")
CLOUDWATCH = set(LOG_SOURCES["cloudwatch"].access.monitor) | doctor("logs")
RDS_API = set(LOG_SOURCES["rds-api"].access.monitor)


@pytest.mark.parametrize(
    ("raw", "monitor", "management"),
    [
        pytest.param(base(), ALWAYS | CLOUDWATCH, {"sts:AssumeRole"}, id="cloudwatch"),
        pytest.param(
            base(pglogs={"sources": ["cloudwatch", "rds-api"]}),
            ALWAYS | CLOUDWATCH | RDS_API,
            {"sts:AssumeRole"},
            id="rds-api",
        ),
        pytest.param(
            base(pglogs={"sources": ["files"], "files": [{"target": "orders", "paths": ["x"]}]}),
            ALWAYS,
            {"sts:AssumeRole"},
            id="files",
        ),
        pytest.param(base(pglogs={"enabled": False}), ALWAYS, {"sts:AssumeRole"}, id="no-logs"),
        pytest.param(
            base(activity={"enabled": False}),
            ALWAYS - declared("activity") | CLOUDWATCH,
            {"sts:AssumeRole"},
            id="no-activity",
        ),
        pytest.param(
            base(
                accounts=[
                    {
                        "id": PROD,
                        "name": "prod",
                        "discover": True,
                        "role_arn": f"arn:aws:iam::{PROD}:role/pg-monitor-role",
                    }
                ]
            ),
            ALWAYS | CLOUDWATCH | set(DISCOVERY_ACTIONS),
            {"sts:AssumeRole"},
            id="discover",
        ),
        pytest.param(
            base(
                pglogs={
                    "sources": ["athena"],
                    "athena": {
                        "engine": "athena",
                        "output_location": "s3://results/logs/",
                        "logs_location": "s3://rds-logs/firehose/",
                    },
                }
            ),
            ALWAYS,
            {"sts:AssumeRole", *ATHENA_ACTIONS},
            id="athena-logs",
        ),
        pytest.param(
            base(pglogs={"sources": ["athena"], "athena": {"local_dir": "logs"}}),
            ALWAYS,
            {"sts:AssumeRole"},
            id="athena-logs-local",
        ),
        pytest.param(
            base(
                cloudtrail={
                    "engine": "athena",
                    "bucket": "trail",
                    "output_location": "s3://results/trail/",
                }
            ),
            ALWAYS | CLOUDWATCH,
            {"sts:AssumeRole", *ATHENA_ACTIONS},
            id="athena-trail",
        ),
        pytest.param(
            base(
                alerts={
                    "slack": {
                        "enabled": True,
                        "token": f"arn:aws:secretsmanager:us-east-1:{MGMT}:secret:slack",
                    }
                }
            ),
            ALWAYS | CLOUDWATCH,
            {"sts:AssumeRole", "secretsmanager:GetSecretValue"},
            id="slack",
        ),
    ],
)
def test_policy_grants_exactly_what_the_enabled_parts_declare(
    raw: dict[str, Any], monitor: set[str], management: set[str]
) -> None:
    docs = documents(validate(raw))
    assert set(actions(docs["monitor-policy"])) == monitor
    assert set(actions(docs["management-policy"])) == management


def test_policy_scopes_logs_and_log_files_to_the_watched_resources() -> None:
    raw = base(pglogs={"sources": ["cloudwatch", "rds-api"]})
    raw["targets"].append(
        {"name": "billing", "account": "prod", "instance_id": "billing-1", "region": "eu-west-1",
         "endpoint": "billing-1.abc.eu-west-1.rds.amazonaws.com", "endpoint_type": "instance"}
    )  # fmt: skip
    monitor = actions(documents(validate(raw))["monitor-policy"])
    assert (
        monitor["logs:FilterLogEvents"]
        == monitor["logs:DescribeLogStreams"]
        == [
            f"arn:aws:logs:eu-west-1:{PROD}:log-group:/aws/rds/instance/billing-1/*",
            f"arn:aws:logs:us-east-1:{PROD}:log-group:/aws/rds/cluster/orders/*",
        ]
    )
    # A cluster's log files are on its member instances, which the config does not name.
    assert monitor["rds:DownloadDBLogFilePortion"] == [
        f"arn:aws:rds:eu-west-1:{PROD}:db:billing-1",
        f"arn:aws:rds:us-east-1:{PROD}:db:*",
    ]
    assert monitor["rds-db:connect"] == [
        f"arn:aws:rds-db:eu-west-1:{PROD}:dbuser:*/pgmonitor",
        f"arn:aws:rds-db:us-east-1:{PROD}:dbuser:*/pgmonitor",
    ]


def test_policy_scopes_athena_to_the_log_table_and_its_buckets() -> None:
    raw = base(
        pglogs={"sources": ["athena"], "athena": {
            "engine": "athena", "workgroup": "logs", "table": "rdslogs.pg",
            "output_location": "s3://results/logs/", "logs_location": "s3://rds-logs/firehose/"}}
    )  # fmt: skip
    mgmt = actions(documents(validate(raw))["management-policy"])
    assert mgmt["athena:StartQueryExecution"] == [f"arn:aws:athena:us-east-1:{MGMT}:workgroup/logs"]
    assert mgmt["glue:GetTable"][-1] == f"arn:aws:glue:us-east-1:{MGMT}:table/rdslogs/pg"
    assert mgmt["s3:GetObject"] == [
        "arn:aws:s3:::rds-logs/firehose/*",
        "arn:aws:s3:::results/logs/*",
    ]
    assert mgmt["s3:PutObject"] == ["arn:aws:s3:::results/logs/*"]


def test_deploy_report_upload_is_scoped_to_its_prefix_and_key() -> None:
    raw = base(reports={"s3_uri": "s3://audit/pgwarden/", "s3_kms_key_id": "alias/audit"})
    mgmt = actions(documents(validate(raw))["management-policy"])
    assert mgmt["s3:PutObject"] == ["arn:aws:s3:::audit/pgwarden/*"]
    assert mgmt["kms:GenerateDataKey"] == [f"arn:aws:kms:us-east-1:{MGMT}:key/*"]
    key = f"arn:aws:kms:us-east-1:{MGMT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    raw["reports"]["s3_kms_key_id"] = key
    mgmt = actions(documents(validate(raw))["management-policy"])
    assert mgmt["kms:GenerateDataKey"] == mgmt["kms:Decrypt"] == [key]


def test_deploy_example_monitor_role_reads_only_the_watched_log_groups() -> None:
    monitor = actions(documents(EXAMPLE)["monitor-policy"])
    # prod-data discovers in two regions: its RDS log groups there; nothing else.
    assert monitor["logs:FilterLogEvents"] == [
        f"arn:aws:logs:{r}:{PROD}:log-group:/aws/rds/{kind}/*"
        for r in ("eu-west-1", "us-east-1")
        for kind in ("cluster", "instance", "proxy")
    ]
    assert "rds:DownloadDBLogFilePortion" not in monitor  # the example reads no rds-api
    assert monitor["iam:GetAccountAuthorizationDetails"] == ["*"]
    assert not any(a.startswith(("sts:", "athena:", "s3:")) for a in monitor)


def test_deploy_example_management_role_assumes_only_the_monitor_roles() -> None:
    mgmt = actions(documents(EXAMPLE)["management-policy"])
    assert mgmt["sts:AssumeRole"] == [
        f"arn:aws:iam::{PROD}:role/pg-monitor-role",
        "arn:aws:iam::333333333333:role/pg-monitor-role",
    ]
    # Only secrets referenced by ARN; env: references need no permission.
    assert mgmt["secretsmanager:GetSecretValue"] == [
        f"arn:aws:secretsmanager:us-east-1:{MGMT}:secret:pgwarden/external-id-analytics"
    ]
    # The example's trail engine is local: no Athena, Glue or S3 at all.
    assert set(mgmt) == {"sts:AssumeRole", "secretsmanager:GetSecretValue"}


def test_deploy_trust_policy_names_the_runner_role_and_the_external_id() -> None:
    (statement,) = documents(EXAMPLE)["monitor-trust-policy"]["Statement"]
    assert statement["Principal"] == {"AWS": RUNNER}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {
        "StringEquals": {"sts:ExternalId": "REPLACE-WITH-THE-EXTERNAL-ID"}
    }
    raw = base(aws={"principal_org_id": "o-abcdef123456"})
    (statement,) = documents(validate(raw))["monitor-trust-policy"]["Statement"]
    assert statement["Condition"]["StringEquals"] == {
        "sts:ExternalId": "REPLACE-WITH-THE-EXTERNAL-ID",
        "aws:PrincipalOrgID": "o-abcdef123456",
    }
    with pytest.raises(PgwardenError, match=r"^aws\.runner_role_arn: name the role"):
        documents(validate({"aws": {"management_accounts": [MGMT]}}))
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
