"""Least-privilege IAM policy documents, from what the enabled parts of the config need.

The actions come from the registries (monitor/registry.py): each stage declares the access
it may need (`StageSpec.access`: `monitor` for the monitor role in each database account,
`management` for pgwarden's own role) and which of it one config needs (`StageSpec.needs`:
its enabled log sources, sinks and engines, each declared in its own module). Discovery
and the doctor groups declare theirs beside their code. This module grants only what is needed, each
action scoped to the resources the config names; `pgwarden iam-policy` prints or writes
the documents, and deploy/ ships those generated from config.example.toml.

- The management policy: `sts:AssumeRole` on the configured monitor roles, the Secrets
  Manager secrets the config references, Athena, Glue and S3 for the trail and the
  Athena log source when they run on Athena, and the weekly report's upload.
- The monitor policy, the same in every database account: `rds-db:connect` as the
  configured database users, the CloudWatch Logs reads on the watched clusters' and
  instances' log groups (`/aws/rds/cluster/<id>/*`, a proxy's `/aws/rds/proxy/<name>`; for
  an account whose databases are discovered, its `/aws/rds/cluster/*`, `/aws/rds/instance/*`
  and `/aws/rds/proxy/*`), the RDS log file API
  only with the rds-api source, the IAM reads of the grants inventory, and what
  `pgwarden doctor` reads. Every ARN names the configured accounts and regions.
- The monitor role's trust policy: exactly pgwarden's runner role (`[aws] runner_role_arn`),
  with the ExternalId, and optionally only from within the organisation (`aws:PrincipalOrgID`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitor.config import Config
from monitor.errors import PgwardenError
from monitor.models import proxy_log_group
from monitor.registry import ATHENA_ACTIONS
from monitor.sources.targets import Target, attach_logs, configured_targets
from monitor.stages import stage_specs

Document = dict[str, object]  # an IAM policy document, as JSON
EXTERNAL_ID_PLACEHOLDER = "REPLACE-WITH-THE-EXTERNAL-ID"  # the secret never goes in a file
_ANY = ("*",)  # list and describe calls that IAM authorises on no particular resource


def _places(config: Config) -> list[tuple[str, str, bool]]:
    """(account id, region, discovers) for every account and region the config watches."""
    return sorted(
        {(a.id, r, a.discover) for a in config.accounts for r in a.regions or [config.aws.region]}
    )


def _watched(config: Config) -> list[Target]:
    return attach_logs(configured_targets(config), config.pglogs)


def _log_groups(config: Config) -> list[str]:
    """The watched clusters' and instances' log groups, and a discovering account's all."""
    discovering = {(a, r) for a, r, discovers in _places(config) if discovers}
    arns = {
        f"arn:aws:logs:{t.region}:{t.account_id}:log-group:{g.rsplit('/', 1)[0]}/*"
        for t in _watched(config)
        for g in t.log_groups
        if (t.account_id, t.region) not in discovering
    }
    arns |= {
        f"arn:aws:logs:{region}:{account}:log-group:/aws/rds/{kind}/*"
        for account, region in discovering
        for kind in ("cluster", "instance", "proxy")
    }
    arns |= {  # a configured proxy's own log group (`pgwarden doctor` reads it)
        f"arn:aws:logs:{t.region}:{t.account_id}:log-group:{proxy_log_group(t.proxy_name)}"
        for t in _watched(config)
        if t.proxy_name and (t.account_id, t.region) not in discovering
    }
    return sorted(arns)


def _log_files(config: Config) -> list[str]:
    """The instances whose log files the rds-api source reads (a cluster's: any member)."""
    arns = set()
    for t in _watched(config):
        if t.log_groups:
            ident = t.instance_id if t.instance_id and not t.cluster_id else "*"
            arns.add(f"arn:aws:rds:{t.region}:{t.account_id}:db:{ident}")
    arns |= {f"arn:aws:rds:{r}:{a}:db:*" for a, r, discovers in _places(config) if discovers}
    return sorted(arns)


def _db_users(config: Config) -> list[str]:
    users = {(t.region, t.account_id, t.db_user) for t in configured_targets(config)}
    users |= {
        (r, a, account.db_user)
        for account in config.accounts
        for a, r, discovers in _places(config)
        if discovers and a == account.id
    }
    return sorted(f"arn:aws:rds-db:{r}:{a}:dbuser:*/{u}" for r, a, u in users)


@dataclass(frozen=True)
class _AthenaUse:
    """One engine's queries: where they run, the table they read, and its S3 prefixes."""

    region: str
    workgroup: str
    database: str
    table: str
    results: str | None  # bucket/prefix Athena writes results to
    data: str | None  # bucket/prefix the table's files are in


def _athena_uses(config: Config) -> list[_AthenaUse]:
    """The engines that run on Athena: the trail's and the log source's, when enabled."""
    uses = []
    trail = config.cloudtrail
    if trail.enabled and trail.engine == "athena":
        prefix = f"{trail.prefix.strip('/')}/" if trail.prefix.strip("/") else ""
        uses.append(
            _AthenaUse(
                trail.region or config.aws.region, trail.workgroup, trail.athena_database,
                trail.athena_table, _s3_path(trail.output_location),
                f"{trail.bucket}/{prefix}AWSLogs" if trail.bucket else None,
            )
        )  # fmt: skip
    logs = config.pglogs.athena
    if config.pglogs.enabled and "athena" in config.pglogs.sources and logs.engine == "athena":
        db, _, table = logs.table.rpartition(".")
        uses.append(
            _AthenaUse(
                logs.region or config.aws.region, logs.workgroup, db or logs.database, table,
                _s3_path(logs.output_location), _s3_path(logs.logs_location),
            )
        )  # fmt: skip
    return uses


def _athena(config: Config) -> dict[str, list[str]]:
    """The ARNs of Athena, Glue and S3 actions, over every engine that runs on Athena."""
    accounts = config.aws.management_accounts or ["*"]
    out: dict[str, set[str]] = {}

    def allow(actions: Iterable[str], arns: Iterable[str]) -> None:
        arns = set(arns)
        for action in actions:
            out.setdefault(action, set()).update(arns)

    for use in _athena_uses(config):
        at = [f"{use.region}:{a}" for a in accounts]
        catalog = [
            f"arn:aws:glue:{x}:{y}" for x in at for y in ("catalog", f"database/{use.database}")
        ]
        read = [p for p in (use.data, use.results) if p]
        allow(
            [a for a in ATHENA_ACTIONS if a.startswith("athena:")],
            [f"arn:aws:athena:{x}:workgroup/{use.workgroup}" for x in at],
        )
        allow(["glue:GetDatabase"], catalog)
        allow(
            ["glue:GetTable"],
            catalog + [f"arn:aws:glue:{x}:table/{use.database}/{use.table}" for x in at],
        )
        allow(
            ["s3:GetBucketLocation", "s3:ListBucket"],
            (f"arn:aws:s3:::{p.split('/', 1)[0]}" for p in read),
        )
        allow(["s3:GetObject"], (f"arn:aws:s3:::{p}/*" for p in read))
        if use.results:
            allow(["s3:PutObject", "s3:AbortMultipartUpload"], [f"arn:aws:s3:::{use.results}/*"])
    return {action: sorted(arns) for action, arns in out.items()}


def _s3_path(uri: str | None) -> str | None:
    """s3://bucket/prefix/ -> bucket/prefix (no trailing slash)."""
    return uri.removeprefix("s3://").rstrip("/") if uri else None


def _rules(config: Config) -> dict[str, list[str]]:
    """For each action a part may declare, the ARNs it is allowed on, from the config.

    An empty list means the config names nothing the action would apply to (no secret
    ARNs, no results bucket...), and the action is left out.
    """
    regions = sorted({r for _, r, _ in _places(config)} or {config.aws.region})
    accounts = sorted({a for a, _, _ in _places(config)}) or ["*"]
    where = [(r, a) for r in regions for a in accounts]
    report_bucket, report_prefix = _split_s3(config.reports.s3_uri)
    reports = [f"arn:aws:s3:::{report_bucket}/{report_prefix}*"] if report_bucket else []
    kms = _report_keys(config) if reports else []
    athena = _athena(config)
    log_groups = _log_groups(config)
    log_files = _log_files(config)

    def proxy_parts(kind: str) -> list[str]:
        """A proxy's calls are authorised on the proxy and on its target group or endpoint."""
        return [f"arn:aws:rds:{r}:{a}:{k}:*" for r, a in where for k in ("db-proxy", kind)]

    return {
        "sts:AssumeRole": sorted({a.role_arn for a in config.accounts if a.role_arn}),
        "secretsmanager:GetSecretValue": sorted(
            ref for ref in _secret_refs(config) if ref.startswith("arn:")
        ),
        "rds-db:connect": _db_users(config),
        # Discovery lists every cluster and instance: no resource-level permission applies.
        "rds:DescribeDBClusters": list(_ANY),
        "rds:DescribeDBInstances": list(_ANY),
        "rds:DescribeDBLogFiles": log_files,
        "rds:DownloadDBLogFilePortion": log_files,
        # The doctor reads parameter groups and proxies.
        "rds:DescribeDBClusterParameters": [f"arn:aws:rds:{r}:{a}:cluster-pg:*" for r, a in where],
        "rds:DescribeDBParameters": [f"arn:aws:rds:{r}:{a}:pg:*" for r, a in where],
        "rds:DescribeDBProxies": [f"arn:aws:rds:{r}:{a}:db-proxy:*" for r, a in where],
        "rds:DescribeDBProxyTargets": proxy_parts("target-group"),
        "rds:DescribeDBProxyTargetGroups": proxy_parts("target-group"),
        "rds:DescribeDBProxyEndpoints": proxy_parts("db-proxy-endpoint"),
        "ec2:DescribeSubnets": list(_ANY),  # no resource-level permission
        # DescribeLogGroups lists by prefix: it is authorised on the account's log groups.
        "logs:DescribeLogGroups": [f"arn:aws:logs:{r}:{a}:log-group:*" for r, a in where],
        "logs:FilterLogEvents": log_groups,
        "logs:DescribeLogStreams": log_groups,
        "iam:GetAccountAuthorizationDetails": list(_ANY),  # no resource-level permission
        "iam:GetRole": [f"arn:aws:iam::{a}:role/*" for a in accounts],
        **{action: athena.get(action, []) for action in ATHENA_ACTIONS},
        "s3:PutObject": athena.get("s3:PutObject", []) + reports,
        "s3:AbortMultipartUpload": athena.get("s3:AbortMultipartUpload", []) + reports,
        "kms:GenerateDataKey": kms,
        "kms:Decrypt": kms,
    }


def _report_keys(config: Config) -> list[str]:
    """The KMS key the weekly report is encrypted with. A policy names a KMS key by its
    ARN; an alias or a bare key id cannot be matched there: any key of the accounts."""
    key = config.reports.s3_kms_key_id
    if not key:
        return []
    if key.startswith("arn:"):
        return [key]
    region = config.cloudtrail.region or config.aws.region
    return [f"arn:aws:kms:{region}:{a}:key/*" for a in config.aws.management_accounts or ["*"]]


def needed_actions(config: Config) -> tuple[set[str], set[str]]:
    """(monitor role, management role) actions the enabled parts of this config declare."""
    from monitor.doctor.checks import groups
    from monitor.outputs.reports import publish
    from monitor.sources.discovery import DISCOVERY_ACTIONS
    from monitor.sources.proxies import PROXY_ACTIONS

    monitor: set[str] = set()
    management: set[str] = set()
    for spec in stage_specs():
        access = spec.needs(config)
        monitor.update(access.monitor)
        management.update(access.management)
    if any(a.discover for a in config.accounts):
        monitor.update(DISCOVERY_ACTIONS)
    if any(t.endpoint_type == "proxy" for t in config.targets):
        monitor.update(PROXY_ACTIONS)  # a configured proxy is described as discovery does
    monitor.update(a for g in groups() if g.applies(config) for a in g.iam_actions)
    if config.reports.enabled and config.reports.s3_uri:
        management.update(publish.IAM_ACTIONS)
    return monitor, management


def management_policy(config: Config) -> Document:
    return _policy(config, needed_actions(config)[1])


def monitor_policy(config: Config) -> Document:
    return _policy(config, needed_actions(config)[0])


def trust_policy(config: Config) -> Document:
    """Only pgwarden's runner role may assume a monitor role, and only with the ExternalId.

    Naming the role, not `arn:aws:iam::<mgmt>:root`, keeps every other principal of the
    management account out, whatever its own policies allow. IAM binds the statement to
    the role's unique id: a role deleted and re-created under the same name must be
    written into the trust policy again.
    """
    runner = config.aws.runner_role_arn
    if runner is None:
        raise PgwardenError(
            "aws.runner_role_arn: name the role pgwarden runs as; the monitor roles' trust "
            "policy lets exactly that role assume them"
        )
    condition: dict[str, dict[str, str]] = {
        "StringEquals": {"sts:ExternalId": EXTERNAL_ID_PLACEHOLDER}
    }
    if config.aws.principal_org_id:
        condition["StringEquals"]["aws:PrincipalOrgID"] = config.aws.principal_org_id
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PgwardenAssumesMonitorRole",
                "Effect": "Allow",
                "Principal": {"AWS": runner},
                "Action": "sts:AssumeRole",
                "Condition": condition,
            }
        ],
    }


def documents(config: Config) -> dict[str, Document]:
    """Every document by its file stem (deploy/iam-<stem>.json)."""
    return {
        "management-policy": management_policy(config),
        "monitor-policy": monitor_policy(config),
        "monitor-trust-policy": trust_policy(config),
    }


def render(document: Mapping[str, object]) -> str:
    return json.dumps(document, indent=2) + "\n"


def _policy(config: Config, actions: Iterable[str]) -> Document:
    """One statement per set of resources, actions sorted: stable output to diff and test."""
    rules = _rules(config)
    grouped: dict[tuple[str, ...], list[str]] = {}
    for action in sorted(set(actions)):
        if action not in rules:
            raise PgwardenError(
                f"{action}: no resource rule in monitor/outputs/policies.py; add one"
            )
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
    refs = [a.external_id for a in config.accounts]
    if slack.enabled:
        refs += [slack.token, slack.webhook_url]
    return [r for r in refs if r]


def _split_s3(uri: str | None) -> tuple[str | None, str]:
    if not uri:
        return None, ""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix
