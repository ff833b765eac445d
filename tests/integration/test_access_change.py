"""Control-plane changes that open a way in or blind the monitor: the widened SQL on DuckDB
and on Athena (moto), the access-change detector, and `pgwarden trail access-changes`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FrozenClock
from monitor.config import Config
from monitor.judge.detection import run_detectors
from monitor.judge.detectors.access_change import AccessChangeOptions, detect
from monitor.parsing.cloudtrail import AccessChangeEvent
from monitor.sources.cloudtrail import TrailWindow, access_change_events, ingest
from monitor.sources.trail_athena import AthenaSettings, AthenaTrail
from monitor.sources.trail_local import LocalTrail
from monitor.store.sqlite import Store
from tests.conftest import MotoServer
from tests.support.athena import queue_athena_result
from tests.support.trail import CONTROL_PLANE, MONITOR_PROD, ORDERS_APP, PROD, fixture_files

WINDOW = TrailWindow(datetime(2026, 11, 5, tzinfo=UTC), datetime(2026, 11, 6, tzinfo=UTC))
NOW = datetime(2026, 11, 6, tzinfo=UTC)
CHANGES = [
    "cp01-iam-auth-off",
    "cp02-log-export",
    "cp03-log-connections",
    "cp04-force-ssl",
    "cp05-master-password",
    "cp06-master-password-clear",
    "cp07-policy-version",
    "cp08-put-role-policy",
    "cp09-trust",
    "cp10-proxy-passwords",
    "cp11-activity-stream",
    "cp12-rds-protection",
    "cp13-refused",
    "cp14-trail-stopped",
    "cp15-trail-deleted",
    "cp16-log-group-deleted",
]


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    from monitor.sandbox.trail import write_files

    return write_files(tmp_path / "trail", fixture_files(CONTROL_PLANE))


@pytest.fixture
def events(trail: Path) -> list[AccessChangeEvent]:
    found, _ = access_change_events(LocalTrail(trail), WINDOW, [MONITOR_PROD, ORDERS_APP])
    return found


def test_access_change_sql_selects_each_control_plane_change(
    events: list[AccessChangeEvent],
) -> None:
    # A backup-retention change, work_mem, GuardDuty's S3 protection and a log group that is
    # not RDS's are not selected.
    assert [e.event_id for e in events] == CHANGES


def test_access_change_request_is_kept_with_secrets_redacted(
    events: list[AccessChangeEvent],
) -> None:
    text = json.dumps([e.as_dict() for e in events])
    assert "Sup3r-Secret-Clear-Text" not in text
    assert "trust-secret-external-id" not in text
    by_id = {e.event_id: e for e in events}
    assert by_id["cp06-master-password-clear"].request_fields() == {
        "dBInstanceIdentifier": "billing-1",
        "masterUserPassword": "<redacted>",
    }
    assert by_id["cp10-proxy-passwords"].request_fields()["auth"][0]["iAMAuth"] == "DISABLED"


def test_access_change_detector_findings(events: list[AccessChangeEvent]) -> None:
    findings = {f.subject.removeprefix("event/"): f for f in detect(events, NOW, _opts())}
    assert list(findings) == CHANGES
    severity = {k: f.severity for k, f in findings.items()}
    assert severity == {
        "cp01-iam-auth-off": "high",
        "cp02-log-export": "high",
        "cp03-log-connections": "high",
        "cp04-force-ssl": "high",
        "cp05-master-password": "high",
        "cp06-master-password-clear": "high",
        "cp07-policy-version": "medium",
        "cp08-put-role-policy": "medium",
        "cp09-trust": "medium",
        "cp10-proxy-passwords": "high",
        "cp11-activity-stream": "high",
        "cp12-rds-protection": "high",
        "cp13-refused": "low",
        "cp14-trail-stopped": "high",
        "cp15-trail-deleted": "high",
        "cp16-log-group-deleted": "high",
    }
    off = findings["cp01-iam-auth-off"]
    assert off.title == "IAM database authentication turned off on orders"
    assert off.account == PROD
    assert off.principals[0].arn == f"arn:aws:sts::{PROD}:assumed-role/dba/mallory"
    assert off.evidence[0].host == "198.51.100.77"
    assert off.evidence[0].time == datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
    # The exact request fields reach every way out (Slack, findings show), not only details.
    assert off.evidence[1].what == 'iam-auth-off: {"enableIAMDatabaseAuthentication": false}'
    assert off.details["changes"] == [
        {
            "kind": "iam-auth-off",
            "summary": "IAM database authentication turned off",
            "request": {"enableIAMDatabaseAuthentication": False},
        }
    ]
    export = findings["cp02-log-export"].details["changes"][0]
    assert export["summary"] == "postgresql no longer exported to CloudWatch Logs"
    assert export["request"]["cloudwatchLogsExportConfiguration"]["disableLogTypes"] == [
        "postgresql",
        "upgrade",
    ]
    parameters = findings["cp03-log-connections"].details["changes"][0]["request"]["parameters"]
    assert [p["parameterName"] for p in parameters] == ["log_connections"]
    grant = findings["cp07-policy-version"].details["changes"][0]
    assert grant["kind"] == "connect-grant"
    assert grant["request"]["statements"] == [
        {
            "Sid": "Connect",
            "Resource": [f"arn:aws:rds-db:us-east-1:{PROD}:dbuser:cluster-ABCDEFGHIJKL/*"],
        }
    ]
    assert findings["cp09-trust"].details["changes"][0]["kind"] == "watched-role"
    stopped = findings["cp14-trail-stopped"]
    assert stopped.details["changes"][0]["kind"] == "trail-stopped"
    assert stopped.title == (
        "CloudTrail trail logging stopped on "
        "arn:aws:cloudtrail:us-east-1:222222222222:trail/management-events"
    )
    assert findings["cp15-trail-deleted"].title == "CloudTrail trail deleted on management-events"
    gone = findings["cp16-log-group-deleted"].details["changes"][0]
    assert gone == {
        "kind": "log-group-deleted",
        "summary": "RDS log group deleted",
        "request": {"logGroupName": "/aws/rds/cluster/orders/postgresql"},
    }
    refused = findings["cp13-refused"]
    assert refused.title.startswith("Refused: ")
    assert "AccessDenied" in refused.why and "203.0.113.66" in refused.why
    assert "Sup3r-Secret" not in json.dumps([f.to_json() for f in findings.values()])


def test_access_change_detector_options(events: list[AccessChangeEvent]) -> None:
    quiet = _opts(ignore_principals=["arn:aws:sts::*:assumed-role/dba/*"], report_refused=False)
    assert detect(events, NOW, quiet) == []
    only_intruder = _opts(ignore_principals=["arn:aws:sts::*:assumed-role/dba/*"])
    assert [f.subject for f in detect(events, NOW, only_intruder)] == ["event/cp13-refused"]


def _opts(**values: Any) -> AccessChangeOptions:
    return AccessChangeOptions.model_validate(values)


def test_access_change_findings_from_the_stage(trail: Path, tmp_path: Path) -> None:
    config = Config.model_validate(
        {
            "store": {"path": str(tmp_path / "p.db")},
            "accounts": [{"id": PROD, "name": "prod", "role_arn": MONITOR_PROD}],
            "cloudtrail": {"local_dir": str(trail), "initial_lookback_days": 2},
        }
    )
    with Store.open(config.store.path) as store:
        summary = ingest(store, config, LocalTrail(trail), FrozenClock(NOW))
        # orders-app is not watched, but its new policy mentions rds-db: so it is read.
        assert summary.access_changes_new == len(CHANGES)
        run_detectors(store, config, NOW, only=["access-change"])
        rows = store.conn.execute(
            "SELECT severity, count(*) FROM findings WHERE detector = 'access-change'"
            " GROUP BY severity ORDER BY severity"
        ).fetchall()
        assert dict(rows) == {"high": 12, "medium": 3, "low": 1}
        # Past the lookback, the change is history: its finding resolves.
        run_detectors(store, config, NOW + timedelta(days=15), only=["access-change"])
        open_rows = store.conn.execute(
            "SELECT count(*) FROM findings WHERE detector = 'access-change' AND resolved_at IS NULL"
        ).fetchall()
        assert open_rows == [(0,)]


@pytest.fixture
def athena(moto_server: MotoServer) -> Iterator[AthenaTrail]:
    moto_server.reset()
    moto_server.client("s3").create_bucket(Bucket="pgwarden-athena-results")
    settings = AthenaSettings(
        output_location="s3://pgwarden-athena-results/q/", poll_interval_s=0.05
    )
    yield AthenaTrail(
        settings,
        endpoint_url=moto_server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.mark.integration
def test_access_change_athena_gives_the_duckdb_rows(
    trail: Path, moto_server: MotoServer, athena: AthenaTrail
) -> None:
    roles = [MONITOR_PROD, ORDERS_APP]
    duck, duck_result = access_change_events(LocalTrail(trail), WINDOW, roles)
    queue_athena_result(moto_server, duck_result)
    from_athena, athena_result = access_change_events(athena, WINDOW, roles)
    assert athena_result.columns == duck_result.columns
    assert from_athena == duck
    assert detect(from_athena, NOW, _opts()) == detect(duck, NOW, _opts())


def test_trail_cli_access_changes_from_an_exported_file(run_cli: Any, tmp_path: Path) -> None:
    records = [r for rs in fixture_files(CONTROL_PLANE).values() for r in rs]
    export = tmp_path / "incident.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run_cli(
        "trail", "access-changes", "--local", str(export), "--since", "2026-11-05",
        "--until", "2026-11-06", "--role-arn", MONITOR_PROD, "--format", "jsonl",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    listed = [json.loads(line) for line in result.stdout.splitlines()]
    # orders-app's policy still shows: it mentions rds-db:.
    assert [e["event_id"] for e in listed] == CHANGES
    assert "Sup3r-Secret-Clear-Text" not in result.stdout
    assert json.loads(listed[0]["request"])["enableIAMDatabaseAuthentication"] is False
