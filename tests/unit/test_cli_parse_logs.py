"""`pgwarden parse-logs`, run as a user runs it: the installed console script."""

from __future__ import annotations

import bz2
import gzip
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pglog"
RunCli = Callable[..., Any]

SUMMARY_KEYS = [
    "lines",
    "entries",
    "unparsed",
    "suspicious",
    "events",
    "auth_failed_by_user",
    "auth_failed_by_method",
    "connections_by_user",
]
EVENT_KEYS = [
    "time",
    "kind",
    "user",
    "database",
    "client_host",
    "client_port",
    "pid",
    "method",
    "reason",
    "application_name",
    "source",
    "identity",
    "tls",
    "session_s",
    "proxy",
    "reason_code",
    "caller_arn",
]


def test_cli_parse_logs_summary(run_cli: RunCli) -> None:
    result = run_cli("parse-logs", "--summary", str(FIXTURES / "rds_pam.log"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert list(summary) == SUMMARY_KEYS
    assert summary == {
        "lines": 11,
        "entries": 11,
        "unparsed": 0,
        "suspicious": 0,
        "events": {
            "connection_received": 3,
            "connection_authenticated": 1,
            "connection_authorized": 1,
            "auth_failed": 2,
            "hba_rejected": 1,
            "connection_rejected": 0,
            "disconnection": 1,
        },
        "auth_failed_by_user": {"pgmonitor": 1, "reporting": 1},
        "auth_failed_by_method": {"pam": 2},
        "connections_by_user": {"pgmonitor": 1},
    }


def test_cli_parse_logs_json_lines(run_cli: RunCli) -> None:
    result = run_cli("parse-logs", str(FIXTURES / "iam_db_auth_error.log"))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [list(e) for e in events] == [EVENT_KEYS, EVENT_KEYS]
    assert events[0]["time"] == "2026-11-23T03:00:05.804000+00:00"
    assert events[0]["method"] == "iam"
    # The unreadable line is reported on stderr, not mixed into the events.
    assert "1 unparsed lines" in result.stderr
    assert "not a log line at all" in result.stderr


def test_cli_parse_logs_stdin_gz_bz2_and_directories(run_cli: RunCli, tmp_path: Path) -> None:
    data = (FIXTURES / "rds_pam.log").read_bytes()
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log.gz").write_bytes(gzip.compress(data))
    (logs / "b.log.bz2").write_bytes(bz2.compress(data))
    shutil.copy(FIXTURES / "rds_pam.log", logs / "c.log")
    from_dir = json.loads(run_cli("parse-logs", "--summary", str(logs)).stdout)
    assert from_dir["lines"] == 33
    assert from_dir["events"]["auth_failed"] == 6
    from_stdin = run_cli("parse-logs", "--summary", "-", input=data.decode())
    assert json.loads(from_stdin.stdout)["events"]["auth_failed"] == 2


def test_cli_parse_logs_format_and_prefix_options(run_cli: RunCli, tmp_path: Path) -> None:
    log = tmp_path / "custom.log"
    log.write_text(
        "2026-11-23 03:00:00.000 UTC [7] app@db LOG:  connection authorized: user=app database=db\n"
    )
    result = run_cli("parse-logs", "--format", "stderr", "--prefix", "%m [%p] %q%u@%d ", str(log))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["user"] == "app"
    default_prefix = run_cli("parse-logs", "--summary", "--format", "stderr", str(log))
    assert json.loads(default_prefix.stdout)["unparsed"] == 1


def test_cli_parse_logs_user_errors_exit_2(run_cli: RunCli, tmp_path: Path) -> None:
    missing = run_cli("parse-logs", str(tmp_path / "nope.log"))
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"{tmp_path / 'nope.log'}: no such file or directory"
    bad_prefix = run_cli("parse-logs", "--prefix", "%t %z", str(FIXTURES / "rds_pam.log"))
    assert bad_prefix.returncode == 2
    assert "unknown escape %z" in bad_prefix.stderr
    truncated = tmp_path / "truncated.log.gz"
    truncated.write_bytes(gzip.compress((FIXTURES / "tricky.log").read_bytes())[:200])
    corrupt = tmp_path / "corrupt.log.gz"
    corrupt.write_bytes(gzip.compress(b"")[:10] + b"\xff" * 50)
    broken = [run_cli("parse-logs", str(path)) for path in (truncated, corrupt)]
    for result in broken:
        assert result.returncode == 2
        assert "cannot read" in result.stderr
    for result in (missing, bad_prefix, *broken):
        assert "Traceback" not in result.stderr


def test_cli_parse_logs_imports_nothing_heavy() -> None:
    # Start-up is part of every benchmark of this command: keep boto3 & co. out of it.
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from monitor.cli import main\n"
        f"log = {str(FIXTURES / 'rds_pam.log')!r}\n"
        "r = CliRunner().invoke(main, ['parse-logs', '--summary', log])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = {'boto3', 'botocore', 'pandas', 'pydantic', 'duckdb', 'sqlglot', 'psycopg'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _exe() -> str:
    return shutil.which("pgwarden", path=str(Path(sys.executable).parent)) or "pgwarden"


def test_cli_parse_logs_full_disk_is_an_output_error(tmp_path: Path) -> None:
    # A write error on stdout is not blamed on the log file, and is one line, exit 2.
    log = tmp_path / "big.log"
    log.write_bytes((FIXTURES / "rds_pam.log").read_bytes() * 2000)
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [_exe(), "parse-logs", str(log)], stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert result.returncode == 2
    assert result.stderr.strip() == "stdout: cannot write: No space left on device"


def test_cli_parse_logs_reader_going_away_is_quiet(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_bytes((FIXTURES / "rds_pam.log").read_bytes() * 5000)
    proc = subprocess.Popen(
        [_exe(), "parse-logs", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert json.loads(proc.stdout.readline())["kind"] == "connection_received"
    proc.stdout.close()  # like `| head -1`
    assert proc.wait(timeout=60) == 141
    assert proc.stderr.read() == ""


def test_cli_parse_logs_suspicious_entries(run_cli: RunCli) -> None:
    # Written by the real server while issue 17's attacks ran (tests/fixtures/SOURCES.md).
    log = str(FIXTURES / "injection.log")
    summary = json.loads(run_cli("parse-logs", "--summary", log).stdout)
    assert summary["suspicious"] == 16
    assert summary["connections_by_user"] == {"legacy_batch": 1, "postgres": 1}
    assert summary["auth_failed_by_user"] == {"[unknown]": 9}
    result = run_cli("parse-logs", log)
    assert result.returncode == 0, result.stderr
    assert "16 suspicious entries refused as evidence" in result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    suspicious = [r for r in records if r["kind"] == "suspicious_entry"]
    assert len(suspicious) == 16
    assert list(suspicious[0]) == [
        "kind",
        "time",
        "reason",
        "client_host",
        "client_port",
        "source",
        "line",
    ]
    # The raw line, escaped: one JSON line each, no newline or control character in it.
    newline = next(r for r in suspicious if "10.66.66.66" in r["line"])
    assert "\\n2020-01-01 03:00:00 UTC:10.66.66.66(6666):postgres@attackdb" in newline["line"]
    assert all(ch.isprintable() for r in suspicious for ch in r["line"])
    assert not [r for r in records if r.get("client_host") == "10.66.66.66"]


def test_cli_parse_logs_unknown_formats_are_named_and_exit_1(
    run_cli: RunCli, tmp_path: Path
) -> None:
    # Shapes written for this test from the formats' documented fields, not copied.
    cloudsql = {
        "insertId": "s1",
        "logName": "projects/p/logs/cloudsql.googleapis.com%2Fpostgres.log",
        "resource": {"type": "cloudsql_database", "labels": {"database_id": "p:db"}},
        "textPayload": "2026-11-23 03:00:00.000 UTC [7]: [1-1] db=x,user=y LOG:  connection",
        "timestamp": "2026-11-23T03:00:00.000Z",
    }
    cnpg = {
        "level": "info",
        "ts": "2026-11-23T03:00:00.000Z",
        "logger": "postgres",
        "msg": "record",
        "logging_pod": "cluster-1",
        "record": {"log_time": "2026-11-23 03:00:00.000 UTC", "error_severity": "LOG"},
    }
    inputs = {
        "cloudsql.json": (json.dumps(cloudsql) + "\n") * 3,
        "cnpg.json": json.dumps(cnpg) + "\n",
        "syslog.log": "Nov 23 03:00:00 db1 postgres[7]: [1-1] LOG:  connection received\n",
    }
    names = {
        "cloudsql.json": "a Cloud SQL (Cloud Logging) JSON export",
        "cnpg.json": "CloudNativePG's JSON log",
        "syslog.log": "syslog",
    }
    for name, text in inputs.items():
        path = tmp_path / name
        path.write_text(text)
        result = run_cli("parse-logs", "--summary", str(path))
        assert result.returncode == 1, (name, result.stderr)
        assert f"{path}: looks like {names[name]}; pgwarden reads" in result.stderr
        assert "nothing in the input could be read" in result.stderr
        assert json.loads(result.stdout)["unparsed"] == text.count("\n")
    empty = tmp_path / "empty.log"
    empty.write_text("")
    assert run_cli("parse-logs", str(empty)).returncode == 1
    # One readable file is enough for exit 0; the other is still named.
    both = run_cli(
        "parse-logs", "--summary", str(tmp_path / "syslog.log"), str(FIXTURES / "rds_pam.log")
    )
    assert both.returncode == 0 and "looks like syslog" in both.stderr
