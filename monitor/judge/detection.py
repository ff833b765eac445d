"""The detect stage: run every enabled detector over the store and record its findings."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, time, timedelta

from monitor.config import Config
from monitor.judge.detectors.registry import detectors
from monitor.judge.findings import RecordSummary, Suppression, record
from monitor.store import targets
from monitor.store.sqlite import Store

log = logging.getLogger(__name__)


def config_suppressions(config: Config) -> list[Suppression]:
    # A suppression "until 2026-12-31" covers that whole day, in UTC.
    return [
        Suppression(
            s.detector,
            s.subject,
            datetime.combine(s.until, time.min, UTC) + timedelta(days=1),
            s.reason,
        )
        for s in config.suppressions
    ]


def run_detectors(
    store: Store, config: Config, now: datetime, only: list[str] | None = None
) -> dict[str, RecordSummary]:
    """One full pass. A finding a detector no longer returns is resolved."""
    suppressions = config_suppressions(config)
    accounts = targets.accounts(store)
    summaries = {}
    for name, spec in sorted(detectors().items()):
        opts = spec.options.from_config(config, name)
        if not opts.enabled or (only and name not in only):
            continue
        found = spec.detect(store.load_evidence(spec.load, now, opts), now, opts)
        found = [
            f
            if f.account or not f.target
            else dataclasses.replace(f, account=accounts.get(f.target))
            for f in found
        ]
        summaries[name] = record(
            store,
            name,
            found,
            now,
            realert=timedelta(hours=opts.realert_hours),
            suppressions=suppressions,
        )
    return summaries
