"""The RDS API log source, with botocore's Stubber: moto lacks download_db_log_file_portion."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.stub import Stubber

from monitor.config import TargetConfig
from monitor.sources.pglogs import PgLogsConfig
from monitor.sources.pglogs.rds_api import CURSOR, read_rds_api
from monitor.store.sqlite import Store

RECORDED = json.loads(
    (
        Path(__file__).resolve().parents[1] / "fixtures" / "rds" / "log_file_portions.json"
    ).read_text()
)
TARGET = TargetConfig(
    name="orders-1",
    account="prod",
    instance_id="orders-1",
    endpoint="orders-1.abc.us-east-1.rds.amazonaws.com",
)
NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def _stub(stubber: Stubber, describe: list[Any], downloads: list[Any], since: int) -> None:
    marker = None
    for page in describe:
        params: dict[str, Any] = {"DBInstanceIdentifier": "orders-1", "FileLastWritten": since}
        if marker:
            params["Marker"] = marker
        stubber.add_response("describe_db_log_files", page, params)
        marker = page.get("Marker")
    for name, start, portion in downloads:
        stubber.add_response(
            "download_db_log_file_portion",
            portion,
            {"DBInstanceIdentifier": "orders-1", "LogFileName": name, "Marker": start},
        )


def test_pglogs_rds_api_pages_markers_and_resumes(tmp_path: Path) -> None:
    rds = boto3.client("rds", region_name="us-east-1")
    opts = PgLogsConfig(sources=["rds-api"], initial_lookback_hours=24)
    since = int(NOW.timestamp() * 1000) - 24 * 3600 * 1000
    with Store.open(tmp_path / "s.db") as store, Stubber(rds) as stubber:
        _stub(stubber, RECORDED["describe_run1"], RECORDED["download_run1"], since)
        first = read_rds_api(store, rds, TARGET, opts, NOW)
        stubber.assert_no_pending_responses()
        # The csvlog copy is skipped; both hourly files are read to their end.
        assert [r.source for r in first] == [
            "rds-api:orders-1/error/postgresql.log.2026-11-23-02",
            "rds-api:orders-1/error/postgresql.log.2026-11-23-03",
        ]
        cursor = store.get_cursor(CURSOR, "orders-1:orders-1")
        assert cursor["error/postgresql.log.2026-11-23-03"]["marker"].startswith("2026-11-23-03:")
        # Second run: only the file that grew is read, from the stored Marker.
        _stub(stubber, RECORDED["describe_run2"], RECORDED["download_run2"], 1795399200000)
        second = read_rds_api(store, rds, TARGET, opts, NOW)
        stubber.assert_no_pending_responses()
        assert [r.events for r in second] == [2]
        failed = store.conn.execute(
            "SELECT user, method, reason FROM auth_events WHERE kind = 'auth_failed' ORDER BY time"
        ).fetchall()
        total = store.conn.execute("SELECT count(*) FROM auth_events").fetchall()[0][0]
    # The first portion ends mid-line: the pam LOG+FATAL pair is still one attempt.
    assert failed == [
        ("pgmonitor", "pam", "Permission denied"),
        ("reporting", "pam", None),
        ("intruder", "pam", None),
    ]
    assert total == 9 + 2
