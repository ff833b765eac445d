"""What every stage shares: its context, its registry entry, and its typed result.

A stage is a function `(StageContext) -> StageResult`: it reads what it needs from the
store, writes what it produces back, and returns typed rows. `table` is the one renderer
that turns any result into the (columns, rows) table `pgwarden once` prints; the scheduler
and the metrics read the typed fields (`failures`, `poll_seconds`...).
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

from pydantic import BaseModel

from monitor.clock import Clock
from monitor.config import Config
from monitor.registry import NO_ACCESS, Access, Registry
from monitor.store.sqlite import Store

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from monitor.aws import AwsSessions
    from monitor.sources.activity_poller import ActivityPoller
    from monitor.sources.targets import Target

log = logging.getLogger(__name__)

LogSourceUp = tuple[str, str, bool]  # (target, log source, could it be read)


class StageResult(Protocol):
    """What the job boundary, the scheduler, the metrics and `once` read of a stage run."""

    @property
    def stage(self) -> str: ...
    @property
    def error(self) -> str | None: ...  # the stage raised: the job boundary caught this
    @property
    def failures(self) -> int: ...  # what is not fine (targets down...): `once` exits 1
    @property
    def columns(self) -> tuple[str, ...]: ...
    @property
    def rows(self) -> list[tuple[str, ...]]: ...
    @property
    def poll_seconds(self) -> tuple[float, ...]: ...  # each target's poll time
    @property
    def bytes_scanned(self) -> int: ...  # what the stage's Athena queries scanned
    @property
    def log_sources(self) -> tuple[LogSourceUp, ...]: ...


@dataclass(frozen=True)
class StageReport:
    """A result that is a table already: a stage that failed, the weekly report."""

    stage: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    failures: int = 0
    error: str | None = None
    poll_seconds: tuple[float, ...] = ()
    bytes_scanned: int = 0
    log_sources: tuple[LogSourceUp, ...] = ()


def column(label: str, none: str = "-") -> dict[str, str]:
    """A row field's metadata: its column's label, and what an empty (None) cell shows."""
    return {"column": label, "none": none}


class Millis(float):
    """A duration in milliseconds, shown as `12 ms`."""

    def __str__(self) -> str:
        return f"{self:.0f} ms"


class TypedResult:
    """Base of the stages' typed results: `entries()` are instances of the dataclass `row`,
    one per row of the table; subclasses derive `failures` and the metrics' figures from
    their typed fields."""

    row: ClassVar[type[DataclassInstance]]
    name: ClassVar[str]

    def entries(self) -> Sequence[DataclassInstance]:
        raise NotImplementedError

    @property
    def stage(self) -> str:
        return self.name

    @property
    def error(self) -> str | None:
        return None

    @property
    def failures(self) -> int:
        return 0

    @property
    def columns(self) -> tuple[str, ...]:
        return table(self)[0]

    @property
    def rows(self) -> list[tuple[str, ...]]:
        return table(self)[1]

    @property
    def poll_seconds(self) -> tuple[float, ...]:
        return ()

    @property
    def bytes_scanned(self) -> int:
        return 0

    @property
    def log_sources(self) -> tuple[LogSourceUp, ...]:
        return ()


def table(result: TypedResult) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The one renderer: a typed result as the terminal's table. A field's metadata may
    name its column and say what None shows (`column`); other values show as `str()`."""
    fields = dataclasses.fields(result.row)
    columns = tuple(f.metadata.get("column", f.name) for f in fields)
    rows = [tuple(_cell(f, getattr(entry, f.name)) for f in fields) for entry in result.entries()]
    return columns, rows


def _cell(f: dataclasses.Field[object], value: object) -> str:
    return str(f.metadata.get("none", "-")) if value is None else str(value)


@dataclass(frozen=True)
class Resolution:
    """One resolution of the targets: what it found, what it could not describe (one line
    each), how many RDS Proxies it linked, when it was made and how long it took."""

    targets: list[Target]
    notes: list[str]
    proxies: int
    at: datetime
    took_s: float


@dataclass
class StageContext:
    config: Config
    store: Store
    clock: Clock
    aws_sessions: AwsSessions | None = None
    notes: list[str] = field(default_factory=list)
    # The activity stage's connections, kept between the runs of one job (see close()).
    activity: ActivityPoller | None = None
    # The targets this run works on (`run_once`: the cycle's), so discovery runs once per cycle.
    resolved: list[Target] | None = None
    # When they were resolved (the daemon's jobs may share a resolution; see SharedTargets).
    resolved_at: datetime | None = None
    # The daemon's: the resolution its jobs share. None (`pgwarden once`): each context
    # resolves its own.
    shared: SharedTargets | None = None

    def aws(self) -> AwsSessions:
        if self.aws_sessions is None:
            from monitor.aws import AwsSessions

            self.aws_sessions = AwsSessions.from_config(self.config, clock=self.clock)
        return self.aws_sessions

    def targets(self) -> list[Target]:
        """The targets the stages work on, saved to the store with the proxies in front of
        them (grants and reports read them there); resolved once per cycle (see
        `run_once`), or taken from the daemon's `shared` resolution. What the resolution
        could not describe is in `notes` (and the log), replacing the last one's:
        `discovery_report` makes a result of it."""
        if self.resolved is None:
            found = self.shared.get(self) if self.shared is not None else self.resolve()
            # Copies: jobs share the resolution, each its own list (the targets are frozen).
            self.notes, self.resolved = list(found.notes), list(found.targets)
            self.resolved_at = found.at
        return self.resolved

    def resolve(self) -> Resolution:
        """Resolve the targets now (configured, and discovered through AWS), and save them
        and their proxies to the store in one transaction."""
        from monitor.sources.targets import collect_targets
        from monitor.store.proxies import retire_proxies, save_proxies
        from monitor.store.targets import retire_targets, save_targets

        started = time.monotonic()
        found = collect_targets(self.config, self.aws(), self.store)
        now = self.clock.now()
        with self.store.transaction() as conn:
            save_targets(conn, found.targets, now)
            retire_targets(conn, found.targets, now)
            save_proxies(conn, found.proxies, now)
            retire_proxies(conn, found.proxies, now)
        notes = [str(n) for n in found.notes]
        took = time.monotonic() - started
        return Resolution(found.targets, notes, len(found.proxies), now, took)

    def close(self) -> None:
        """Close what the stages kept open between runs (database connections)."""
        if self.activity is not None:
            activity, self.activity = self.activity, None
            activity.close()


class SharedTargets:
    """The resolution of the targets that the daemon's jobs share: resolved again only once
    it is `max_age_s` old (`[scheduler] discovery_interval_s`), so that discovery's describe
    calls (per account and region, and ~4 per RDS Proxy) do not run at every activity poll.

    Jobs run in parallel threads. Of the jobs that find the resolution too old, one resolves
    it again (and saves it, with its own store connection); the others go on with the old
    one meanwhile, or wait for the first one. A resolution that fails (it raises, into that
    job's boundary) leaves the old one in place, and the next job tries again.
    Each new resolution is logged (with the age of the one it replaces) and passed to
    `on_resolved`. A config reload starts afresh: the daemon makes a new one.
    """

    def __init__(
        self,
        clock: Clock,
        max_age_s: float,
        on_resolved: Callable[[Resolution], None] | None = None,
    ) -> None:
        self.clock = clock
        self.max_age_s = max_age_s
        self.on_resolved = on_resolved
        self._changed = threading.Condition()
        self._current: Resolution | None = None
        self._resolving = False

    def age(self, resolution: Resolution) -> float:
        return (self.clock.now() - resolution.at).total_seconds()

    def _fresh(self, resolution: Resolution) -> bool:
        # A clock stepped back makes the age negative: resolve again rather than wait.
        return 0 <= self.age(resolution) < self.max_age_s

    def get(self, ctx: StageContext) -> Resolution:
        """The current resolution; made now with `ctx` (its config, AWS sessions and
        store) if there is none yet or it is too old, and no other job is making one."""
        with self._changed:
            while True:
                current = self._current
                if current is not None and self._fresh(current):
                    return current
                if not self._resolving:
                    self._resolving = True
                    break
                if current is not None:
                    return current  # another job resolves them again: these meanwhile
                # No targets yet: wait for the job resolving them. It notifies when done,
                # whether it succeeded or raised (finally below), so the wait ends with it.
                self._changed.wait()
        made: Resolution | None = None
        try:
            made = ctx.resolve()
        finally:
            with self._changed:
                self._resolving = False
                if made is not None:
                    self._current = made
                self._changed.notify_all()
        old = "" if current is None else f"; the last were {self.age(current):.0f} s old"
        log.info(
            "targets resolved: %s targets, %s proxies, %s not described, in %.2f s%s",
            len(made.targets), made.proxies, len(made.notes), made.took_s, old,
            extra={"targets": len(made.targets), "not_described": len(made.notes)},
        )  # fmt: skip
        if self.on_resolved is not None:
            self.on_resolved(made)
        return made


Stage = Callable[[StageContext], StageResult]


@dataclass(frozen=True)
class JobSpec:
    """A stage's job in `pgwarden run`: its stable id, and where its interval comes from."""

    id: str
    stage: str
    every: Callable[[Config], float | None]  # seconds between runs; None: not scheduled
    source: bool = False  # a source: /readyz wants a recent success


# What a stage does, in the order `pgwarden run` lists its jobs: events read from the
# sources, inventories refreshed, findings made and delivered.
Kind = Literal["events", "inventory", "findings"]
KINDS: tuple[Kind, ...] = ("events", "inventory", "findings")


@dataclass(frozen=True)
class StageSpec:
    """A stage and its contract: the config section it reads, its job, and its access.

    `access` (`Access.monitor` for the monitor role in each database account, `management`
    for pgwarden's own role, `pg` the database grants) is all the stage may need, whatever
    the config; `needs_of` says which of it one config needs (its enabled sources and
    engines): the least-privilege policies `pgwarden iam-policy` writes grant that and no
    more. Without it, a stage needs all it declares while it is enabled. The function's
    docstring carries a TOML example of its section.
    """

    name: str
    run: Stage
    idle: Callable[[], StageResult]  # the result of a run while the stage is disabled
    job_id: str
    every: Callable[[Config], float]  # seconds between its job's runs
    kind: Kind = "findings"
    section: str | None = None
    options: type[BaseModel] | None = None
    access: Access = NO_ACCESS
    needs_of: Callable[[Config], Access] | None = None
    toggle: str | None = None  # the section whose `enabled` switches it; default: `section`

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.run) or ""

    @property
    def iam_actions(self) -> tuple[str, ...]:
        return self.access.monitor

    @property
    def pg_privileges(self) -> tuple[str, ...]:
        return self.access.pg

    @property
    def source(self) -> bool:
        """A source: /readyz wants a recent success."""
        return self.kind != "findings"

    @property
    def job(self) -> JobSpec:
        return JobSpec(self.job_id, self.name, self.interval, self.source)

    def enabled(self, config: Config) -> bool:
        """Whether the stage runs under this config (its section's `enabled`)."""
        name = self.toggle or self.section
        section = getattr(config, name) if name else None
        return bool(getattr(section, "enabled", True))

    def interval(self, config: Config) -> float | None:
        """Seconds between its job's runs; None: not scheduled (disabled)."""
        return self.every(config) if self.enabled(config) else None

    def needs(self, config: Config) -> Access:
        """What this config needs of the stage."""
        if not self.enabled(config):
            return Access()
        return self.needs_of(config) if self.needs_of is not None else self.access


STAGES: Registry[StageSpec] = Registry("stage", ordered=True)


def stage(
    name: str,
    *,
    idle: Callable[[], StageResult],
    job: str,
    every: Callable[[Config], float],
    kind: Kind = "findings",
    section: str | None = None,
    options: type[BaseModel] | None = None,
    access: Access = NO_ACCESS,
    needs: Callable[[Config], Access] | None = None,
    toggle: str | None = None,
) -> Callable[[Stage], Stage]:
    """Register a stage under `name` (kebab-case, the name `--only` takes); registration
    order (monitor/stages/__init__.py) is run order. `every` is its job's interval."""

    def register(fn: Stage) -> Stage:
        STAGES.add(
            StageSpec(
                name, fn, idle, job, every, kind, section, options, access, needs, toggle
            )
        )  # fmt: skip
        return fn

    return register
