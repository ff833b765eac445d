"""CloudTrail checks: the Athena table exists and uses partition projection, a one-hour
probe query succeeds (and what it scanned), and in local mode the directory holds trail
objects for the recent days.

The table is looked up in the Glue Data Catalog, which is Athena's (`glue:GetTable`, which
the cloudtrail stage needs already). The probe is the stage's own AssumeRole query over the
last hour, through the same engine.
"""

from __future__ import annotations

import shlex
import time
from datetime import UTC, timedelta
from typing import Any

from monitor.config import CloudTrailConfig
from monitor.doctor.checks import DoctorContext, Outcome, fail, group, ok, warn
from monitor.errors import PgwardenError
from monitor.sources.cloudtrail import TrailWindow, assume_role_events, watched_roles
from monitor.sources.trail_files import TrailDirError, find_files

CHECKS = ("enabled", "table", "probe", "local-files")
RECENT_DAYS = 2  # today and yesterday (UTC): CloudTrail delivers within about 15 minutes


@group("cloudtrail", CHECKS)
def check_cloudtrail(ctx: DoctorContext) -> None:
    trail = ctx.config.cloudtrail
    subject = f"{trail.engine} engine"
    if not trail.enabled:
        ctx.record(
            "cloudtrail",
            subject,
            "enabled",
            warn("[cloudtrail] is disabled: nobody sees who assumed the roles", "enabled = true"),
        )
        return
    if trail.engine == "athena":
        table = f"{trail.athena_database}.{trail.athena_table}"
        if ctx.attempt("cloudtrail", table, "table", lambda: check_table(ctx, trail)).status == (
            "fail"
        ):
            ctx.block("cloudtrail:table", f"table {table} unusable", f"the cloudtrail {table} row")
            ctx.skip_if_blocked("cloudtrail", table, ["probe"], "cloudtrail:table")
            return
        ctx.attempt("cloudtrail", table, "probe", lambda: probe(ctx))
        return
    where = str(trail.local_dir) if trail.local_dir else subject
    if ctx.attempt("cloudtrail", where, "local-files", lambda: local_files(ctx, trail)).status == (
        "fail"
    ):
        return
    ctx.attempt("cloudtrail", where, "probe", lambda: probe(ctx))


def ddl_fix(trail: CloudTrailConfig) -> str:
    output = trail.output_location or "s3://ATHENA_RESULTS_BUCKET/"
    return (
        f"pgwarden trail ddl > cloudtrail.sql && aws athena start-query-execution "
        f"--work-group {trail.workgroup} --query-string file://cloudtrail.sql "
        f"--result-configuration OutputLocation={output}"
    )


def check_table(ctx: DoctorContext, trail: CloudTrailConfig) -> Outcome:
    from botocore.exceptions import ClientError

    glue = ctx.aws.client("glue", trail.region or ctx.config.aws.region)
    table = f"{trail.athena_database}.{trail.athena_table}"
    try:
        found = glue.get_table(DatabaseName=trail.athena_database, Name=trail.athena_table)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") != "EntityNotFoundException":
            raise
        return fail(f"no table {table} in the Athena (Glue) catalog", ddl_fix(trail))
    return judge_table(table, found["Table"], trail)


def judge_table(table: str, found: dict[str, Any], trail: CloudTrailConfig) -> Outcome:
    parameters = found.get("Parameters", {})
    if str(parameters.get("projection.enabled", "")).lower() == "true":
        return ok(f"{table} with partition projection")
    return fail(
        f"{table} has no partition projection: every query would scan the whole trail",
        f"aws athena start-query-execution --work-group {trail.workgroup} --query-string "
        f"'DROP TABLE {table}' --result-configuration "
        f"OutputLocation={trail.output_location or 's3://ATHENA_RESULTS_BUCKET/'} && "
        + ddl_fix(trail),
    )


def local_files(ctx: DoctorContext, trail: CloudTrailConfig) -> Outcome:
    sync = sync_fix(trail)
    if trail.local_dir is None:
        return fail("engine = local needs local_dir", 'local_dir = "/var/lib/pgwarden/trail"')
    today = ctx.clock.now().astimezone(UTC).date()
    first = today - timedelta(days=RECENT_DAYS - 1)
    try:
        found = find_files(trail.local_dir, first, today)
    except TrailDirError as exc:
        return fail(str(exc), sync)
    if found.exported:
        # Exported events suit `trail --local`; the stage needs the copy CloudTrail writes.
        return fail(f"{trail.local_dir}: no AWSLogs directory (a copy of the trail bucket)", sync)
    files = found.files
    if not files:
        return fail(
            f"no CloudTrail objects for {first:%Y/%m/%d}..{today:%Y/%m/%d} under "
            f"{trail.local_dir}: the copy is not being refreshed",
            sync,
        )
    if found.unexpected:
        return warn(
            f"{len(files)} objects for {first:%Y/%m/%d}..{today:%Y/%m/%d}, and "
            f"{len(found.unexpected)} paths that are not where CloudTrail writes events, "
            f"such as {found.unexpected[0]}",
            "move or remove them; only <account>/CloudTrail/<region>/YYYY/MM/DD/ is read",
        )
    return ok(f"{len(files)} objects for {first:%Y/%m/%d}..{today:%Y/%m/%d}")


def sync_fix(trail: CloudTrailConfig) -> str:
    bucket = trail.bucket or "TRAIL_BUCKET"
    prefix = trail.prefix.strip("/")
    source = f"s3://{bucket}/" + (f"{prefix}/" if prefix else "") + "AWSLogs/"
    target = shlex.quote(f"{trail.local_dir or '/var/lib/pgwarden/trail'}/AWSLogs/")
    return f"aws s3 sync {source} {target}"


def probe(ctx: DoctorContext) -> Outcome:
    """The stage's AssumeRole query over the last hour, through the configured engine."""
    from monitor.sources.trail_query import trail_engine

    trail = ctx.config.cloudtrail
    until = ctx.clock.now().astimezone(UTC).replace(microsecond=0)
    window = TrailWindow(until - timedelta(hours=1), until)
    engine = trail_engine(ctx.config)
    started = time.perf_counter()
    try:
        events, result = assume_role_events(engine, window, watched_roles(ctx.config))
    except PgwardenError as exc:
        return fail(str(exc), probe_fix(str(exc), trail))
    finally:
        engine.close()
    took = time.perf_counter() - started
    if result.bytes_scanned is None:
        read = f"read {result.files_read} files"
    else:
        read = f"scanned {result.bytes_scanned:,} bytes (${result.cost_usd or 0:.6f})"
    return ok(f"last hour: {len(events)} role assumptions in {took:.1f} s, {read}")


ATHENA_ACTIONS = (
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
    "glue:GetTable",
)


def probe_fix(reason: str, trail: CloudTrailConfig) -> str:
    """The likely fix for a failed probe, from the engine's one-line reason."""
    lowered = reason.lower()
    if "still running" in lowered:
        return f"query_deadline_s = {int(trail.query_deadline_s * 2)}  # in [cloudtrail]"
    if "accessdenied" in lowered or "not authorized" in lowered:
        return (
            "allow the source credentials " + ", ".join(ATHENA_ACTIONS) + ", s3:GetObject and "
            f"s3:ListBucket on the trail bucket, s3:PutObject on {trail.output_location}"
        )
    if trail.engine == "local":
        return sync_fix(trail)
    return ddl_fix(trail)
