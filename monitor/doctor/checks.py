"""The doctor's result rows, its registry of check groups, and the runner that isolates them.

A group (accounts, rds, database, ...) is a function of the `DoctorContext`: it looks at
one part of the setup and records one row per check, each with what it found and, for a
failure or a warning, the exact fix (a CLI command, an SQL statement or a config line).

Each check is its own job boundary (`DoctorContext.attempt`): an error raised inside it
becomes that check's ✖ row and the next check runs. When something others depend on
fails (a role that cannot be assumed, a login that is refused), the group records a
blocker, and the dependent checks report "not checked" with the reason instead of
failing again in a less helpful way.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

from monitor.config import AccountConfig, Config
from monitor.errors import PgwardenError
from monitor.models import Proxy
from monitor.registry import Access, Registry
from monitor.sources.proxies import Note
from monitor.sources.targets import Target

if TYPE_CHECKING:
    from monitor.aws import AwsSessions
    from monitor.clock import Clock

log = logging.getLogger(__name__)

Status = Literal["ok", "warn", "fail"]
COLUMNS = ("group", "subject", "check", "status", "found", "fix")


@dataclass(frozen=True)
class Outcome:
    """What one check concluded."""

    status: Status
    found: str
    fix: str = ""


def ok(found: str) -> Outcome:
    return Outcome("ok", found)


def warn(found: str, fix: str) -> Outcome:
    return Outcome("warn", found, fix)


def fail(found: str, fix: str) -> Outcome:
    return Outcome("fail", found, fix)


@dataclass(frozen=True)
class CheckResult:
    """One row of the doctor's report."""

    group: str
    subject: str
    check: str
    status: Status
    found: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Blocker:
    reason: str
    where: str  # the row that failed: "accounts prod assume-role"


@dataclass
class DoctorContext:
    """Everything the checks need, passed in; and the rows recorded so far."""

    config: Config
    aws: AwsSessions
    clock: Clock
    targets: list[Target]
    # Restricts the per-target groups (and the accounts checked) to these targets.
    only_targets: bool = False
    results: list[CheckResult] = field(default_factory=list)
    # What one group learnt that another uses (the RDS facts behind a login fix).
    facts: dict[str, object] = field(default_factory=dict)
    # The RDS Proxies in front of the targets, and what could not be described of them.
    proxies: list[Proxy] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    # Every target, chosen or not (`targets` when empty): whose monitor user logs in where.
    every_target: list[Target] = field(default_factory=list)
    _blockers: dict[str, Blocker] = field(default_factory=dict)

    def record(self, group: str, subject: str, check: str, outcome: Outcome) -> Outcome:
        self.results.append(
            CheckResult(group, subject, check, outcome.status, outcome.found, outcome.fix)
        )
        return outcome

    def attempt(self, group: str, subject: str, check: str, run: Callable[[], Outcome]) -> Outcome:
        """Run one check. Anything it raises becomes its ✖ row; the caller carries on."""
        return self.record(group, subject, check, guarded(run, f"{group} {subject} {check}"))

    def block(self, key: str, reason: str, where: str) -> None:
        """Checks that need `key` will report "not checked" with this reason."""
        self._blockers.setdefault(key, Blocker(reason, where))

    def skip_if_blocked(self, group: str, subject: str, checks: Iterable[str], *keys: str) -> bool:
        """If any of `keys` is blocked, report `checks` as not checked (✖, with the reason)."""
        blocker = next((self._blockers[k] for k in keys if k in self._blockers), None)
        if blocker is None:
            return False
        for check in checks:
            self.record(
                group,
                subject,
                check,
                fail(f"not checked: {blocker.reason}", f"fix {blocker.where} first"),
            )
        return True

    def accounts(self) -> list[AccountConfig]:
        """The accounts to check: all of them, or those of the chosen targets."""
        if not self.only_targets:
            return list(self.config.accounts)
        wanted = {t.account_id for t in self.targets}
        return [a for a in self.config.accounts if a.id in wanted]


GroupRun = Callable[[DoctorContext], None]


@dataclass(frozen=True)
class GroupSpec:
    """A group of checks, the names of the checks it may report (the README lists them),
    and the IAM actions it calls in the database accounts beyond the stages' (`pgwarden
    iam-policy` grants them to the monitor role)."""

    name: str
    run: GroupRun
    checks: tuple[str, ...]
    iam_actions: tuple[str, ...] = ()
    # Whether a config makes the group call its IAM actions (the policy grants them then).
    applies: Callable[[Config], bool] = lambda _config: True
    options = None  # a group reads the sections of what it checks
    section = None

    @property
    def doc(self) -> str:
        """Its module's docstring: what the group looks at, and the IAM it calls."""
        return inspect.getdoc(importlib.import_module(self.run.__module__)) or ""

    @property
    def access(self) -> Access:
        return Access(monitor=self.iam_actions)


# Registration order (monitor/doctor/__init__.py) is run order: what later groups depend
# on comes first.
GROUPS: Registry[GroupSpec] = Registry("doctor group", ordered=True)


def group(
    name: str,
    checks: tuple[str, ...],
    iam_actions: tuple[str, ...] = (),
    applies: Callable[[Config], bool] = lambda _config: True,
) -> Callable[[GroupRun], GroupRun]:
    """Register a group of checks under `name` (its rows' group column)."""

    def register(fn: GroupRun) -> GroupRun:
        GROUPS.add(GroupSpec(name, fn, checks, iam_actions, applies))
        return fn

    return register


def groups() -> list[GroupSpec]:
    """Every group, in run order."""
    importlib.import_module("monitor.doctor")  # its modules register the groups
    return list(GROUPS)


def run_doctor(ctx: DoctorContext) -> list[CheckResult]:
    """Run every group in order; the rows, in the order they were recorded."""
    for spec in groups():

        def whole(spec: GroupSpec = spec) -> Outcome:
            spec.run(ctx)
            return ok("done")

        outcome = guarded(whole, spec.name)
        if outcome.status != "ok":
            # A bug outside any one check: say so, and let the other groups run.
            ctx.record(spec.name, "-", "group", outcome)
    return ctx.results


def diagnose(
    config: Config,
    target_names: Sequence[str] = (),
    *,
    aws: AwsSessions | None = None,
    clock: Clock | None = None,
) -> list[CheckResult]:
    """Every check against `config`: all targets (configured and discovered) or the named ones."""
    from monitor.aws import AwsSessions
    from monitor.clock import SystemClock
    from monitor.sources.targets import collect_targets

    clock = clock or SystemClock()
    aws = aws or AwsSessions.from_config(config, clock=clock)
    found = collect_targets(config, aws)
    targets = found.targets
    if target_names:
        known = {t.name: t for t in targets}
        unknown = [n for n in target_names if n not in known]
        if unknown:
            raise PgwardenError(
                f"--target {unknown[0]}: no such target; known: {', '.join(known) or 'none'}"
            )
        targets = [known[n] for n in dict.fromkeys(target_names)]
    ctx = DoctorContext(
        config, aws, clock, targets, only_targets=bool(target_names), proxies=found.proxies,
        notes=found.notes, every_target=found.targets,
    )  # fmt: skip
    return run_doctor(ctx)


def guarded(run: Callable[[], Outcome], what: str) -> Outcome:
    """The job boundary of one check: an exception becomes a failed outcome."""
    try:
        return run()
    except PgwardenError as exc:
        return fail(one_line(exc), "fix the cause above, then run pgwarden doctor again")
    except Exception as exc:  # a check is a job boundary, as a stage is in `pgwarden once`
        log.warning("doctor: %s raised", what, exc_info=True)
        return fail(
            f"{type(exc).__name__}: {one_line(exc)}",
            "pgwarden --log-level DEBUG doctor logs the traceback",
        )


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
