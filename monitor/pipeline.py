"""Stages, registered by name, and one pass over them (`pgwarden once`).

A stage is a function `(StageContext) -> StageReport`: it reads what it needs from the
store, writes what it produces back, and reports a small table for the terminal. The
registered name is the name `--only` takes. Later stages (pglogs, cloudtrail, detectors,
alerts) register themselves here with `@stage("name")`, in pipeline order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import BaseModel

from monitor.clock import Clock, SystemClock
from monitor.config import ActivityConfig, Config
from monitor.errors import AwsError, PgwardenError
from monitor.store.sqlite import Store
from monitor.targets import Target, configured_targets, merge, save_targets

if TYPE_CHECKING:
    from monitor.aws import AwsSessions
    from monitor.sources.activity import PollResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageReport:
    stage: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    failures: int = 0  # rows that are not fine (targets down...): `once` exits 1 if any


@dataclass
class StageContext:
    config: Config
    store: Store
    clock: Clock
    aws_sessions: AwsSessions | None = None
    notes: list[str] = field(default_factory=list)

    def aws(self) -> AwsSessions:
        if self.aws_sessions is None:
            from monitor.aws import AwsSessions

            self.aws_sessions = AwsSessions.from_config(self.config, clock=self.clock)
        return self.aws_sessions


Stage = Callable[[StageContext], StageReport]


@dataclass(frozen=True)
class StageSpec:
    """A stage and its contract: the config section it reads and the access it needs.

    `iam_actions` feed the least-privilege policy in deploy/; `pg_privileges` the database
    grants. The function's docstring carries a TOML example of its section.
    """

    name: str
    run: Stage
    section: str | None = None
    options: type[BaseModel] | None = None
    iam_actions: tuple[str, ...] = ()
    pg_privileges: tuple[str, ...] = ()


_STAGES: dict[str, StageSpec] = {}


def stage(
    name: str,
    *,
    section: str | None = None,
    options: type[BaseModel] | None = None,
    iam_actions: tuple[str, ...] = (),
    pg_privileges: tuple[str, ...] = (),
) -> Callable[[Stage], Stage]:
    """Register a stage under `name` (kebab-case); registration order is run order.

    The contract keywords are optional so that `@stage("name")` keeps working; a stage that
    states `section` is held to it by tests/unit/test_activity_units.py.
    """

    def register(fn: Stage) -> Stage:
        if name in _STAGES:
            raise ValueError(f"stage {name} registered twice")
        _STAGES[name] = StageSpec(name, fn, section, options, iam_actions, pg_privileges)
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
        return [_STAGES[name].run(ctx) for name in names]


# -- targets ------------------------------------------------------------------------------------


def collect_targets(
    config: Config, aws: AwsSessions, store: Store | None = None, *, discover: bool = True
) -> list[Target]:
    """Configured targets, plus those discovered in accounts with `discover = true`.

    If discovery fails for an account (say AssumeRole is denied), the targets found there
    before are kept from the store, so they show up as down rather than vanish.
    """
    from monitor.aws import discover_targets

    found: list[Target] = []
    if discover:
        for account in config.accounts:
            if not account.discover:
                continue
            try:
                found.extend(discover_targets(aws, config, account))
            except AwsError as exc:
                log.warning("%s", exc, extra={"account": account.id})
                if store is not None:
                    found.extend(_stored_discovered(store, account.id, config))
    return merge(configured_targets(config), found)


def _stored_discovered(store: Store, account_id: str, config: Config) -> list[Target]:
    account = next(a for a in config.accounts if a.id == account_id)
    rows = store.conn.execute(
        "SELECT name, region, endpoint, endpoint_type, port, database, db_user, cluster_id,"
        " instance_id, resource_id FROM targets WHERE account_id = ? AND discovered = 1",
        (account_id,),
    ).fetchall()
    return [
        Target(
            name=r[0],
            account_id=account_id,
            account_name=account.name,
            region=r[1],
            endpoint=r[2],
            endpoint_type=r[3],
            port=r[4],
            database=r[5],
            db_user=r[6],
            ca_bundle=config.activity.ca_bundle,
            cluster_id=r[7],
            instance_id=r[8],
            resource_id=r[9],
            discovered=True,
        )
        for r in rows
    ]


# -- the activity stage -------------------------------------------------------------------------


@stage(
    "activity",
    section="activity",
    options=ActivityConfig,
    iam_actions=(
        "sts:AssumeRole",
        "rds-db:connect",
        "rds:DescribeDBClusters",
        "rds:DescribeDBInstances",
        "secretsmanager:GetSecretValue",
    ),
    pg_privileges=("rds_iam", "pg_monitor"),
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
    from monitor.sources.activity import ActivitySource, token_source
    from monitor.sources.activity_store import SessionRecorder

    columns = ("target", "status", "sessions", "duration", "error")
    if not ctx.config.activity.enabled:
        return StageReport("activity", columns, [])
    targets = collect_targets(ctx.config, ctx.aws(), ctx.store)
    with ctx.store.transaction() as conn:
        save_targets(conn, targets, ctx.clock.now())
    source = ActivitySource(targets, ctx.config.activity, token_source(ctx.aws()), ctx.clock)

    async def one_round() -> list[PollResult]:
        try:
            return await source.poll_all()
        finally:
            await source.close()

    results = asyncio.run(one_round())
    rows: list[tuple[str, ...]] = []
    recorder = SessionRecorder()
    with ctx.store.transaction() as conn:
        for r in results:
            recorder.record(conn, r)
            sessions = str(len(r.sessions)) if r.status == "ok" else "-"
            rows.append((r.target, r.status, sessions, f"{r.duration_ms:.0f} ms", r.reason or ""))
    failures = sum(r.status != "ok" for r in results)
    return StageReport("activity", columns, rows, failures)
