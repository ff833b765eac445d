"""Stages, registered by name, and one pass over them (`pgwarden once`).

A stage is a function `(StageContext) -> StageReport`: it reads what it needs from the
store, writes what it produces back, and reports a small table for the terminal. The
registered name is the name `--only` takes. Later stages (pglogs, cloudtrail, detectors,
alerts) register themselves here with `@stage("name")`, in pipeline order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from monitor.clock import Clock, SystemClock
from monitor.config import ActivityConfig, Config, PgLogsConfig
from monitor.errors import ConfigError, PgwardenError, StoreCannotWrite
from monitor.sources.pglogs import SOURCE_IAM_ACTIONS
from monitor.sources.targets import Target, collect_targets
from monitor.store import outbox
from monitor.store.sqlite import Store
from monitor.store.targets import save_targets

if TYPE_CHECKING:
    from monitor.aws import AwsSessions
    from monitor.sources.activity_poller import ActivityPoller

log = logging.getLogger(__name__)

# What queries through Athena take (the trail's engine, the athena log source), with
# pgwarden's own role: the workgroup, the table's Glue catalog, the data's bucket and the
# results location; monitor/outputs/policies.py scopes each.
ATHENA_ACTIONS = (
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
    "glue:GetDatabase",
    "glue:GetTable",
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "s3:GetObject",
    "s3:PutObject",
    "s3:AbortMultipartUpload",
)


@dataclass(frozen=True)
class StageReport:
    stage: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    failures: int = 0  # rows that are not fine (targets down...): `once` exits 1 if any
    error: str | None = None  # the stage raised: the job boundary caught this
    # For the metrics: each target's poll time, and what the stage's Athena queries scanned.
    poll_seconds: tuple[float, ...] = ()
    bytes_scanned: int = 0
    # For the metrics: whether each (target, log source) could be read.
    log_sources: tuple[tuple[str, str, bool], ...] = ()


@dataclass
class StageContext:
    config: Config
    store: Store
    clock: Clock
    aws_sessions: AwsSessions | None = None
    notes: list[str] = field(default_factory=list)
    # The activity stage's connections, kept between the runs of one job (see close()).
    activity: ActivityPoller | None = None

    def aws(self) -> AwsSessions:
        if self.aws_sessions is None:
            from monitor.aws import AwsSessions

            self.aws_sessions = AwsSessions.from_config(self.config, clock=self.clock)
        return self.aws_sessions

    def close(self) -> None:
        """Close what the stages kept open between runs (database connections)."""
        if self.activity is not None:
            activity, self.activity = self.activity, None
            activity.close()


Stage = Callable[[StageContext], StageReport]


@dataclass(frozen=True)
class Access:
    """IAM actions: of the monitor role in each database account, and of pgwarden's own
    role in the management account."""

    monitor: tuple[str, ...] = ()
    management: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageSpec:
    """A stage and its contract: the config section it reads and the access it needs.

    `iam_actions` are what the monitor role in each database account may need, and
    `management_actions` what pgwarden's own role in the management account may need,
    whatever the config. `access` says which of them one config needs (its enabled
    sources and engines): the least-privilege policies `pgwarden iam-policy` writes
    (deploy/) grant that and no more. Without it, a stage needs all it declares while its
    section is enabled. `pg_privileges` are the database grants. The function's docstring
    carries a TOML example of its section.
    """

    name: str
    run: Stage
    section: str | None = None
    options: type[BaseModel] | None = None
    iam_actions: tuple[str, ...] = ()
    pg_privileges: tuple[str, ...] = ()
    management_actions: tuple[str, ...] = ()
    access: Callable[[Config], Access] | None = None

    def needs(self, config: Config) -> Access:
        """What this config needs of the stage."""
        if self.access is not None:
            return self.access(config)
        section = getattr(config, self.section) if self.section else None
        if section is not None and not getattr(section, "enabled", True):
            return Access()
        return Access(self.iam_actions, self.management_actions)


_STAGES: dict[str, StageSpec] = {}


def stage(
    name: str,
    *,
    section: str | None = None,
    options: type[BaseModel] | None = None,
    iam_actions: tuple[str, ...] = (),
    pg_privileges: tuple[str, ...] = (),
    management_actions: tuple[str, ...] = (),
    access: Callable[[Config], Access] | None = None,
) -> Callable[[Stage], Stage]:
    """Register a stage under `name` (kebab-case); registration order is run order.

    The contract keywords are optional so that `@stage("name")` keeps working; a stage that
    states `section` is held to it by tests/unit/test_activity_units.py.
    """

    def register(fn: Stage) -> Stage:
        if name in _STAGES:
            raise ValueError(f"stage {name} registered twice")
        _STAGES[name] = StageSpec(
            name, fn, section, options, iam_actions, pg_privileges, management_actions, access
        )
        return fn

    return register


def known_stages() -> list[str]:
    return list(_STAGES)


def stage_specs() -> list[StageSpec]:
    return list(_STAGES.values())


def select_stages(only: Sequence[str]) -> list[str]:
    """The stages to run, in pipeline order; an unknown name lists the known ones."""
    unknown = [name for name in only if name not in _STAGES]
    if unknown:
        raise PgwardenError(
            f"--only {unknown[0]}: unknown stage; known: {', '.join(known_stages())}"
        )
    return [name for name in _STAGES if not only or name in only]


def run_once(
    config: Config,
    only: Sequence[str] = (),
    *,
    clock: Clock | None = None,
    aws: AwsSessions | None = None,
) -> list[StageReport]:
    """Run the selected stages once each, in order, against the configured store."""
    names = select_stages(only)
    with Store.open(config.store.path, busy_timeout_ms=config.store.busy_timeout_ms) as store:
        ctx = StageContext(config, store, clock or SystemClock(), aws)
        try:
            return [run_stage(name, ctx) for name in names]
        finally:
            ctx.close()


def run_stage(name: str, ctx: StageContext, run: Stage | None = None) -> StageReport:
    """The job boundary: a stage that fails is logged with its traceback and reported, and
    the next stage (or the next run, from its cursor) carries on.

    `run` is for jobs that are not registered stages (the weekly report); default: the
    stage registered as `name`.
    """
    try:
        return (run or _STAGES[name].run)(ctx)
    except ConfigError:
        raise  # the config is wrong: say so and exit 2, as for any user error
    except Exception as exc:  # the one place stage failures are caught
        # A full or read-only volume is no bug: its one line says it all, no traceback.
        if not isinstance(exc, StoreCannotWrite):
            log.exception("stage %s failed", name, extra={"stage": name})
        reason = _one_line(exc)
        return StageReport(name, ("status", "error"), [("failed", reason)], 1, error=reason)


# -- targets ------------------------------------------------------------------------------------


def resolve_targets(ctx: StageContext) -> list[Target]:
    """The targets a stage works on, saved to the store (grants and reports read them there)."""
    targets = collect_targets(ctx.config, ctx.aws(), ctx.store)
    with ctx.store.transaction() as conn:
        save_targets(conn, targets, ctx.clock.now())
    return targets


# -- the activity stage -------------------------------------------------------------------------


@stage(
    "activity",
    section="activity",
    options=ActivityConfig,
    iam_actions=("rds-db:connect",),
    pg_privileges=("rds_iam", "pg_monitor"),
    # The ExternalId may be a Secrets Manager reference, read with pgwarden's own role.
    management_actions=("sts:AssumeRole", "secretsmanager:GetSecretValue"),
)
def activity_stage(ctx: StageContext) -> StageReport:
    """One poll of every target's pg_stat_activity; see monitor/sources/activity.py.

    Example:
        [activity]
        interval_s = 10
        max_parallel = 16
        poll_deadline_s = 8
        max_new_connections_per_s = 20
        capture_query_text = "none"
    """
    from monitor.sources.activity_poller import ActivityPoller
    from monitor.store.sessions import SessionRecorder

    columns = ("target", "status", "sessions", "duration", "error")
    if not ctx.config.activity.enabled:
        return StageReport("activity", columns, [])
    targets = resolve_targets(ctx)
    if ctx.activity is None:
        ctx.activity = ActivityPoller(ctx.config.activity, ctx.aws().token_for, ctx.clock)
    results = ctx.activity.poll(targets)
    rows: list[tuple[str, ...]] = []
    recorder = SessionRecorder()
    with ctx.store.transaction() as conn:
        for r in results:
            recorder.record(conn, r)
            sessions = str(len(r.sessions)) if r.status == "ok" else "-"
            rows.append((r.target, r.status, sessions, f"{r.duration_ms:.0f} ms", r.reason or ""))
    failures = sum(r.status != "ok" for r in results)
    seconds = tuple(r.duration_ms / 1000 for r in results)
    return StageReport("activity", columns, rows, failures, poll_seconds=seconds)


# -- the pglogs stage ---------------------------------------------------------------------------


class _TargetClients:
    """boto3 clients for a target's account and region, from monitor/aws.py."""

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx

    def client(self, service: str, target: Target) -> Any:
        return self.ctx.aws().client(service, region=target.region, account_id=target.account_id)


def _pglogs_access(config: Config) -> Access:
    """Only the enabled log sources' actions (monitor/sources/pglogs.py declares them)."""
    opts = config.pglogs
    if not opts.enabled:
        return Access()
    monitor = tuple(a for s in opts.sources for a in SOURCE_IAM_ACTIONS[s])
    athena = "athena" in opts.sources and opts.athena.engine == "athena"
    assume = ("sts:AssumeRole",) if monitor else ()
    return Access(monitor, assume + (ATHENA_ACTIONS if athena else ()))


@stage(
    "pglogs",
    section="pglogs",
    options=PgLogsConfig,
    iam_actions=tuple(sorted({a for acts in SOURCE_IAM_ACTIONS.values() for a in acts})),
    management_actions=("sts:AssumeRole", *ATHENA_ACTIONS),
    access=_pglogs_access,
)
def pglogs_stage(ctx: StageContext) -> StageReport:
    """Auth and connection events from each target's PostgreSQL logs; see
    monitor/sources/pglogs.py. A target whose logs could not be read is a failure.

    Example:
        [pglogs]
        sources = ["cloudwatch"]
        interval_s = 60
    """
    from monitor.sources.pglogs import ingest
    from monitor.sources.pglogs_athena import open_log_query
    from monitor.sources.trail_query import athena_connect_kwargs

    columns = ("target", "source", "status", "records", "events", "new", "unparsed", "suspicious")
    opts = ctx.config.pglogs
    if not opts.enabled:
        return StageReport("pglogs", columns, [])
    targets = resolve_targets(ctx)
    clients = _TargetClients(ctx)
    if "athena" in opts.sources:
        with open_log_query(opts.athena, ctx.config.aws, **athena_connect_kwargs(ctx.config)) as q:
            results = ingest(ctx.store, targets, opts, clients, ctx.clock, q)
    else:
        results = ingest(ctx.store, targets, opts, clients, ctx.clock)
    up: dict[tuple[str, str], bool] = {}
    for r in results:
        key = (r.target or "-", r.kind if r.kind != "-" else "none")
        up[key] = up.get(key, True) and r.problem is None
    rows: list[tuple[str, ...]] = [
        (
            r.target or "-", r.source, r.problem or "ok", str(r.records), str(r.events),
            str(r.stored), str(r.stats.unparsed), str(r.stats.suspicious),
        )
        for r in results
    ]  # fmt: skip
    failures = sum(r.problem is not None for r in results)
    sources = tuple((t, k, ok) for (t, k), ok in up.items())
    return StageReport("pglogs", columns, rows, failures, log_sources=sources)


# -- the grants and cloudtrail stages ----------------------------------------------------------


@stage(
    "grants",
    iam_actions=("iam:GetAccountAuthorizationDetails", "iam:GetRole"),
    management_actions=("sts:AssumeRole",),
)
def grants_stage(ctx: StageContext) -> StageReport:
    """Who may rds-db:connect as which db user, per account; see monitor/sources/iam.py."""
    from monitor.sources.iam import ingest

    columns = ("account", "status", "principals", "grants", "new", "withdrawn", "error")
    names = {a.id: a.name for a in ctx.config.accounts}
    rows: list[tuple[str, ...]] = []
    for run in ingest(
        ctx.store,
        ctx.config,
        lambda account: ctx.aws().iam(account),
        ctx.clock,
    ):
        if run.changes is None:
            rows.append((names[run.account_id], "error", "-", "-", "-", "-", run.error or ""))
        else:
            rows.append(
                (
                    names[run.account_id], "ok", str(run.principals), str(run.grants),
                    str(len(run.changes.added)), str(len(run.changes.removed)), "",
                )
            )  # fmt: skip
    return StageReport("grants", columns, rows, sum(r[1] != "ok" for r in rows))


def _trail_access(config: Config) -> Access:
    trail = config.cloudtrail
    if not trail.enabled or trail.engine == "local":
        return Access()  # the local engine reads files pgwarden's host already has
    return Access((), ATHENA_ACTIONS)


@stage("cloudtrail", management_actions=ATHENA_ACTIONS, access=_trail_access)
def cloudtrail_stage(ctx: StageContext) -> StageReport:
    """AssumeRole records and access changes since the cursor; see
    monitor/sources/cloudtrail.py. A file skipped, whole or in part, gets a row of its own,
    and so do stray paths in the trail tree: each is a partial read (`once` exits 1)."""
    from monitor.sources.cloudtrail import ingest
    from monitor.sources.trail_query import trail_engine

    columns = ("engine", "status", "assume-role", "new", "access changes", "new", "files", "error")
    trail = ctx.config.cloudtrail
    if not trail.enabled:
        return StageReport("cloudtrail", columns, [])
    engine = trail_engine(ctx.config)
    try:
        summary = ingest(ctx.store, ctx.config, engine, ctx.clock)
    finally:
        engine.close()
    rows: list[tuple[str, ...]] = [
        (
            trail.engine, "ok", str(summary.assume_role_events), str(summary.assume_role_new),
            str(summary.access_changes), str(summary.access_changes_new),
            str(summary.files_read), "",
        )
    ]  # fmt: skip
    skipped = [(bad.path, bad.reason) for bad in summary.bad_files] + [
        (path, f"{count} records without eventID or eventTime skipped")
        for path, count in summary.bad_records.items()
    ]
    for path, reason in skipped:
        log.warning("cloudtrail: skipped %s: %s", path, reason, extra={"file": path})
        rows.append((trail.engine, "skipped", "-", "-", "-", "-", path, reason))
    if summary.unexpected:
        rows.append(
            (trail.engine, "skipped", "-", "-", "-", "-", summary.unexpected[0],
             f"{len(summary.unexpected)} paths that are not where CloudTrail writes events")
        )  # fmt: skip
    failures = len(rows) - 1
    return StageReport("cloudtrail", columns, rows, failures, bytes_scanned=summary.bytes_scanned)


# -- findings and alerts -----------------------------------------------------------------------


@stage("detect")
def detect_stage(ctx: StageContext) -> StageReport:
    """Every enabled detector over the store; see monitor/judge/detection.py."""
    from monitor.judge.detection import run_detectors

    columns = ("detector", "opened", "repeated", "resolved", "suppressed")
    summaries = run_detectors(ctx.store, ctx.config, ctx.clock.now())
    rows: list[tuple[str, ...]] = [
        (name, str(s.opened), str(s.repeated), str(s.resolved), str(s.suppressed))
        for name, s in summaries.items()
    ]
    return StageReport("detect", columns, rows)


@stage(
    "alerts",
    management_actions=("secretsmanager:GetSecretValue",),
    access=lambda c: Access((), ("secretsmanager:GetSecretValue",) * c.alerts.slack.enabled),
)
def alerts_stage(ctx: StageContext) -> StageReport:
    """Deliver the outbox to Slack; see monitor/outputs/alerts/outbox.py."""
    from monitor.outputs.alerts.delivery import deliver_alerts
    from monitor.outputs.alerts.slack import make_sink

    columns = ("sink", "sent", "digested", "pending", "error")
    slack = ctx.config.alerts.slack
    if not slack.enabled:
        pending = outbox.pending_count(ctx.store)
        return StageReport("alerts", columns, [("slack (disabled)", "0", "0", str(pending), "")])
    sink = make_sink(slack, ctx.aws().resolve_secret)
    summary = deliver_alerts(ctx.store, sink, slack, ctx.clock.now())
    row = (
        f"slack ({slack.mode})", str(summary.sent), str(summary.digested), str(summary.pending),
        summary.error or "",
    )  # fmt: skip
    return StageReport("alerts", columns, [row], int(summary.error is not None))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
