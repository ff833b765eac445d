"""The detect and alerts stages: findings from the store, and their delivery to Slack."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor.config import Config
from monitor.outputs.alerts.sinks import SECRET_ACCESS, make_sink, slack_sink
from monitor.registry import Access
from monitor.stages.base import StageContext, TypedResult, column, stage
from monitor.store import outbox


@dataclass(frozen=True)
class DetectorRun:
    detector: str
    opened: int
    repeated: int
    resolved: int
    suppressed: int


@dataclass(frozen=True)
class DetectResult(TypedResult):
    row = DetectorRun
    name = "detect"
    detectors: tuple[DetectorRun, ...] = ()

    def entries(self) -> Sequence[DetectorRun]:
        return self.detectors


@stage("detect", idle=DetectResult, job="detect", every=lambda c: c.scheduler.detect_interval_s)
def detect_stage(ctx: StageContext) -> DetectResult:
    """Every enabled detector over the store; see monitor/judge/detection.py."""
    from monitor.judge.detection import run_detectors

    summaries = run_detectors(ctx.store, ctx.config, ctx.clock.now())
    return DetectResult(
        tuple(
            DetectorRun(name, s.opened, s.repeated, s.resolved, s.suppressed)
            for name, s in summaries.items()
        )
    )


@dataclass(frozen=True)
class Delivery:
    sink: str
    sent: int
    digested: int
    pending: int
    error: str | None = field(default=None, metadata=column("error", none=""))


@dataclass(frozen=True)
class AlertsResult(TypedResult):
    row = Delivery
    name = "alerts"
    deliveries: tuple[Delivery, ...] = ()

    def entries(self) -> Sequence[Delivery]:
        return self.deliveries

    @property
    def failures(self) -> int:
        return sum(d.error is not None for d in self.deliveries)


def _needs(config: Config) -> Access:
    """What the configured Slack sink needs (monitor/outputs/alerts/sinks.py)."""
    slack = config.alerts.slack
    return slack_sink(slack).access if slack.enabled else Access()


@stage(
    "alerts",
    idle=AlertsResult,
    job="deliver-alerts",
    every=lambda c: c.scheduler.alerts_interval_s,
    access=SECRET_ACCESS,
    needs=_needs,
)
def alerts_stage(ctx: StageContext) -> AlertsResult:
    """Deliver the outbox to Slack; see monitor/outputs/alerts/outbox.py."""
    from monitor.outputs.alerts.delivery import deliver_alerts

    slack = ctx.config.alerts.slack
    if not slack.enabled:
        pending = outbox.pending_count(ctx.store)
        return AlertsResult((Delivery("slack (disabled)", 0, 0, pending),))
    sink = make_sink(slack, ctx.aws().resolve_secret)
    summary = deliver_alerts(ctx.store, sink, slack, ctx.clock.now())
    return AlertsResult(
        (
            Delivery(
                f"slack ({slack.mode})", summary.sent, summary.digested, summary.pending,
                summary.error,
            ),
        )
    )  # fmt: skip
