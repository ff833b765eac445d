"""A target no longer resolved is retired: its history stays, but it is no longer watched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.clock import FrozenClock
from monitor.config import Config, validate
from monitor.outputs.metrics import StoreCollector
from monitor.stages import run_stage
from monitor.stages.base import StageContext
from monitor.store.sqlite import Store


def _config(tmp_path: Path, names: list[str]) -> Config:
    raw: dict[str, Any] = {
        "store": {"path": str(tmp_path / "pgwarden.db")},
        "accounts": [
            {"id": "222222222222", "name": "prod", "role_arn": "arn:aws:iam::222222222222:role/m"}
        ],
        "targets": [
            {"name": n, "account": "prod", "cluster_id": n, "endpoint": f"{n}.example"}
            for n in names
        ],
        "cloudtrail": {"enabled": False},
        "pglogs": {"enabled": False},
    }
    return validate(raw)


def _resolve_and_detect(config: Config, clock: FrozenClock) -> set[str]:
    """Resolve the targets as a cycle does, then run the detectors: the open gap findings."""
    with Store.open(config.store.path) as store:
        ctx = StageContext(config, store, clock)
        ctx.targets()
        run_stage("detect", ctx)
        rows = store.conn.execute(
            "SELECT subject FROM findings WHERE detector = 'monitoring-gap' AND status = 'open'"
        ).fetchall()
    return {s for (s,) in rows}


def _target_up(config: Config, clock: FrozenClock) -> set[str]:
    families = StoreCollector(config.store.path, clock).collect()
    family = next(f for f in families if f.name == "pgwarden_target_up")
    return {s.labels["target"] for s in family.samples}


def test_a_target_removed_from_the_config_is_no_longer_judged_and_back_when_added(
    tmp_path: Path,
) -> None:
    clock = FrozenClock(datetime.now(UTC))
    both = _config(tmp_path, ["orders", "billing"])
    with Store.open(both.store.path) as store:
        StageContext(both, store, clock).targets()
        # Both polled once, then billing's database is gone for good.
        store.conn.executemany(
            "INSERT INTO target_status (target, status, polled_at, last_ok_at) VALUES (?, ?, ?, ?)",
            [(n, "error", clock.now().isoformat(), None) for n in ("orders", "billing")],
        )
        store.conn.commit()
    assert _target_up(both, clock) == {"orders", "billing"}
    clock.advance(timedelta(hours=2))
    assert _resolve_and_detect(both, clock) == {"orders/poll", "billing/poll"}

    # billing is taken out of the config: retired, its gap resolved, its gauge gone.
    orders_only = _config(tmp_path, ["orders"])
    clock.advance(timedelta(minutes=1))
    assert _resolve_and_detect(orders_only, clock) == {"orders/poll"}
    assert _target_up(orders_only, clock) == {"orders"}
    with Store.open(both.store.path, writer=False) as store:
        kept = store.conn.execute("SELECT name, retired_at IS NOT NULL FROM targets").fetchall()
    assert sorted(kept) == [("billing", 1), ("orders", 0)]  # its history stays

    # Put back, it is watched again.
    clock.advance(timedelta(minutes=1))
    assert _resolve_and_detect(both, clock) == {"orders/poll", "billing/poll"}
    assert _target_up(both, clock) == {"orders", "billing"}


def test_a_retired_discovered_target_is_not_brought_back_when_discovery_fails(
    tmp_path: Path,
) -> None:
    """Discovery that fails falls back on the targets it found last: not on one it found gone."""
    from dataclasses import replace

    from monitor.sources.targets import configured_targets
    from monitor.store.targets import discovered, retire_targets, save_targets

    config = _config(tmp_path, ["orders", "billing"])
    now = datetime.now(UTC)
    found = [replace(t, discovered=True) for t in configured_targets(config)]
    with Store.open(config.store.path) as store:
        with store.transaction() as conn:
            save_targets(conn, found, now)
            retire_targets(conn, found[:1], now)
        assert [t.name for t in discovered(store, "222222222222")] == ["orders"]
