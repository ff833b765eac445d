"""Helpers for activity tests: a config aimed at the IAM-emulating PostgreSQL and moto."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from monitor.aws import AwsSessions
from monitor.clock import Clock
from monitor.config import Config, validate
from monitor.sandbox.pam import IamPg
from monitor.sources.activity import ActivitySource, PollResult
from monitor.sources.targets import configured_targets
from monitor.store.sessions import SessionRecorder
from monitor.store.sqlite import Store

ACCOUNT_A = "222222222222"
ACCOUNT_B = "333333333333"


def target_table(iam_pg: IamPg, name: str = "demo", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "account": "prod",
        "cluster_id": name,
        "endpoint": iam_pg.host,
        "port": iam_pg.port,
        "hostaddr": "127.0.0.1",
        "ca_bundle": str(iam_pg.pki.ca_cert),
        **extra,
    }


def make_config(
    tmp_path: Path,
    moto_url: str,
    targets: list[dict[str, Any]],
    *,
    accounts: list[dict[str, Any]] | None = None,
    **activity: Any,
) -> Config:
    raw = {
        "store": {"path": str(tmp_path / "pgwarden.db")},
        "aws": {"endpoint_url": moto_url, "assume_role_duration_s": 3600},
        "accounts": accounts
        or [
            {
                "id": ACCOUNT_A,
                "name": "prod",
                "role_arn": f"arn:aws:iam::{ACCOUNT_A}:role/pg-monitor-role",
            }
        ],
        "targets": targets,
        "activity": {"connect_timeout_s": 5, "poll_deadline_s": 8, **activity},
    }
    return validate(raw)


class Harness:
    """An ActivitySource, its store, and one event loop that keeps connections across polls."""

    def __init__(self, config: Config, clock: Clock, aws: AwsSessions | None = None) -> None:
        self.config = config
        self.clock = clock
        self.aws = aws or AwsSessions.from_config(config, clock=clock, hostname="testhost")
        self.source = ActivitySource(
            configured_targets(config), config.activity, self.aws.token_for, clock
        )
        self.store = Store.open(config.store.path)
        self.recorder = SessionRecorder()
        self.loop = asyncio.new_event_loop()

    def poll(self) -> dict[str, PollResult]:
        results = self.loop.run_until_complete(self.source.poll_all())
        with self.store.transaction() as conn:
            for result in results:
                self.recorder.record(conn, result)
        return {r.target: r for r in results}

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        return self.store.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self.loop.run_until_complete(self.source.close())
        self.loop.close()
        self.store.close()
