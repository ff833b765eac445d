"""Log source checks, per resolved target (configured or discovered): each target's
CloudWatch log groups exist, the PostgreSQL one has streams and had events in the last
hour; each target's files can be read; and every target is read by some source.

IAM (monitor role): logs:DescribeLogGroups, and what the cloudwatch log source itself
reads (logs:DescribeLogStreams, logs:FilterLogEvents; monitor/sources/pglogs/cloudwatch.py).
"""

from __future__ import annotations

import getpass
import shlex
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config import Config
from monitor.doctor.accounts import account_key
from monitor.doctor.checks import DoctorContext, Outcome, fail, group, ok, warn
from monitor.doctor.rds import export_fix, rds_facts
from monitor.errors import LogInputError
from monitor.sources.logfiles import log_paths, open_log
from monitor.sources.pglogs.ingest import LOG_SOURCES
from monitor.sources.targets import Target

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

CHECKS = ("enabled", "read", "postgresql", "iam-db-auth-error", "file")
IAM_ACTIONS = ("logs:DescribeLogGroups", *LOG_SOURCES["cloudwatch"].access.monitor)


def _reads_cloudwatch(config: Config) -> bool:
    return config.pglogs.enabled and "cloudwatch" in config.pglogs.sources


@group("logs", CHECKS, IAM_ACTIONS, applies=_reads_cloudwatch)
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
    for target in ctx.targets:
        if not target.log_sources:
            if target.expects_logs:
                ctx.record("logs", target.name, "read", unread(target))
            continue
        via = ", ".join(target.log_sources)
        ctx.record("logs", target.name, "read", ok(f"its logs are read from: {via}"))
        for source in target.log_sources:
            SOURCE_CHECKS.get(source, _nothing)(ctx, target)
    if "files" in opts.sources and not ctx.only_targets:
        known = {t.name for t in ctx.targets}
        for entry in opts.files:
            if entry.target not in known:
                ctx.record("logs", entry.target, "file", unknown_target(entry.target))


def check_files(ctx: DoctorContext, target: Target) -> None:
    for path in target.log_files:
        ctx.attempt("logs", target.name, "file", lambda path=path: readable(path))  # type: ignore[misc]


def _nothing(ctx: DoctorContext, target: Target) -> None:
    """A source with nothing to check ahead of its read (athena: the doctor's cloudtrail
    group checks the engine; rds-api: the rds group checks the instances)."""


def unread(target: Target) -> Outcome:
    return fail(
        "no [pglogs] source reads this target's logs: its logins go unseen",
        f'[[pglogs.files]] target = "{target.name}", paths = ["LOG_DIR"]  '
        '# or add "cloudwatch" to [pglogs] sources',
    )


def unknown_target(name: str) -> Outcome:
    return fail(
        f"[[pglogs.files]] names {name}, which is no configured or discovered target",
        "target = one of the names `pgwarden targets` lists  # in [[pglogs.files]]",
    )


def check_log_groups(ctx: DoctorContext, target: Target) -> None:
    groups = list(target.log_groups)
    kinds = [g.rsplit("/", 1)[-1] for g in groups]
    if ctx.skip_if_blocked("logs", target.name, kinds, account_key(target.account_id)):
        return
    logs = ctx.aws.logs(target.region, target.account_id)
    for name, kind in zip(groups, kinds, strict=True):
        ctx.attempt(
            "logs",
            target.name,
            kind,
            lambda name=name: log_group(ctx, logs, target, name),  # type: ignore[misc]
        )


def log_group(ctx: DoctorContext, logs: CloudWatchLogsClient, target: Target, name: str) -> Outcome:
    found = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    db = rds_facts(ctx, target)
    kind = name.rsplit("/", 1)[-1]
    if not any(g.get("logGroupName") == name for g in found):
        what = f"no log group {name}: RDS has not exported this log"
        fix = export_fix(db, [kind]) if db else f"fix the rds {target.name} rows first"
        return fail(what, fix) if kind == "postgresql" else warn(what, fix)
    if kind != "postgresql":
        return ok(f"{name} exists")
    if not logs.describe_log_streams(logGroupName=name, limit=1).get("logStreams"):
        return fail(
            f"{name} has no streams: RDS has written no log there, so nothing can be read",
            f"fix the rds {target.name} rows (log exports, log_connections), then wait for a login",
        )
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
            return fail(
                str(exc), f'paths = ["EXISTING_LOG_PATH"]  # in [[pglogs.files]], not {path}'
            )
        return fail(str(exc), f"sudo setfacl -R -m u:{getpass.getuser()}:rX {quoted}")
    if not names:
        return fail(
            f"{path} holds no log files: nothing can be read for this target",
            'paths = ["THE_SERVER_LOG_DIRECTORY"]  # in [[pglogs.files]]',
        )
    if names == [str(path)]:
        return ok(f"{path} is readable")
    return ok(f"{path}: {len(names)} readable files")


# What each log source has checked, by its registered name (monitor/sources/pglogs/).
SOURCE_CHECKS: dict[str, Callable[[DoctorContext, Target], None]] = {
    "cloudwatch": check_log_groups,
    "files": check_files,
}
