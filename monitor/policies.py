"""Least-privilege IAM policy documents, from what the stages declare they need.

Each stage lists the actions it calls (`StageSpec.iam_actions` for the monitor role in
each database account, `management_actions` for pgwarden's own role). This module only
scopes each action to the resources the config names; `pgwarden iam-policy` prints or
writes the documents, and deploy/ ships those generated from config.example.toml.

- The management policy: `sts:AssumeRole` on the configured monitor roles, the Secrets
  Manager secrets the config references, Athena, Glue and S3 for the trail, and the
  weekly report's upload (monitor/reports/publish.py).
- The monitor policy, the same in every database account: `rds-db:connect` as the
  configured database users, the RDS and CloudWatch Logs reads, the IAM reads of the
  grants inventory, and what `pgwarden doctor` reads (parameter groups, proxies). A role
  can only connect to databases in its own account (RDS IAM authentication does not cross
  accounts), so `*` for the account loses nothing.
- The monitor role's trust policy: the management accounts, with an ExternalId.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from monitor.config import Config
from monitor.errors import PgwardenError
from monitor.pipeline import stage_specs

EXTERNAL_ID_PLACEHOLDER = "REPLACE-WITH-THE-EXTERNAL-ID"  # the secret never goes in a file


def _rules(config: Config) -> dict[str, list[str]]:
    """For each action a stage may declare, the ARNs it is allowed on, from the config.

    An empty list means the config names nothing the action would apply to (no secret
    ARNs, no results bucket...), and the action is left out.
    """
    trail = config.cloudtrail
    region = trail.region or config.aws.region
    accounts = config.aws.management_accounts or ["*"]
    trail_buckets = [trail.bucket] if trail.bucket else []
    out_bucket, out_prefix = _split_s3(trail.output_location)
    buckets = [f"arn:aws:s3:::{b}" for b in [*trail_buckets, *([out_bucket] if out_bucket else [])]]
    prefix = f"{trail.prefix.strip('/')}/" if trail.prefix.strip("/") else ""
    results = [f"arn:aws:s3:::{out_bucket}/{out_prefix}*"] if out_bucket else []
    report_bucket, report_prefix = _split_s3(config.reports.s3_uri)
    reports = [f"arn:aws:s3:::{report_bucket}/{report_prefix}*"] if report_bucket else []
    key = config.reports.s3_kms_key_id
    # A policy names a KMS key by its ARN; an alias or a bare key id cannot be matched there.
    kms = (
        []
        if not key
        else [key]
        if key.startswith("arn:")
        else [f"arn:aws:kms:{region}:{a}:key/*" for a in accounts]
    )
    db = trail.athena_database
    catalog = [
        f"arn:aws:glue:{region}:{a}:{x}" for a in accounts for x in ("catalog", f"database/{db}")
    ]
    table = [f"arn:aws:glue:{region}:{a}:table/{db}/{trail.athena_table}" for a in accounts]
    workgroup = [f"arn:aws:athena:{region}:{a}:workgroup/{trail.workgroup}" for a in accounts]
    rds_db = ["arn:aws:rds:*:*:db:*"]
    return {
        "sts:AssumeRole": sorted({a.role_arn for a in config.accounts if a.role_arn}),
        "secretsmanager:GetSecretValue": sorted(
            ref for ref in _secret_refs(config) if ref.startswith("arn:")
        ),
        "rds-db:connect": [f"arn:aws:rds-db:*:*:dbuser:*/{user}" for user in _db_users(config)],
        # Discovery lists every cluster and instance: no resource-level permission applies.
        "rds:DescribeDBClusters": ["*"],
        "rds:DescribeDBInstances": ["*"],
        "rds:DescribeDBLogFiles": rds_db,
        # The doctor reads parameter groups and proxies.
        "rds:DescribeDBClusterParameters": ["arn:aws:rds:*:*:cluster-pg:*"],
        "rds:DescribeDBParameters": ["arn:aws:rds:*:*:pg:*"],
        "rds:DescribeDBProxies": ["arn:aws:rds:*:*:db-proxy:*"],
        "rds:DescribeDBProxyTargets": [
            "arn:aws:rds:*:*:db-proxy:*",
            "arn:aws:rds:*:*:target-group:*",
        ],
        "logs:DescribeLogGroups": ["arn:aws:logs:*:*:log-group:*"],
        "rds:DownloadDBLogFilePortion": rds_db,
        "logs:FilterLogEvents": ["arn:aws:logs:*:*:log-group:/aws/rds/*"],
        "iam:GetAccountAuthorizationDetails": ["*"],  # no resource-level permission
        "iam:GetRole": ["arn:aws:iam::*:role/*"],
        "athena:StartQueryExecution": workgroup,
        "athena:GetQueryExecution": workgroup,
        "athena:GetQueryResults": workgroup,
        "athena:StopQueryExecution": workgroup,
        "glue:GetDatabase": catalog,
        "glue:GetTable": catalog + table,
        "s3:GetBucketLocation": buckets,
        "s3:ListBucket": buckets,
        "s3:GetObject": [f"arn:aws:s3:::{b}/{prefix}AWSLogs/*" for b in trail_buckets] + results,
        "s3:PutObject": results + reports,
        "s3:AbortMultipartUpload": results + reports,
        "kms:GenerateDataKey": kms if reports else [],
        "kms:Decrypt": kms if reports else [],
    }


def management_policy(config: Config) -> dict[str, Any]:
    from monitor.reports import publish  # the weekly report's upload is no stage

    declared = [a for s in stage_specs() for a in s.management_actions]
    return _policy(config, [*declared, *publish.IAM_ACTIONS])


def monitor_policy(config: Config) -> dict[str, Any]:
    from monitor.doctor.checks import groups  # `pgwarden doctor` reads a little more

    declared = [a for s in stage_specs() for a in s.iam_actions]
    return _policy(config, [*declared, *(a for g in groups() for a in g.iam_actions)])


def trust_policy(config: Config) -> dict[str, Any]:
    if not config.aws.management_accounts:
        raise PgwardenError(
            "aws.management_accounts: list the account(s) pgwarden runs in; "
            "the monitor roles' trust policy lets exactly those assume them"
        )
    principals = [f"arn:aws:iam::{a}:root" for a in config.aws.management_accounts]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PgwardenAssumesMonitorRole",
                "Effect": "Allow",
                "Principal": {"AWS": principals},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID_PLACEHOLDER}},
            }
        ],
    }


def documents(config: Config) -> dict[str, dict[str, Any]]:
    """Every document by its file stem (deploy/iam-<stem>.json)."""
    return {
        "management-policy": management_policy(config),
        "monitor-policy": monitor_policy(config),
        "monitor-trust-policy": trust_policy(config),
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def _policy(config: Config, actions: Iterable[str]) -> dict[str, Any]:
    """One statement per set of resources, actions sorted: stable output to diff and test."""
    rules = _rules(config)
    grouped: dict[tuple[str, ...], list[str]] = {}
    for action in sorted(set(actions)):
        if action not in rules:
            raise PgwardenError(f"{action}: no resource rule in monitor/policies.py; add one")
        if rules[action]:
            grouped.setdefault(tuple(rules[action]), []).append(action)
    statements = []
    for resources, acts in sorted(grouped.items(), key=lambda kv: kv[1]):
        service, name = acts[0].split(":")
        sid = (
            "Allow"
            + service.replace("-", " ").title().replace(" ", "")
            + name[:1].upper()
            + name[1:]
        )
        statements.append(
            {"Sid": sid, "Effect": "Allow", "Action": acts, "Resource": list(resources)}
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _secret_refs(config: Config) -> list[str]:
    slack = config.alerts.slack
    refs = [a.external_id for a in config.accounts] + [slack.token, slack.webhook_url]
    return [r for r in refs if r]


def _db_users(config: Config) -> list[str]:
    return sorted({a.db_user for a in config.accounts} | {t.db_user for t in config.targets})


def _split_s3(uri: str | None) -> tuple[str | None, str]:
    if not uri:
        return None, ""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix
