"""The retention stage: the store's history older than `[retention] days` is deleted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.config import RetentionConfig
from monitor.stages.base import Millis, StageContext, TypedResult, column, stage


@dataclass(frozen=True)
class TablePruned:
    table: str
    deleted: int
    cutoff: datetime
    longest: Millis = field(metadata=column("longest transaction"))


@dataclass(frozen=True)
class RetentionResult(TypedResult):
    row = TablePruned
    name = "retention"
    tables: tuple[TablePruned, ...] = ()

    def entries(self) -> Sequence[TablePruned]:
        return self.tables

    @property
    def deleted(self) -> int:
        return sum(t.deleted for t in self.tables)


@stage(
    "retention",
    idle=RetentionResult,
    job="prune-store",
    every=lambda c: c.retention.interval_s,
    kind="inventory",
    section="retention",
    options=RetentionConfig,
)
def retention_stage(ctx: StageContext) -> RetentionResult:
    """Delete the store's rows older than `days`, in short batches; see
    monitor/store/retention.py for what is kept. One row per table.

    Example:
        [retention]
        enabled = true
        days = 400
        interval_s = 86400
    """
    from monitor.store.retention import prune

    cutoff = ctx.clock.now() - timedelta(days=ctx.config.retention.days)
    pruned = prune(ctx.store, cutoff)
    return RetentionResult(
        tuple(TablePruned(p.table, p.deleted, p.cutoff, Millis(p.longest_ms)) for p in pruned)
    )
