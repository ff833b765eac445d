"""A setup that passes every doctor check: real PostgreSQL with the IAM login emulation,
RDS, CloudWatch Logs, Glue and Athena in the moto server, and the local Slack server.
Tests break one part of it at a time."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.aws import AwsSessions
from monitor.config import Config, validate
from monitor.doctor.checks import CheckResult, diagnose
from monitor.sandbox.pam import IamPg
from tests.conftest import MotoServer, SlackApi
from tests.support.activity import ACCOUNT_A, target_table

ACCOUNT = ACCOUNT_A
ROLE = f"arn:aws:iam::{ACCOUNT}:role/pg-monitor-role"
REGION = "us-east-1"
RESULTS_BUCKET = "pgwarden-athena-results"
PARAMETER_GROUP = "pgwarden-aurora-postgresql15"
LOGGING = {"log_connections": "1", "log_disconnections": "1", "rds.force_ssl": "1"}
CHANNELS = {
    "C0PGWARDEN": {"name": "pgwarden", "is_member": True},
    "C0SECOPS": {"name": "secops", "is_member": True},
}


def raw_config(tmp_path: Path, moto: MotoServer, iam_pg: IamPg, slack: SlackApi) -> dict[str, Any]:
    """The config of the healthy setup, as a TOML document would parse."""
    return {
        "store": {"path": str(tmp_path / "pgwarden.db")},
        "aws": {"endpoint_url": moto.url, "region": REGION},
        "accounts": [{"id": ACCOUNT, "name": "prod", "role_arn": ROLE}],
        "targets": [target_table(iam_pg, "demo")],
        "activity": {"connect_timeout_s": 5},
        "pglogs": {
            "sources": ["cloudwatch", "files"],
            "files": [{"target": "demo", "paths": [str(iam_pg.server.log_file)]}],
        },
        "cloudtrail": {
            "engine": "athena",
            "output_location": f"s3://{RESULTS_BUCKET}/doctor/",
            "query_deadline_s": 30,
        },
        "alerts": {
            "slack": {
                "enabled": True,
                "token": "env:PGW_DOCTOR_SLACK_TOKEN",
                "base_url": slack.url,
                "channel": "#pgwarden",
                "channels": {"critical": "C0SECOPS"},
            }
        },
    }


def healthy(
    tmp_path: Path,
    moto: MotoServer,
    iam_pg: IamPg,
    slack: SlackApi,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """Reset moto and Slack, build the healthy setup, and return its raw config."""
    moto.reset()
    slack.clear()
    slack.channels.update({k: dict(v) for k, v in CHANNELS.items()})
    monkeypatch.setenv("PGW_DOCTOR_SLACK_TOKEN", "xoxb-doctor-test")
    raw = raw_config(tmp_path, moto, iam_pg, slack)
    aws = AwsSessions.from_config(validate(raw), hostname="doctor-test")
    rds = aws.client("rds", REGION, ACCOUNT)
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName=PARAMETER_GROUP,
        DBParameterGroupFamily="aurora-postgresql15",
        Description="pgwarden logging",
    )
    set_parameters(rds, LOGGING)
    create_cluster(
        rds,
        "demo",
        PARAMETER_GROUP,
        EnableIAMDatabaseAuthentication=True,
        EnableCloudwatchLogsExports=["postgresql", "iam-db-auth-error"],
    )
    logs = aws.client("logs", REGION, ACCOUNT)
    for kind in ("postgresql", "iam-db-auth-error"):
        logs.create_log_group(logGroupName=f"/aws/rds/cluster/demo/{kind}")
    logs.create_log_stream(logGroupName="/aws/rds/cluster/demo/postgresql", logStreamName="demo-1")
    line = "2026-11-23 03:00:00 UTC:10.0.1.15(48700):pgmonitor@postgres:[12108]:LOG:  disconnection"
    logs.put_log_events(
        logGroupName="/aws/rds/cluster/demo/postgresql",
        logStreamName="demo-1",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": line}],
    )
    glue = aws.client("glue")
    glue.create_database(DatabaseInput={"Name": "default"})
    glue.create_table(
        DatabaseName="default",
        TableInput={"Name": "cloudtrail", "Parameters": {"projection.enabled": "true"}},
    )
    aws.client("s3").create_bucket(Bucket=RESULTS_BUCKET)
    return raw


def create_cluster(rds: Any, name: str, parameter_group: str, **settings: Any) -> None:
    """An Aurora PostgreSQL 15 cluster; with no settings, IAM auth and log exports are off."""
    if parameter_group != PARAMETER_GROUP:
        rds.create_db_cluster_parameter_group(
            DBClusterParameterGroupName=parameter_group,
            DBParameterGroupFamily="aurora-postgresql15",
            Description="nothing set",
        )
    rds.create_db_cluster(
        DBClusterIdentifier=name,
        Engine="aurora-postgresql",
        EngineVersion="15.4",
        MasterUsername="postgres",
        MasterUserPassword="not-used-here",
        DBClusterParameterGroupName=parameter_group,
        **settings,
    )


def create_proxy(aws: AwsSessions, iam_auth: str) -> str:
    """RDS Proxy demo-proxy (in two new subnets) with one secret; returns the secret's ARN."""
    ec2 = aws.client("ec2", REGION, ACCOUNT)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"]
        for i in (1, 2)
    ]
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:pgmonitor-AbCdEf"
    aws.client("rds", REGION, ACCOUNT).create_db_proxy(
        DBProxyName="demo-proxy",
        EngineFamily="POSTGRESQL",
        Auth=[{"AuthScheme": "SECRETS", "SecretArn": secret, "IAMAuth": iam_auth}],
        RoleArn=ROLE,
        VpcSubnetIds=subnets,
    )
    return secret


def set_parameters(rds: Any, values: dict[str, str]) -> None:
    rds.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName=PARAMETER_GROUP,
        Parameters=[
            {"ParameterName": k, "ParameterValue": v, "ApplyMethod": "immediate"}
            for k, v in values.items()
        ],
    )


def run(raw: dict[str, Any], *targets: str, aws: AwsSessions | None = None) -> list[CheckResult]:
    config: Config = validate(raw)
    return diagnose(config, targets, aws=aws or AwsSessions.from_config(config))


def row(
    results: list[CheckResult], group: str, check: str, subject: str | None = None
) -> CheckResult:
    """The one row of `group`/`check` (and `subject`)."""
    found = [
        r
        for r in results
        if r.group == group and r.check == check and (subject is None or r.subject == subject)
    ]
    assert len(found) == 1, (group, check, subject, found)
    return found[0]


def to_toml(raw: dict[str, Any]) -> str:
    """Enough TOML for these configs: tables, arrays of tables, scalars and lists."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):  # inside a list: [[pglogs.files]] as inline tables
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)  # a JSON string or number is a TOML one

    def table(name: str, body: dict[str, Any], header: str) -> list[str]:
        plain = [f"{k} = {value(v)}" for k, v in body.items() if not isinstance(v, dict)]
        lines = [header, *plain]
        for k, v in body.items():
            if isinstance(v, dict):
                lines += table(f"{name}.{k}", v, f"[{name}.{k}]")
        return lines

    lines: list[str] = []
    for key, section in raw.items():
        if isinstance(section, list):
            for item in section:
                lines += table(key, item, f"[[{key}]]")
        else:
            lines += table(key, section, f"[{key}]")
    return "\n".join(lines) + "\n"
