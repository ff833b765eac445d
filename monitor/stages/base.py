"""What every stage shares: its context, its registry entry, and its typed result.

A stage is a function `(StageContext) -> StageResult`: it reads what it needs from the
store, writes what it produces back, and returns typed rows. `table` is the one renderer
that turns any result into the (columns, rows) table `pgwarden once` prints; the scheduler
and the metrics read the typed fields (`failures`, `poll_seconds`...).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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


@dataclass
class StageContext:
    config: Config
    store: Store
    clock: Clock
    aws_sessions: AwsSessions | None = None
    notes: list[str] = field(default_factory=list)
    # The activity stage's connections, kept between the runs of one job (see close()).
    activity: ActivityPoller | None = None
    # The targets resolved in this run (`run_once`), so discovery runs once per cycle.
    resolved: list[Target] | None = None

    def aws(self) -> AwsSessions:
        if self.aws_sessions is None:
            from monitor.aws import AwsSessions

            self.aws_sessions = AwsSessions.from_config(self.config, clock=self.clock)
        return self.aws_sessions

    def targets(self) -> list[Target]:
        """The targets the stages work on, saved to the store with the proxies in front of
        them (grants and reports read them there); resolved once per cycle (see
        `run_once`). What this resolution could not describe goes to `notes` (and the
        log), replacing the last one's: `discovery_report` makes a result of it."""
        if self.resolved is None:
            from monitor.sources.targets import collect_targets
            from monitor.store.proxies import save_proxies
            from monitor.store.targets import retire_targets, save_targets

            found = collect_targets(self.config, self.aws(), self.store)
            with self.store.transaction() as conn:
                save_targets(conn, found.targets, self.clock.now())
                retire_targets(conn, [t.name for t in found.targets], self.clock.now())
                save_proxies(conn, found.proxies, self.clock.now())
            self.notes = [str(n) for n in found.notes]
            self.resolved = found.targets
        return self.resolved

    def close(self) -> None:
        """Close what the stages kept open between runs (database connections)."""
        if self.activity is not None:
            activity, self.activity = self.activity, None
            activity.close()


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
