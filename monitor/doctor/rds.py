"""Per-target checks through the RDS API: the cluster or instance exists, IAM database
authentication is on, the PostgreSQL log is exported to CloudWatch Logs, and the parameter
group logs connections and disconnections (and forces TLS).

An Aurora instance endpoint takes its IAM and log settings from its cluster. An RDS Proxy
target's proxy is not described again here: it is the one target resolution described
(`ctx.proxies`, whose auth and registered targets the proxies group judges), and its logs
and parameters are checked on the database registered behind it.

IAM (monitor role): rds:DescribeDBClusters, rds:DescribeDBInstances,
rds:DescribeDBClusterParameters, rds:DescribeDBParameters.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from monitor.doctor.accounts import account_key, role_policy_fix
from monitor.doctor.checks import DoctorContext, Outcome, fail, group, ok, warn
from monitor.sources.proxies import PROXY_ACTIONS
from monitor.sources.targets import Target

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_rds.type_defs import DBClusterTypeDef, DBInstanceTypeDef

PARAMETERS = {"log_connections": "fail", "log_disconnections": "fail", "rds.force_ssl": "warn"}
CHECKS = ("exists", "iam-auth", "log-export", *PARAMETERS)
DB_CHECKS = ("log-export", *PARAMETERS)
IAM_ACTIONS = (
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:DescribeDBClusterParameters",
    "rds:DescribeDBParameters",
)
_NOT_FOUND = {"DBClusterNotFoundFault", "DBInstanceNotFound"}
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


class NotFound(Exception):
    """The named cluster or instance is not there; carries what is."""

    def __init__(self, what: str, known: list[str]) -> None:
        self.what, self.known = what, known
        super().__init__(what)


@dataclass
class _Found:
    """What the exists check found, for the checks after it: the database, the resource id
    `rds-db:connect` names (a proxy's prx-... for a proxy target), or why a proxy target
    has no database to check (the reason, and the row to fix first)."""

    db: DbFacts | None = None
    resource_id: str | None = None
    blocked: tuple[str, str] | None = None


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
    name, key = target.name, facts_key(target)
    checks = () if target.proxy_name else ("iam-auth",)
    if ctx.skip_if_blocked(
        "rds", name, ("exists", *checks, *DB_CHECKS), account_key(target.account_id)
    ):
        return
    rds = ctx.aws.rds(target.region, target.account_id)
    found = _Found()

    def exists() -> Outcome:
        return describe(ctx, rds, target, found)

    failed = ctx.attempt("rds", name, "exists", exists).status == "fail"
    db = found.db
    if failed or db is None:  # or a proxy with no database behind it that is known
        why = f"{name} not found through the RDS API", f"the rds {name} exists row"
        ctx.block(key, *(found.blocked or why))
        ctx.skip_if_blocked("rds", name, (*checks, *DB_CHECKS) if failed else DB_CHECKS, key)
        return
    if not target.proxy_name:
        ctx.record("rds", name, "iam-auth", judge_iam_auth(db))
    ctx.facts[key] = db
    ctx.facts[connect_key(target)] = found.resource_id
    ctx.record("rds", name, "log-export", judge_log_exports(db))
    parameters: dict[str, str | None] = {}

    def first_parameter() -> Outcome:
        parameters.update(read_parameters(rds, db))
        return judge_parameter(db, parameters, "log_connections")

    ctx.attempt("rds", name, "log_connections", first_parameter)
    rest = list(PARAMETERS)[1:]
    if not parameters:
        where = f"the rds {name} log_connections row"
        ctx.block(key, f"parameter group {db.parameter_group} unreadable", where)
        ctx.skip_if_blocked("rds", name, rest, key)
        return
    for parameter in rest:
        ctx.record("rds", name, parameter, judge_parameter(db, parameters, parameter))


def describe(ctx: DoctorContext, rds: RDSClient, target: Target, found: _Found) -> Outcome:
    """Fill `found` with the database (behind the proxy, for a proxy target); the exists row."""
    from botocore.exceptions import ClientError

    try:
        if target.proxy_name:
            return behind_proxy(ctx, rds, target, found)
        kind: Literal["cluster", "instance"] = "cluster" if target.cluster_id else "instance"
        ident = target.cluster_id or target.instance_id
        assert ident is not None
        db = found.db = describe_db(rds, kind, ident, target.region)
        found.resource_id = db.resource_id
    except NotFound as exc:
        known = ", ".join(exc.known[:5]) or "none"
        return fail(
            f"{exc.what} not found in account {target.account_id} {target.region}; there: {known}",
            register_fix(target.region, target.proxy_name)
            if target.proxy_name
            else f"set cluster_id or instance_id of [[targets]] {target.name} "
            "to one that exists (or its region)",
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return fail(
            f"{error.get('Code')}: {error.get('Message', '')}",
            role_policy_fix(
                ctx.config.account(target.account_id).role_arn,
                "pgwarden-rds-read",
                IAM_ACTIONS,
                "*",
            ),
        )
    return ok(describe_line(db))


def describe_line(db: DbFacts) -> str:
    what = f"{db.engine} {db.engine_version} {db.kind} {db.ident}"
    return f"{what} (IAM resource {db.resource_id})" if db.resource_id else what


def behind_proxy(ctx: DoctorContext, rds: RDSClient, target: Target, found: _Found) -> Outcome:
    """The proxy as target resolution described it, and the database registered behind it."""
    name = target.proxy_name
    where = (target.account_id, target.region, name)
    notes = [n.text for n in ctx.notes if (n.account_id, n.region, n.proxy) == where]
    proxy = next((p for p in ctx.proxies if (p.account_id, p.region, p.name) == where), None)
    if proxy is None:
        found.blocked = (f"{target.name} not described", f"the rds {target.name} exists row")
        return fail(
            "; ".join(notes) or f"proxy {name} of target {target.name}: not described",
            f"set proxy_name of [[targets]] {target.name} to a proxy in {target.account_id} "
            f"{target.region}; if the error is AccessDenied, allow {','.join(PROXY_ACTIONS)} "
            "to its monitor role",
        )
    found.resource_id = proxy.arn.rsplit(":", 1)[-1] or None  # prx-...: what grants name
    subject = f"proxy {proxy.name}"
    if proxy.databases is None:
        row = "described row" if notes else "rows"
        found.blocked = (f"what {subject} fronts is unknown", f"the proxies {subject} {row}")
        return ok(f"{subject} in {target.account_name} {target.region}")
    if not proxy.databases:
        found.blocked = (f"{subject} has no target", f"the proxies {subject} fronts row")
        return ok(f"{subject} in {target.account_name} {target.region}")
    kind, ident = proxy.databases[0]
    db = found.db = describe_db(rds, kind, ident, target.region)
    return ok(f"{subject} in front of {describe_line(db)}")


def register_fix(region: str, proxy: str) -> str:
    return (
        f"aws rds register-db-proxy-targets --region {region} --db-proxy-name {proxy} "
        "--db-cluster-identifiers CLUSTER_ID"
    )


def describe_db(
    rds: RDSClient, kind: Literal["cluster", "instance"], ident: str, region: str
) -> DbFacts:
    """A cluster, or an instance; an Aurora instance answers with its cluster's settings."""
    from botocore.exceptions import ClientError

    try:
        if kind == "cluster":
            cluster = rds.describe_db_clusters(DBClusterIdentifier=ident)["DBClusters"][0]
            group = cluster.get("DBClusterParameterGroup", "")
            resource_id = cluster.get("DbClusterResourceId")
            return _db_facts(kind, ident, region, cluster, group, resource_id)
        instance = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _NOT_FOUND:
            raise
        raise NotFound(f"{kind} {ident}", known_databases(rds, kind)) from None
    if instance.get("DBClusterIdentifier"):
        return describe_db(rds, "cluster", instance["DBClusterIdentifier"], region)
    groups = instance.get("DBParameterGroups", [])
    group = groups[0]["DBParameterGroupName"] if groups else ""
    return _db_facts(kind, ident, region, instance, group, instance.get("DbiResourceId"))


def known_databases(rds: RDSClient, kind: Literal["cluster", "instance"]) -> list[str]:
    """The identifiers of the region's clusters, or instances: what a not-found row lists."""
    if kind == "cluster":
        clusters = rds.get_paginator("describe_db_clusters").paginate()
        return [c["DBClusterIdentifier"] for p in clusters for c in p["DBClusters"]]
    instances = rds.get_paginator("describe_db_instances").paginate()
    return [i["DBInstanceIdentifier"] for p in instances for i in p["DBInstances"]]


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
