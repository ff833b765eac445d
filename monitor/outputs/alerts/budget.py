"""Which pending alerts go out on their own and which are folded, per delivery run. Pure.

A flood must never hide what matters, and one noisy source must not use up a run:

- critical and high alerts always go out on their own, whatever else is queued;
- alerts from one source host, or from one detector, beyond its cap in a run are a spike:
  the spike is one alert of its own, naming every alert it folds;
- what remains goes out one by one up to `max_per_run`, and past that as one digest;
- alerts that waited longer than `max_age` (Slack was down for a day) are one digest.

Failed logins under 21 made-up names, say, need no credentials: they make 21 findings from
one host, which become one spike alert, while a high finding queued beside them is sent
alone.

    [alerts.slack]
    max_per_run = 20
    max_per_detector = 10
    max_per_host = 5
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from monitor.models import Finding

if TYPE_CHECKING:
    from monitor.config import SlackConfig

URGENT = frozenset({"critical", "high"})
# Defaults of [alerts.slack] max_per_detector and max_per_host: half the run's budget for one
# detector; a single client host behind more than five alerts in one run is itself the news.
MAX_PER_DETECTOR = 10
MAX_PER_HOST = 5


class Queued(Protocol):
    """What the budget needs of an outbox row."""

    @property
    def finding(self) -> Finding: ...

    @property
    def created_at(self) -> datetime: ...


Row = TypeVar("Row", bound=Queued)


@dataclass(frozen=True)
class Limits:
    max_per_run: int
    max_age: timedelta
    max_per_detector: int = MAX_PER_DETECTOR
    max_per_host: int = MAX_PER_HOST

    @classmethod
    def of(cls, slack: SlackConfig) -> Limits:
        """The limits `[alerts.slack]` sets."""
        return cls(
            slack.max_per_run,
            timedelta(hours=slack.max_age_hours),
            slack.max_per_detector,
            slack.max_per_host,
        )


@dataclass(frozen=True)
class Fold(Generic[Row]):
    """Rows sent as one message: its headline (pgwarden's own words), why they were folded
    (which may quote a host), and the rows."""

    title: str
    reason: str
    rows: list[Row]


@dataclass(frozen=True)
class Budget(Generic[Row]):
    """In sending order: urgent rows each alone, then the folds, then the other rows alone.

    Urgent first, so neither a fold nor a long queue delays them; the folds next, as they
    hold the oldest rows."""

    urgent: list[Row]
    folds: list[Fold[Row]]
    alone: list[Row]


def source_host(finding: Finding) -> str | None:
    """The one client host all of a finding's evidence came from, if there is exactly one."""
    hosts = {e.host for e in finding.evidence if e.host}
    return hosts.pop() if len(hosts) == 1 else None


def budget(rows: Sequence[Row], now: datetime, limits: Limits) -> Budget[Row]:
    """Split `rows` (oldest first) into messages of their own and folded messages."""
    urgent = [r for r in rows if r.finding.severity in URGENT]
    calm = [r for r in rows if r.finding.severity not in URGENT]
    folds: list[Fold[Row]] = []
    old = [r for r in calm if r.created_at < now - limits.max_age]
    if old:
        reason = f"These waited more than {limits.max_age} to be delivered."
        folds.append(Fold("pgwarden digest", reason, old))
    fresh = [r for r in calm if r.created_at >= now - limits.max_age]
    spikes: tuple[tuple[str, Callable[[Finding], str | None], int], ...] = (
        ("source host", source_host, limits.max_per_host),
        ("detector", lambda f: f.detector, limits.max_per_detector),
    )
    for label, key, cap in spikes:
        groups: dict[str, list[Row]] = {}
        for r in fresh:
            value = key(r.finding)
            if value is not None:
                groups.setdefault(value, []).append(r)
        for value, group in groups.items():
            if len(group) > cap:
                reason = (
                    f"{len(group)} alerts from {label} {value} in one run (more than {cap}):"
                    " one alert in place of a flood."
                )
                folds.append(Fold(f"pgwarden: spike from one {label}", reason, group))
        spiked = {id(r) for f in folds for r in f.rows}
        fresh = [r for r in fresh if id(r) not in spiked]
    if len(fresh) > limits.max_per_run:
        reason = f"More than {limits.max_per_run} alerts at once: folded into one message."
        folds.append(Fold("pgwarden digest", reason, fresh))
        fresh = []
    return Budget(urgent, folds, fresh)
