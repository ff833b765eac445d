"""The activity stage: one poll of every target's pg_stat_activity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monitor.config import ActivityConfig
from monitor.registry import Access
from monitor.stages.base import Millis, StageContext, TypedResult, column, stage

if TYPE_CHECKING:
    from monitor.sources.activity import Status
    from monitor.sources.targets import Target


@dataclass(frozen=True)
class TargetPoll:
    target: str
    status: Status
    sessions: int | None  # None: not read
    duration: Millis
    error: str | None = field(default=None, metadata=column("error", none=""))


@dataclass(frozen=True)
class ActivityResult(TypedResult):
    row = TargetPoll
    name = "activity"
    polls: tuple[TargetPoll, ...] = ()

    def entries(self) -> Sequence[TargetPoll]:
        return self.polls

    @property
    def failures(self) -> int:
        return sum(p.status != "ok" for p in self.polls)

    @property
    def poll_seconds(self) -> tuple[float, ...]:
        return tuple(p.duration / 1000 for p in self.polls)


@stage(
    "activity",
    idle=ActivityResult,
    job="poll-activity",
    every=lambda c: c.activity.interval_s,
    kind="events",
    section="activity",
    options=ActivityConfig,
    access=Access(
        monitor=("rds-db:connect",),
        # The ExternalId may be a Secrets Manager reference, read with pgwarden's own role.
        management=("sts:AssumeRole", "secretsmanager:GetSecretValue"),
        pg=("rds_iam", "pg_monitor"),
    ),
)
def activity_stage(ctx: StageContext) -> ActivityResult:
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

    targets = ctx.targets()
    if ctx.activity is None:
        ctx.activity = ActivityPoller(ctx.config.activity, ctx.aws().token_for, ctx.clock)
    results = ctx.activity.poll(targets)
    recorder = SessionRecorder(second_paths(targets))
    with ctx.store.transaction() as conn:
        for r in results:
            recorder.record(conn, r)
    polls = tuple(
        TargetPoll(
            r.target,
            r.status,
            len(r.sessions) if r.status == "ok" else None,
            Millis(r.duration_ms),
            r.reason,
        )
        for r in results
    )
    return ActivityResult(polls)


def second_paths(targets: Sequence[Target]) -> frozenset[str]:
    """The proxy targets whose proxy fronts another target: the same database reached a
    second way, whose sessions and roles that target records."""
    fronted = {(t.account_id, t.region, p) for t in targets for p in t.proxies}
    return frozenset(
        t.name
        for t in targets
        if t.proxy_name and (t.account_id, t.region, t.proxy_name) in fronted
    )
