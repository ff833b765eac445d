"""`pgwarden trail ...` as a user runs it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.trail import MONITOR_PROD, PROD, write_bad_files, write_trail

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    return write_trail(tmp_path / "copy")


def test_trail_cli_local_csv_without_config(run_cli: Any, trail: Path) -> None:
    result = run_cli(
        "trail",
        "assume-role",
        "--local",
        str(trail),
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-04",
        "--format",
        "csv",
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    # Without a config and without --role-arn, every role: e4 (unwatched) included.
    assert [r["event_id"] for r in rows] == [
        "e1-cross-account",
        "e2-same-account",
        "e4-unwatched",
        "e5-service",
        "e6-denied",
        "e7-web-identity",
        "e8-saml",
        "e9-cross-account-analytics",
        "e10-org-layout",
    ]
    saml = next(r for r in rows if r["event_id"] == "e8-saml")
    assert saml["role_session_name"] == '\'=HYPERLINK("http://evil.example")'
    assert "super-secret-external-id" not in result.stdout
    assert (
        next(r for r in rows if r["event_id"] == "e1-cross-account")["external_id_present"]
        == "true"
    )


def test_trail_cli_role_filter_jsonl(run_cli: Any, trail: Path) -> None:
    result = run_cli(
        "trail",
        "assume-role",
        "--local",
        str(trail),
        "--since",
        "2026-11-01T00:00:00Z",
        "--until",
        "2026-11-02",
        "--role-arn",
        MONITOR_PROD,
        "--format",
        "jsonl",
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event_id"] for e in events] == ["e1-cross-account", "e6-denied"]
    assert events[1]["hidden"] == ["principal_arn"]


def test_trail_cli_names_bad_files_and_goes_on(run_cli: Any, trail: Path) -> None:
    bad = write_bad_files(trail, f"AWSLogs/{PROD}/CloudTrail/us-east-1/2026/11/01")
    result = run_cli(
        "trail",
        "assume-role",
        "--local",
        str(trail),
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-02",
        "--format",
        "jsonl",
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 5
    for path in bad.values():
        assert f"skipped unreadable trail file {path}" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], '--since: not a date or time: "yesterday"'),
        (["--since", "2026-11-02", "--until", "2026-11-01"], "must be after --since"),
        (
            ["--since", "2026-11-01", "--local", "/nonexistent/trail"],
            "trail directory or file not found",
        ),
        (["--since", "2026-11-01", "--region", "mars-1"], '--region: not an AWS region: "mars-1"'),
        (
            ["--since", "2026-11-01", "--role-arn", "pg-monitor-role"],
            "--role-arn: not an IAM role ARN",
        ),
    ],
)
def test_trail_cli_user_errors_exit_2(
    run_cli: Any, trail: Path, args: list[str], message: str
) -> None:
    local = [] if "--local" in args else ["--local", str(trail)]
    result = run_cli("trail", "assume-role", *local, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_trail_cli_ddl_for_the_example_config(run_cli: Any) -> None:
    result = run_cli("trail", "ddl", "--config", str(REPO / "config.example.toml"))
    assert result.returncode == 0, result.stderr
    ddl = result.stdout
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS default.cloudtrail" in ddl
    assert "LOCATION 's3://org-cloudtrail-logs/AWSLogs/o-exampleorgid/'" in ddl
    assert "'projection.account.values' = '111111111111,222222222222,333333333333'" in ddl
    assert (
        "'storage.location.template' = "
        "'s3://org-cloudtrail-logs/AWSLogs/o-exampleorgid/${account}/CloudTrail/${region}/${timestamp}'"
    ) in ddl
    assert "{{" not in ddl


def test_trail_cli_ddl_refuses_a_bad_bucket(run_cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[[accounts]]\nid = "222222222222"\nname = "p"\n'
        '[cloudtrail]\nbucket = "x\'; DROP"\nathena_table = "ct"\n'
    )
    result = run_cli("trail", "ddl", "--config", str(config))
    assert result.returncode == 2
    assert "cloudtrail.bucket: not an S3 bucket name" in result.stderr


def test_trail_cli_athena_engine_through_moto(
    run_cli: Any, trail: Path, tmp_path: Path, moto_server: Any
) -> None:
    from datetime import UTC, datetime

    from monitor.sources.cloudtrail import TrailWindow, assume_role_events
    from monitor.sources.trail_local import LocalTrail
    from tests.support.athena import queue_athena_result

    moto_server.reset()
    moto_server.client("s3").create_bucket(Bucket="pgwarden-athena-results")
    window = TrailWindow(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))
    _, result = assume_role_events(LocalTrail(trail), window, [MONITOR_PROD])
    queue_athena_result(moto_server, result)
    config = tmp_path / "athena.toml"
    config.write_text(
        f'[aws]\nendpoint_url = "{moto_server.url}"\n'
        f'[[accounts]]\nid = "{PROD}"\nname = "prod"\nrole_arn = "{MONITOR_PROD}"\n'
        '[cloudtrail]\nengine = "athena"\n'
        'output_location = "s3://pgwarden-athena-results/q/"\nquery_deadline_s = 30\n'
    )
    out = run_cli(
        "--log-format",
        "json",
        "trail",
        "assume-role",
        "--config",
        str(config),
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-04",
        "--format",
        "jsonl",
    )
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["event_id"] for line in out.stdout.splitlines()] == [
        "e1-cross-account",
        "e6-denied",
    ]
    [log] = [json.loads(line) for line in out.stderr.splitlines() if "bytes_scanned" in line]
    assert log["bytes_scanned"] == 0
    assert log["cost_usd"] > 0


def test_trail_cli_athena_unknown_workgroup_is_one_line(
    run_cli: Any, tmp_path: Path, moto_server: Any
) -> None:
    config = tmp_path / "athena.toml"
    config.write_text(
        f'[aws]\nendpoint_url = "{moto_server.url}"\n'
        '[cloudtrail]\nengine = "athena"\nworkgroup = "no-such-workgroup"\n'
        'output_location = "s3://pgwarden-athena-results/q/"\n'
        'watched_roles = ["arn:aws:iam::222222222222:role/pg-monitor-role"]\n'
    )
    out = run_cli("trail", "assume-role", "--config", str(config), "--since", "2026-11-01")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "Athena query (assume_role) in workgroup no-such-workgroup failed: An error occurred "
        "(InvalidRequestException) when calling the StartQueryExecution operation: "
        "WorkGroup does not exist"
    ]


def test_trail_cli_access_changes(run_cli: Any, trail: Path) -> None:
    base = ["trail", "access-changes", "--local", str(trail), "--since", "2026-11-01"]
    base += ["--until", "2026-11-04", "--format", "jsonl"]
    anyone = run_cli(*base)
    assert anyone.returncode == 0, anyone.stderr
    events = [json.loads(line) for line in anyone.stdout.splitlines()]
    # Without watched roles, only RDS changes and policies that mention rds-db: are shown.
    assert [e["event_id"] for e in events] == [
        "c1-iam-auth-off",
        "c3-proxy",
        "c4-connect-policy",
        "c7-instance-iam-on",
    ]
    assert events[0]["iam_auth"] is False
    watched = run_cli(*base, "--role-arn", MONITOR_PROD)
    assert watched.returncode == 0, watched.stderr
    assert "c6-attach-monitor" in {json.loads(x)["event_id"] for x in watched.stdout.splitlines()}


def test_trail_cli_reads_exported_array_and_names_bad_records(run_cli: Any, tmp_path: Path) -> None:
    from tests.support.trail import fixture_files

    records = [r for rs in fixture_files().values() for r in rs]
    records.append({k: v for k, v in records[0].items() if k != "eventID"})
    records.append({"eventID": "no-time", "eventName": "AssumeRole"})
    export = tmp_path / "stratus-detonation.json"
    export.write_text(json.dumps(records))
    result = run_cli(
        "trail", "assume-role", "--local", str(export), "--since", "2026-11-01",
        "--until", "2026-11-04", "--format", "jsonl",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    ids = [json.loads(line)["event_id"] for line in result.stdout.splitlines()]
    assert ids[:2] == ["e1-cross-account", "e2-same-account"] and len(ids) == 9
    # One without eventID (selected, then counted) and one without eventTime (counted
    # when the file was checked): one line naming the file.
    assert f"skipped 2 records without eventID or eventTime in {export}" in result.stderr
