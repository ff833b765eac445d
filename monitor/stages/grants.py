"""The grants and cloudtrail stages: who may connect, and who assumed which role."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from monitor.config import Config
from monitor.registry import ATHENA_ACTIONS, Access
from monitor.stages.base import StageContext, TypedResult, column, stage

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountGrants:
    account: str
    status: Literal["ok", "error"]
    principals: int | None
    grants: int | None
    new: int | None
    withdrawn: int | None
    error: str | None = field(default=None, metadata=column("error", none=""))


@dataclass(frozen=True)
class GrantsResult(TypedResult):
    row = AccountGrants
    name = "grants"
    accounts: tuple[AccountGrants, ...] = ()

    def entries(self) -> Sequence[AccountGrants]:
        return self.accounts

    @property
    def failures(self) -> int:
        return sum(a.status != "ok" for a in self.accounts)


@stage(
    "grants",
    idle=GrantsResult,
    job="refresh-grants",
    every=lambda c: c.scheduler.grants_interval_s,
    kind="inventory",
    access=Access(
        monitor=("iam:GetAccountAuthorizationDetails", "iam:GetRole"),
        management=("sts:AssumeRole",),
    ),
)
def grants_stage(ctx: StageContext) -> GrantsResult:
    """Who may rds-db:connect as which db user, per account; see monitor/sources/iam.py."""
    from monitor.sources.iam import ingest

    names = {a.id: a.name for a in ctx.config.accounts}
    rows: list[AccountGrants] = []
    for run in ingest(
        ctx.store,
        ctx.config,
        lambda account: ctx.aws().iam(account),
        ctx.clock,
    ):
        name = names[run.account_id]
        if run.changes is None:
            rows.append(AccountGrants(name, "error", None, None, None, None, run.error or ""))
        else:
            added, removed = len(run.changes.added), len(run.changes.removed)
            rows.append(AccountGrants(name, "ok", run.principals, run.grants, added, removed))
    return GrantsResult(tuple(rows))


@dataclass(frozen=True)
class TrailRead:
    """The engine's read (status ok), or a file or path it skipped (status skipped)."""

    engine: str
    status: Literal["ok", "skipped"]
    assume_role: int | None = field(metadata=column("assume-role"))
    new: int | None
    access_changes: int | None = field(metadata=column("access changes"))
    new_changes: int | None = field(metadata=column("new"))
    files: int | str  # files read, or the path skipped
    error: str | None = field(default=None, metadata=column("error", none=""))


@dataclass(frozen=True)
class TrailResult(TypedResult):
    row = TrailRead
    name = "cloudtrail"
    reads: tuple[TrailRead, ...] = ()
    scanned: int = 0  # bytes the Athena queries scanned

    def entries(self) -> Sequence[TrailRead]:
        return self.reads

    @property
    def failures(self) -> int:
        return sum(r.status != "ok" for r in self.reads)

    @property
    def bytes_scanned(self) -> int:
        return self.scanned


def _trail_needs(config: Config) -> Access:
    if config.cloudtrail.engine == "local":
        return Access()  # the local engine reads files pgwarden's host already has
    return Access(management=ATHENA_ACTIONS)


@stage(
    "cloudtrail",
    idle=TrailResult,
    job="ingest-cloudtrail",
    every=lambda c: c.cloudtrail.interval_s,
    kind="events",
    toggle="cloudtrail",
    access=Access(management=ATHENA_ACTIONS),
    needs=_trail_needs,
)
def cloudtrail_stage(ctx: StageContext) -> TrailResult:
    """AssumeRole records and access changes since the cursor; see
    monitor/sources/cloudtrail.py. A file skipped, whole or in part, gets a row of its own,
    and so do stray paths in the trail tree: each is a partial read (`once` exits 1)."""
    from monitor.sources.cloudtrail import ingest
    from monitor.sources.trail_query import trail_engine

    engine_name = ctx.config.cloudtrail.engine
    engine = trail_engine(ctx.config)
    try:
        summary = ingest(ctx.store, ctx.config, engine, ctx.clock)
    finally:
        engine.close()
    reads = [
        TrailRead(
            engine_name, "ok", summary.assume_role_events, summary.assume_role_new,
            summary.access_changes, summary.access_changes_new, summary.files_read,
        )
    ]  # fmt: skip
    skipped = [(bad.path, bad.reason) for bad in summary.bad_files] + [
        (path, f"{count} records without eventID or eventTime skipped")
        for path, count in summary.bad_records.items()
    ]
    for path, reason in skipped:
        log.warning("cloudtrail: skipped %s: %s", path, reason, extra={"file": path})
    if summary.unexpected:
        stray = f"{len(summary.unexpected)} paths that are not where CloudTrail writes events"
        skipped.append((summary.unexpected[0], stray))
    reads += [
        TrailRead(engine_name, "skipped", None, None, None, None, path, reason)
        for path, reason in skipped
    ]
    return TrailResult(tuple(reads), summary.bytes_scanned)
