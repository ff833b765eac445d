"""The stages, registered by name in pipeline order, and one pass over them (`pgwarden once`).

A stage is a function `(StageContext) -> StageResult` (monitor/stages/base.py): one module
per stage or pair of stages. `run_stage` is the job boundary, where a stage's failure is
caught, logged and reported, so the next stage (or the next run, from its cursor) carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.errors import ConfigError, PgwardenError, StoreCannotWrite

# isort: off
# Registration order is run order.
from monitor.stages.base import STAGES, Stage, StageContext, StageReport, StageResult, StageSpec
from monitor.stages import activity, pglogs, grants, alerts, retention  # noqa: F401

# isort: on
from monitor.store.sqlite import Store

if TYPE_CHECKING:
    from monitor.aws import AwsSessions

log = logging.getLogger(__name__)


def known_stages() -> list[str]:
    return STAGES.names()


def stage_specs() -> list[StageSpec]:
    return list(STAGES)


def select_stages(only: Sequence[str]) -> list[str]:
    """The stages to run, in pipeline order; an unknown name lists the known ones."""
    for name in only:
        if name not in STAGES:
            raise PgwardenError(STAGES.unknown(name, f"--only {name}"))
    return [name for name in STAGES.names() if not only or name in only]


def run_once(
    config: Config,
    only: Sequence[str] = (),
    *,
    clock: Clock | None = None,
    aws: AwsSessions | None = None,
) -> list[StageResult]:
    """Run the selected stages once each, in order, against the configured store; one
    cycle, so the targets are resolved once for all of them."""
    names = select_stages(only)
    with Store.open(config.store.path, busy_timeout_ms=config.store.busy_timeout_ms) as store:
        ctx = StageContext(config, store, clock or SystemClock(), aws)
        try:
            results = [run_stage(name, ctx) for name in names]
        finally:
            ctx.close()
    found = discovery_report(ctx)
    return results if found is None else [*results, found]


def discovery_report(ctx: StageContext) -> StageReport | None:
    """What resolving the targets could not describe (an account, a region's proxies, a
    proxy's endpoints or targets), as a result of its own: a partial read that `once`
    exits 1 for, never silence. None when everything was described."""
    if not ctx.notes:
        return None
    rows: list[tuple[str, ...]] = [(note,) for note in ctx.notes]
    return StageReport("discovery", ("not described",), rows, failures=len(rows))


def run_stage(name: str, ctx: StageContext, run: Stage | None = None) -> StageResult:
    """The job boundary: a stage that fails is logged with its traceback and reported, and
    the next stage (or the next run, from its cursor) carries on. A disabled stage does
    nothing and reports no rows.

    `run` is for jobs that are not registered stages (the weekly report); default: the
    stage registered as `name`.
    """
    try:
        if run is not None:
            return run(ctx)
        spec = STAGES[name]
        return spec.run(ctx) if spec.enabled(ctx.config) else spec.idle()
    except ConfigError:
        raise  # the config is wrong: say so and exit 2, as for any user error
    except Exception as exc:  # the one place stage failures are caught
        # A full or read-only volume is no bug: its one line says it all, no traceback.
        if not isinstance(exc, StoreCannotWrite):
            log.exception("stage %s failed", name, extra={"stage": name})
        reason = " ".join(str(exc).split())[:200]
        return StageReport(name, ("status", "error"), [("failed", reason)], 1, error=reason)
