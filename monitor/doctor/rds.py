"""Per-target checks through the RDS API: the cluster, instance or proxy exists, IAM
database authentication is on, the PostgreSQL log is exported to CloudWatch Logs, and the
parameter group logs connections and disconnections (and forces TLS).

An Aurora instance endpoint takes its IAM and log settings from its cluster; an RDS Proxy
target is checked as a proxy (IAM auth REQUIRED, a registered target), and its logs and
parameters on the database behind it.

IAM (monitor role): rds:DescribeDBClusters, rds:DescribeDBInstances, rds:DescribeDBProxies,
rds:DescribeDBProxyTargets, rds:DescribeDBClusterParameters, rds:DescribeDBParameters.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from monitor.doctor.accounts import account_key, role_policy_fix
from monitor.doctor.checks import DoctorContext, Outcome, fail, group, ok, warn
from monitor.sources.targets import Target

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import (
        DBClusterTypeDef,
        DBInstanceTypeDef,
        UserAuthConfigInfoTypeDef,
    )

PARAMETERS = {"log_connections": "fail", "log_disconnections": "fail", "rds.force_ssl": "warn"}
CHECKS = ("exists", "iam-auth", "proxy-iam-auth", "proxy-target", "log-export", *PARAMETERS)
DB_CHECKS = ("log-export", *PARAMETERS)
IAM_ACTIONS = (
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:DescribeDBProxies",
    "rds:DescribeDBProxyTargets",
    "rds:DescribeDBClusterParameters",
    "rds:DescribeDBParameters",
)
_NOT_FOUND = {"DBClusterNotFoundFault", "DBInstanceNotFound", "DBProxyNotFoundFault"}
_ON = {"1", "on", "true"}


@dataclass(frozen=True)
class DbFacts:
    """What the RDS API says about the cluster or instance behind a target."""

    kind: Literal["cluster", "instance"]
    ident: str
    region: str
    engine: str
    engine_version: str
    iam_auth: bool
    log_exports: tuple[str, ...]
    parameter_group: str
    resource_id: str | None = None
    security_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProxyFacts:
    name: str
    region: str
    resource_id: str  # prx-...: what rds-db:connect grants name for a proxy
    auth: tuple[UserAuthConfigInfoTypeDef, ...]
    targets: tuple[tuple[str, str], ...]  # (Type, RdsResourceId)


class NotFound(Exception):
    """The named cluster, instance or proxy is not there; carries what is."""

    def __init__(self, what: str, known: list[str]) -> None:
        self.what, self.known = what, known
        super().__init__(what)


@dataclass
class _Found:
    """What the exists check found, for the checks after it."""

    proxy: ProxyFacts | None = None
    db: DbFacts | None = None


def facts_key(target: Target) -> str:
    return f"rds:{target.name}"


def rds_facts(ctx: DoctorContext, target: Target) -> DbFacts | None:
    """What the rds group learnt about the target, if it could."""
    facts = ctx.facts.get(facts_key(target))
    return facts if isinstance(facts, DbFacts) else None


def connect_key(target: Target) -> str:
    """Where the resource id `rds-db:connect` names for this target is kept."""
    return f"connect:{target.name}"


@group("rds", CHECKS, IAM_ACTIONS)
def check_rds(ctx: DoctorContext) -> None:
    for target in ctx.targets:
        check_target(ctx, target)


def check_target(ctx: DoctorContext, target: Target) -> None:
    name = target.name
    checks = ("proxy-iam-auth", "proxy-target") if target.proxy_name else ("iam-auth",)
    if ctx.skip_if_blocked(
        "rds", name, ("exists", *checks, *DB_CHECKS), account_key(target.account_id)
    ):
        return
    rds = ctx.aws.rds(target.region, target.account_id)
    found = _Found()

    def exists() -> Outcome:
        return describe(rds, target, ctx.config.account(target.account_id).role_arn, found)

    if ctx.attempt("rds", name, "exists", exists).status == "fail":
        ctx.block(
            facts_key(target), f"{name} not found through the RDS API", f"the rds {name} exists row"
        )
        ctx.skip_if_blocked("rds", name, (*checks, *DB_CHECKS), facts_key(target))
        return
    proxy, db = found.proxy, found.db
    if proxy is not None:
        ctx.record("rds", name, "proxy-iam-auth", judge_proxy_auth(proxy))
        ctx.record("rds", name, "proxy-target", judge_proxy_targets(proxy))
        if db is None:
            ctx.block(
                facts_key(target),
                f"proxy {proxy.name} has no target",
                f"the rds {name} proxy-target row",
            )
            ctx.skip_if_blocked("rds", name, DB_CHECKS, facts_key(target))
            return
    else:
        assert db is not None
        ctx.record("rds", name, "iam-auth", judge_iam_auth(db))
    ctx.facts[facts_key(target)] = db
    ctx.facts[connect_key(target)] = proxy.resource_id if proxy else db.resource_id
    ctx.record("rds", name, "log-export", judge_log_exports(db))
    parameters: dict[str, str | None] = {}

    def first_parameter() -> Outcome:
        parameters.update(read_parameters(rds, db))
        return judge_parameter(db, parameters, "log_connections")

    ctx.attempt("rds", name, "log_connections", first_parameter)
    rest = list(PARAMETERS)[1:]
    if not parameters:
        where = f"the rds {name} log_connections row"
        ctx.block(facts_key(target), f"parameter group {db.parameter_group} unreadable", where)
        ctx.skip_if_blocked("rds", name, rest, facts_key(target))
        return
    for parameter in rest:
        ctx.record("rds", name, parameter, judge_parameter(db, parameters, parameter))


def describe(rds: RDSClient, target: Target, role_arn: str | None, found: _Found) -> Outcome:
    """Fill `found` with the proxy and database facts; the exists row."""
    from botocore.exceptions import ClientError

    try:
        if target.proxy_name:
            proxy = describe_proxy(rds, target.proxy_name, target.region)
            found.proxy = proxy
            backing = next(iter(proxy.targets), None)
            if backing is not None:
                tracked = backing[0] == "TRACKED_CLUSTER"
                kind: Literal["cluster", "instance"] = "cluster" if tracked else "instance"
                found.db = describe_db(rds, kind, backing[1], target.region)
            return ok(f"proxy {proxy.name} in {target.account_name} {target.region}")
        if target.cluster_id:
            db = describe_db(rds, "cluster", target.cluster_id, target.region)
        else:
            assert target.instance_id is not None
            db = describe_db(rds, "instance", target.instance_id, target.region)
        found.db = db
    except NotFound as exc:
        known = ", ".join(exc.known[:5]) or "none"
        return fail(
            f"{exc.what} not found in account {target.account_id} {target.region}; there: {known}",
            f"set cluster_id, instance_id or proxy_name of [[targets]] {target.name} "
            "to one that exists (or its region)",
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return fail(
            f"{error.get('Code')}: {error.get('Message', '')}",
            role_policy_fix(role_arn, "pgwarden-rds-read", IAM_ACTIONS, "*"),
        )
    what = f"{db.engine} {db.engine_version} {db.kind} {db.ident}"
    return ok(f"{what} (IAM resource {db.resource_id})" if db.resource_id else what)


def describe_proxy(rds: RDSClient, name: str, region: str) -> ProxyFacts:
    from botocore.exceptions import ClientError

    try:
        proxy = rds.describe_db_proxies(DBProxyName=name)["DBProxies"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _NOT_FOUND:
            raise
        known = [p["DBProxyName"] for p in rds.describe_db_proxies().get("DBProxies", [])]
        raise NotFound(f"proxy {name}", known) from None
    targets = rds.describe_db_proxy_targets(DBProxyName=name).get("Targets", [])
    return ProxyFacts(
        name,
        region,
        str(proxy.get("DBProxyArn", "")).rsplit(":", 1)[-1],
        tuple(proxy.get("Auth", [])),
        tuple(
            (t.get("Type", ""), t["RdsResourceId"])
            for t in targets
            if t.get("Type") in ("TRACKED_CLUSTER", "RDS_INSTANCE") and t.get("RdsResourceId")
        ),
    )


def describe_db(
    rds: RDSClient, kind: Literal["cluster", "instance"], ident: str, region: str
) -> DbFacts:
    """A cluster, or an instance; an Aurora instance answers with its cluster's settings."""
    from botocore.exceptions import ClientError

    if kind == "cluster":
        try:
            cluster = rds.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in _NOT_FOUND:
                raise
            clusters = rds.get_paginator("describe_db_clusters").paginate()
            known = [c["DBClusterIdentifier"] for p in clusters for c in p["DBClusters"]]
            raise NotFound(f"{kind} {ident}", known) from None
        group = cluster.get("DBClusterParameterGroup", "")
        return _db_facts(kind, ident, region, cluster, group, cluster.get("DbClusterResourceId"))
    try:
        instance = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _NOT_FOUND:
            raise
        instances = rds.get_paginator("describe_db_instances").paginate()
        known = [i["DBInstanceIdentifier"] for p in instances for i in p["DBInstances"]]
        raise NotFound(f"{kind} {ident}", known) from None
    if instance.get("DBClusterIdentifier"):
        return describe_db(rds, "cluster", instance["DBClusterIdentifier"], region)
    groups = instance.get("DBParameterGroups", [])
    group = groups[0]["DBParameterGroupName"] if groups else ""
    return _db_facts(kind, ident, region, instance, group, instance.get("DbiResourceId"))


def _db_facts(
    kind: Literal["cluster", "instance"],
    ident: str,
    region: str,
    r: DBClusterTypeDef | DBInstanceTypeDef,
    group: str,
    resource_id: str | None,
) -> DbFacts:
    return DbFacts(
        kind,
        ident,
        region,
        r.get("Engine", ""),
        r.get("EngineVersion", ""),
        bool(r.get("IAMDatabaseAuthenticationEnabled")),
        tuple(r.get("EnabledCloudwatchLogsExports", [])),
        group,
        resource_id,
        tuple(g["VpcSecurityGroupId"] for g in r.get("VpcSecurityGroups", [])),
    )


def read_parameters(rds: RDSClient, db: DbFacts) -> dict[str, str | None]:
    """The parameter group's values of PARAMETERS; None where no value is set."""
    if db.kind == "cluster":
        pages = rds.get_paginator("describe_db_cluster_parameters").paginate(
            DBClusterParameterGroupName=db.parameter_group
        )
    else:
        pages = rds.get_paginator("describe_db_parameters").paginate(
            DBParameterGroupName=db.parameter_group
        )
    values: dict[str, str | None] = dict.fromkeys(PARAMETERS)
    for page in pages:
        for p in page.get("Parameters", []):
            if p.get("ParameterName") in values:
                values[p["ParameterName"]] = p.get("ParameterValue")
    return values


# -- judges (pure) ------------------------------------------------------------------------------


def modify_command(db: DbFacts) -> str:
    if db.kind == "cluster":
        return f"aws rds modify-db-cluster --region {db.region} --db-cluster-identifier {db.ident}"
    return f"aws rds modify-db-instance --region {db.region} --db-instance-identifier {db.ident}"


def judge_iam_auth(db: DbFacts) -> Outcome:
    if db.iam_auth:
        return ok("IAMDatabaseAuthenticationEnabled is true")
    return fail(
        f"IAM database authentication is off on {db.kind} {db.ident}: tokens are refused",
        f"{modify_command(db)} --enable-iam-database-authentication --apply-immediately",
    )


def export_fix(db: DbFacts, missing: list[str]) -> str:
    config = json.dumps({"EnableLogTypes": missing}, separators=(",", ":"))
    return (
        f"{modify_command(db)} --cloudwatch-logs-export-configuration "
        f"{shlex.quote(config)} --apply-immediately"
    )


def judge_log_exports(db: DbFacts) -> Outcome:
    exports = set(db.log_exports)
    missing = [t for t in ("postgresql", "iam-db-auth-error") if t not in exports]
    shown = ", ".join(sorted(exports)) or "none"
    if "postgresql" in missing:
        return fail(
            f"exports {shown}: the PostgreSQL log (logins, failures) never reaches CloudWatch",
            export_fix(db, missing),
        )
    if missing:
        return warn(
            f"exports {shown}: add iam-db-auth-error to see why IAM logins are refused",
            export_fix(db, missing),
        )
    return ok(f"exports {shown}")


def family(db: DbFacts) -> str:
    """The parameter group family: aurora-postgresql15, postgres16..."""
    return f"{db.engine}{db.engine_version.split('.')[0]}"


def parameter_fix(db: DbFacts, names: list[str]) -> str:
    """Set `names` to 1; a default group cannot be changed, so make and attach a custom one."""
    scope = "db-cluster-parameter-group" if db.kind == "cluster" else "db-parameter-group"
    values = " ".join(f"ParameterName={n},ParameterValue=1,ApplyMethod=immediate" for n in names)
    custom = db.parameter_group
    steps = []
    if custom.startswith("default."):
        custom = f"pgwarden-{family(db)}"
        steps.append(
            f"aws rds create-{scope} --region {db.region} --{scope}-name {custom} "
            f"--db-parameter-group-family {family(db)} --description pgwarden-logging"
        )
    steps.append(
        f"aws rds modify-{scope} --region {db.region} --{scope}-name {custom} --parameters {values}"
    )
    if custom != db.parameter_group:
        steps.append(f"{modify_command(db)} --{scope}-name {custom} --apply-immediately")
    return " && ".join(steps)


def judge_parameter(db: DbFacts, values: dict[str, str | None], name: str) -> Outcome:
    value = values.get(name)
    where = f"{db.parameter_group}: {name} = {value if value is not None else '(not set)'}"
    if value is not None and value.lower() in _ON:
        return ok(where)
    if name == "rds.force_ssl":
        return warn(f"{where}: clients may connect without TLS", parameter_fix(db, [name]))
    # A default group is fixed once for every parameter pgwarden needs, not one at a time.
    names = [n for n in PARAMETERS if (values.get(n) or "").lower() not in _ON]
    off = names if db.parameter_group.startswith("default.") else [name]
    return fail(f"{where}: logins and sessions are not logged", parameter_fix(db, off))


def judge_proxy_auth(proxy: ProxyFacts) -> Outcome:
    modes = [a.get("IAMAuth", "DISABLED") for a in proxy.auth]
    if modes and all(m == "REQUIRED" for m in modes):
        return ok("IAMAuth REQUIRED")
    auth = [{**a, "IAMAuth": "REQUIRED"} for a in proxy.auth]
    return fail(
        f"IAMAuth {', '.join(modes) or 'not set'}: clients may log in without an IAM token",
        f"aws rds modify-db-proxy --region {proxy.region} --db-proxy-name {proxy.name} "
        f"--auth {shlex.quote(json.dumps(auth, separators=(',', ':')))}",
    )


def judge_proxy_targets(proxy: ProxyFacts) -> Outcome:
    if proxy.targets:
        return ok(", ".join(f"{kind} {ident}" for kind, ident in proxy.targets))
    return fail(
        f"proxy {proxy.name} has no registered cluster or instance",
        f"aws rds register-db-proxy-targets --region {proxy.region} --db-proxy-name "
        f"{proxy.name} --db-cluster-identifiers CLUSTER_ID",
    )
