"""The pglogs stage: auth and connection events from each target's PostgreSQL logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, overload

from monitor.config import Config
from monitor.registry import Access
from monitor.sources.pglogs import PgLogsConfig
from monitor.sources.pglogs.ingest import LOG_SOURCES
from monitor.stages.base import (
    LogSourceUp,
    StageContext,
    TypedResult,
    column,
    stage,
)

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_rds import RDSClient

    from monitor.sources.targets import Target


@dataclass(frozen=True)
class LogRead:
    target: str | None
    source: str
    problem: str | None = field(metadata=column("status", none="ok"))
    records: int
    events: int
    new: int
    unparsed: int
    suspicious: int

    @property
    def kind(self) -> str:
        """The log source's name (cloudwatch, rds-api, athena, files), for metrics."""
        kind = self.source.split(":", 1)[0]
        return kind if kind != "-" else "none"


@dataclass(frozen=True)
class PgLogsResult(TypedResult):
    row = LogRead
    name = "pglogs"
    reads: tuple[LogRead, ...] = ()

    def entries(self) -> Sequence[LogRead]:
        return self.reads

    @property
    def failures(self) -> int:
        return sum(r.problem is not None for r in self.reads)

    @property
    def log_sources(self) -> tuple[LogSourceUp, ...]:
        """Whether each (target, log source) could be read, for the metrics."""
        up: dict[tuple[str, str], bool] = {}
        for r in self.reads:
            key = (r.target or "-", r.kind)
            up[key] = up.get(key, True) and r.problem is None
        return tuple((t, k, ok) for (t, k), ok in up.items())


class _TargetClients:
    """boto3 clients for a target's account and region, from monitor/aws.py."""

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx

    @overload
    def client(self, service: Literal["logs"], target: Target) -> CloudWatchLogsClient: ...
    @overload
    def client(self, service: Literal["rds"], target: Target) -> RDSClient: ...

    def client(
        self, service: Literal["logs", "rds"], target: Target
    ) -> CloudWatchLogsClient | RDSClient:
        aws = self.ctx.aws()
        if service == "logs":
            return aws.logs(region=target.region, account_id=target.account_id)
        return aws.rds(region=target.region, account_id=target.account_id)


def _needs(config: Config) -> Access:
    """Only the enabled log sources' access (each source module declares its own)."""
    opts = config.pglogs
    needed = Access()
    for source in LOG_SOURCES:
        if source.name in opts.sources:
            needed |= source.needs(opts)
    assume = Access(management=("sts:AssumeRole",)) if needed.monitor else Access()
    return Access(needed.monitor, assume.management + needed.management, needed.pg)


def _all_access() -> Access:
    everything = Access(management=("sts:AssumeRole",))
    for source in LOG_SOURCES:
        everything |= source.access
    return Access(tuple(sorted(set(everything.monitor))), everything.management)


@stage(
    "pglogs",
    idle=PgLogsResult,
    job="ingest-logs",
    every=lambda c: c.pglogs.interval_s,
    kind="events",
    section="pglogs",
    options=PgLogsConfig,
    access=_all_access(),
    needs=_needs,
)
def pglogs_stage(ctx: StageContext) -> PgLogsResult:
    """Auth and connection events from each target's PostgreSQL logs; see
    monitor/sources/pglogs/. A target whose logs could not be read is a failure.

    Example:
        [pglogs]
        sources = ["cloudwatch"]
        interval_s = 60
    """
    from monitor.sources.pglogs.athena import open_log_query
    from monitor.sources.pglogs.ingest import ingest
    from monitor.sources.trail_query import athena_connect_kwargs

    opts = ctx.config.pglogs
    targets = ctx.targets()
    clients = _TargetClients(ctx)
    if "athena" in opts.sources:
        with open_log_query(opts.athena, ctx.config.aws, **athena_connect_kwargs(ctx.config)) as q:
            results = ingest(ctx.store, targets, opts, clients, ctx.clock, q)
    else:
        results = ingest(ctx.store, targets, opts, clients, ctx.clock)
    return PgLogsResult(
        tuple(
            LogRead(
                r.target, r.source, r.problem, r.records, r.events, r.stored,
                r.stats.unparsed, r.stats.suspicious,
            )
            for r in results
        )
    )  # fmt: skip
