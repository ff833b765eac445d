"""The Athena engine through pyathena against the moto server, and the proof that both
engines give the same events for the same files."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.sources.cloudtrail import TrailWindow, access_change_events, assume_role_events
from monitor.sources.trail_athena import (
    MIN_BYTES_BILLED,
    AthenaQueryFailed,
    AthenaQueryTimeout,
    AthenaSettings,
    AthenaTrail,
    cost_usd,
)
from monitor.sources.trail_local import LocalTrail
from tests.conftest import MotoServer
from tests.support.athena import post, queue_athena_result
from tests.support.trail import WATCHED, write_trail

pytestmark = pytest.mark.integration

WINDOW = TrailWindow(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))
OUTPUT = "s3://pgwarden-athena-results/queries/"


@pytest.fixture
def athena(moto_server: MotoServer) -> Iterator[AthenaTrail]:
    moto_server.reset()
    moto_server.client("s3").create_bucket(Bucket="pgwarden-athena-results")
    settings = AthenaSettings(output_location=OUTPUT, workgroup="primary", poll_interval_s=0.05)
    yield AthenaTrail(
        settings,
        endpoint_url=moto_server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    post(
        moto_server, "/moto-api/state-manager/unset-transition", {"model_name": "athena::execution"}
    )


def _hold_queries(moto: MotoServer) -> None:
    """Keep new Athena queries QUEUED until cancelled."""
    post(
        moto,
        "/moto-api/state-manager/set-transition",
        {
            "model_name": "athena::execution",
            "transition": {"progression": "manual", "times": 10**6},
        },
    )


def test_athena_and_duckdb_give_identical_assume_role_events(
    tmp_path: Path, moto_server: MotoServer, athena: AthenaTrail
) -> None:
    local = LocalTrail(write_trail(tmp_path))
    duck_events, duck_result = assume_role_events(local, WINDOW, WATCHED)
    queue_athena_result(moto_server, duck_result)
    athena_events, athena_result = assume_role_events(athena, WINDOW, WATCHED)
    assert len(duck_events) == 8
    assert len(athena_result.rows) == len(duck_result.rows) == 9  # one record delivered twice
    assert athena_result.query_id
    assert athena_events == duck_events


def test_athena_and_duckdb_give_identical_access_changes(
    tmp_path: Path, moto_server: MotoServer, athena: AthenaTrail
) -> None:
    local = LocalTrail(write_trail(tmp_path))
    duck_events, duck_result = access_change_events(local, WINDOW, WATCHED)
    queue_athena_result(moto_server, duck_result)
    athena_events, _ = access_change_events(athena, WINDOW, WATCHED)
    assert len(duck_events) == 5
    assert athena_events == duck_events


def test_athena_query_uses_workgroup_output_and_result_reuse(
    moto_server: MotoServer, athena: AthenaTrail, caplog: pytest.LogCaptureFixture
) -> None:
    import boto3

    sent: list[dict[str, Any]] = []
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    session.events.register(
        "provide-client-params.athena.StartQueryExecution",
        lambda params, **_: sent.append(dict(params)),
    )
    engine = AthenaTrail(athena.settings, session=session, endpoint_url=moto_server.url)
    with caplog.at_level(logging.INFO, logger="monitor.sources.trail_athena"):
        events, result = assume_role_events(engine, WINDOW, WATCHED)
    assert events == []
    [request] = sent
    assert request["WorkGroup"] == "primary"
    assert request["ResultConfiguration"] == {"OutputLocation": OUTPUT}
    assert request["ResultReuseConfiguration"] == {
        "ResultReuseByAgeConfiguration": {"Enabled": True, "MaxAgeInMinutes": 60}
    }
    query = request["QueryString"]
    assert "FROM default.cloudtrail" in query
    assert "/*" not in query
    assert "\"timestamp\" BETWEEN '2026/11/01' AND '2026/11/03'" in query
    assert "account IN ('222222222222', '333333333333')" not in query  # no accounts given
    assert result.bytes_scanned == 0
    assert result.cost_usd == cost_usd(0) == MIN_BYTES_BILLED / 1e12 * 5.0
    [record] = [r for r in caplog.records if getattr(r, "query_id", None) == result.query_id]
    assert record.bytes_scanned == 0  # type: ignore[attr-defined]
    assert record.cost_usd == result.cost_usd  # type: ignore[attr-defined]


def test_athena_query_past_its_deadline_is_cancelled(
    moto_server: MotoServer, athena: AthenaTrail
) -> None:
    from dataclasses import replace

    _hold_queries(moto_server)
    engine = AthenaTrail(
        replace(athena.settings, deadline_s=0.5),
        endpoint_url=moto_server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    started = time.monotonic()
    with pytest.raises(AthenaQueryTimeout) as caught:
        assume_role_events(engine, WINDOW, WATCHED)
    assert time.monotonic() - started < 10
    client = moto_server.client("athena")
    state = client.get_query_execution(QueryExecutionId=caught.value.query_id)
    assert state["QueryExecution"]["Status"]["State"] == "CANCELLED"
    assert "still running after 0.5 s" in str(caught.value)


def test_athena_query_cancelled_elsewhere_raises_failed(
    moto_server: MotoServer, athena: AthenaTrail
) -> None:
    _hold_queries(moto_server)
    client = moto_server.client("athena")

    def cancel_soon() -> None:
        for _ in range(100):
            ids = client.list_query_executions()["QueryExecutionIds"]
            if ids:
                client.stop_query_execution(QueryExecutionId=ids[0])
                return
            time.sleep(0.05)

    thread = threading.Thread(target=cancel_soon)
    thread.start()
    with pytest.raises(AthenaQueryFailed) as caught:
        assume_role_events(athena, WINDOW, WATCHED)
    thread.join()
    assert caught.value.state == "CANCELLED"
    assert caught.value.query_id in str(caught.value)


def test_athena_row_without_event_id_is_counted_against_its_object(
    tmp_path: Path, moto_server: MotoServer, athena: AthenaTrail
) -> None:
    local = LocalTrail(write_trail(tmp_path))
    _, duck_result = assume_role_events(local, WINDOW, WATCHED)
    damaged = "s3://org-trail/AWSLogs/222222222222/CloudTrail/us-east-1/2026/11/01/x.json.gz"
    duck_result.rows.append({**duck_result.rows[0], "event_id": None, "source_file": damaged})
    queue_athena_result(moto_server, duck_result)
    events, result = assume_role_events(athena, WINDOW, WATCHED)
    assert len(events) == 8
    assert result.bad_records == {damaged: 1}
