"""Log source checks: each target's CloudWatch log groups exist and the PostgreSQL one had
events in the last hour; in file mode, each configured file can be read.

IAM (monitor role): logs:DescribeLogGroups, logs:FilterLogEvents.
"""

from __future__ import annotations

import getpass
import shlex
from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor.doctor.accounts import account_key
from monitor.doctor.checks import DoctorContext, Outcome, fail, group, ok, warn
from monitor.doctor.rds import export_fix, rds_facts
from monitor.errors import LogInputError
from monitor.sources.logfiles import log_paths, open_log
from monitor.sources.pglogs import log_groups
from monitor.targets import Target

CHECKS = ("enabled", "postgresql", "iam-db-auth-error", "file")
IAM_ACTIONS = ("logs:DescribeLogGroups", "logs:FilterLogEvents")


@group("logs", CHECKS, IAM_ACTIONS)
def check_logs(ctx: DoctorContext) -> None:
    opts = ctx.config.pglogs
    if not opts.enabled:
        ctx.record(
            "logs",
            "[pglogs]",
            "enabled",
            warn("[pglogs] is disabled: failed logins go unseen", "enabled = true  # in [pglogs]"),
        )
        return
    if "cloudwatch" in opts.sources:
        configured = {t.name for t in ctx.config.targets}
        for target in ctx.targets:
            if target.name in configured:  # pglogs reads configured targets only
                check_log_groups(ctx, target)
    if "files" in opts.sources:
        for path in opts.files:
            ctx.attempt("logs", path.name, "file", lambda path=path: readable(path))  # type: ignore[misc]


def check_log_groups(ctx: DoctorContext, target: Target) -> None:
    groups = log_groups_of(ctx, target)
    kinds = [g.rsplit("/", 1)[-1] for g in groups]
    if ctx.skip_if_blocked("logs", target.name, kinds, account_key(target.account_id)):
        return
    logs = ctx.aws.client("logs", target.region, target.account_id)
    for name, kind in zip(groups, kinds, strict=True):
        ctx.attempt(
            "logs",
            target.name,
            kind,
            lambda name=name: log_group(ctx, logs, target, name),  # type: ignore[misc]
        )


def log_groups_of(ctx: DoctorContext, target: Target) -> list[str]:
    """The groups pglogs reads for a target (none for a proxy: it reads clusters)."""
    config = next(t for t in ctx.config.targets if t.name == target.name)
    return log_groups(config)


def log_group(ctx: DoctorContext, logs: Any, target: Target, name: str) -> Outcome:
    found = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    db = rds_facts(ctx, target)
    kind = name.rsplit("/", 1)[-1]
    if not any(g.get("logGroupName") == name for g in found):
        what = f"no log group {name}: RDS has not exported this log"
        fix = export_fix(db, [kind]) if db else f"fix the rds {target.name} rows first"
        return fail(what, fix) if kind == "postgresql" else warn(what, fix)
    if kind != "postgresql":
        return ok(f"{name} exists")
    now = ctx.clock.now()
    page = logs.filter_log_events(
        logGroupName=name,
        startTime=int((now - timedelta(hours=1)).timestamp() * 1000),
        endTime=int(now.timestamp() * 1000),
        limit=1,
    )
    if page.get("events"):
        return ok(f"{name} has events in the last hour")
    return warn(
        f"{name} has no events in the last hour: is log_connections on (see the rds rows)?",
        f"aws logs tail {name} --since 1h --region {target.region}",
    )


def readable(path: Path) -> Outcome:
    quoted = shlex.quote(str(path))
    try:
        names = log_paths([path])
        for name in names:
            with open_log(name) as stream:
                stream.read(1)
    except LogInputError as exc:
        if not path.exists():
            return fail(str(exc), f'files = ["EXISTING_LOG_PATH"]  # in [pglogs], not {path}')
        return fail(str(exc), f"sudo setfacl -R -m u:{getpass.getuser()}:rX {quoted}")
    if not names:
        return warn(
            f"{path} holds no log files yet",
            'files = ["THE_SERVER_LOG_DIRECTORY"]  # in [pglogs]',
        )
    if names == [str(path)]:
        return ok(f"{path} is readable")
    return ok(f"{path}: {len(names)} readable files")
