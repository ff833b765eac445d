"""The log sources against real parts: moto's CloudWatch Logs, DuckDB, files, PostgreSQL."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config
from monitor.sources.pglogs import PgLogsConfig
from monitor.sources.pglogs.cloudwatch import FILTER_PATTERN, read_cloudwatch
from monitor.sources.pglogs.files import LogFilesConfig
from monitor.sources.pglogs.ingest import ReadResult
from monitor.sources.targets import Target, attach_logs, configured_targets, rds_log_groups
from monitor.store.sqlite import Store
from tests.conftest import MotoServer

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pglog"
# moto, like CloudWatch Logs, refuses events over 14 days old, measured on the real clock: the
# tests' clock is yesterday at 04:00 UTC (always past, never stale), and fixture lines are
# re-dated to that day.
NOW = (datetime.now(UTC) - timedelta(days=1)).replace(hour=4, minute=0, second=0, microsecond=0)
DAY = NOW.strftime("%Y-%m-%d")
TARGET = Target(
    name="prod-orders",
    account_id="111122223333",
    account_name="prod",
    region="us-east-1",
    endpoint="orders.cluster-abc.us-east-1.rds.amazonaws.com",
    endpoint_type="cluster",
    port=5432,
    database="postgres",
    db_user="pgmonitor",
    cluster_id="orders",
    log_groups=rds_log_groups("cluster", "orders"),
    log_sources=("cloudwatch",),
)
GROUP = "/aws/rds/cluster/orders/postgresql"
IAM_GROUP = "/aws/rds/cluster/orders/iam-db-auth-error"
ONLY_PG = replace(TARGET, log_groups=(GROUP,))


def fixture_lines(name: str) -> list[str]:
    """A fixture's lines, their leading date moved to NOW's day."""
    text = (FIXTURES / name).read_text()
    return [re.sub(r"^\d{4}-\d{2}-\d{2}", DAY, line) for line in text.splitlines()]


def rows(store: Store) -> list[tuple[Any, ...]]:
    return store.conn.execute(
        "SELECT kind, user, method, reason, target FROM auth_events ORDER BY time, id"
    ).fetchall()


def row_keys(store: Store) -> list[tuple[Any, ...]]:
    return store.conn.execute("SELECT time, kind, pid, user FROM auth_events").fetchall()


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _postgresql_group(moto_server: Any, messages: list[str]) -> Any:
    """A fresh moto with GROUP holding `messages`, each at its line's time; its client."""
    moto_server.reset()
    logs = moto_server.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="orders-1")
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="orders-1",
        logEvents=[{"timestamp": _line_ms(m) + i, "message": m} for i, m in enumerate(messages)],
    )
    return logs


def _line_ms(line: str) -> int:
    """The time a stderr line gives itself, as the record's own timestamp: RDS publishes
    each entry at its time, and a line far from its record's time is refused as forged."""
    return _ms(datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC))


def _cloudwatch_messages() -> list[str]:
    # One record per log entry, as RDS publishes them; plus statement noise.
    lines = fixture_lines("rds_pam.log")
    noise = f"{DAY} 03:00:01 UTC:10.0.0.9(1):app@orders:[77]:LOG:  statement: SELECT 1"
    return [m for line in lines for m in (line, noise)]


def test_pglogs_cloudwatch_restart_halfway_no_loss_no_duplicates(
    moto_server: Any, tmp_path: Path
) -> None:
    moto_server.reset()
    logs = moto_server.client("logs")
    for group in (GROUP, IAM_GROUP):
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="orders-1")
    messages = _cloudwatch_messages()
    # The records' own timestamps are the lines' time (03:00 on NOW's day), as RDS
    # publishes them: a line far from its record's time is refused as forged.
    base = NOW - timedelta(hours=1)
    first, second = messages[:10], messages[10:]

    def put(group: str, batch: list[tuple[int, str]]) -> None:
        logs.put_log_events(
            logGroupName=group,
            logStreamName="orders-1",
            logEvents=[{"timestamp": ts, "message": m} for ts, m in batch],
        )

    put(GROUP, [(_ms(base) + i * 1000, m) for i, m in enumerate(first)])
    put(
        IAM_GROUP,
        [(_ms(base), fixture_lines("iam_db_auth_error.log")[0])],
    )
    opts = PgLogsConfig(initial_lookback_hours=2)
    path = tmp_path / "store.db"
    with Store.open(path) as store:
        run1 = read_cloudwatch(store, logs, TARGET, opts, base + timedelta(seconds=10), page_size=3)
        after_first = rows(store)
    # The daemon stops; more lines arrive, one of them late: its timestamp is before the
    # newest one already read, but within CloudWatch's ingestion delay.
    late_ts = _ms(base) + 9 * 1000 - 60_000
    put(GROUP, [(_ms(base) + (10 + i) * 1000, m) for i, m in enumerate(second)])
    late = (
        f"{DAY} 03:00:09 UTC:10.0.9.9(9):late@orders:[99]:"
        'FATAL:  PAM authentication failed for user "late"'
    )
    put(GROUP, [(late_ts, late)])
    with Store.open(path) as store:
        run2 = read_cloudwatch(store, logs, TARGET, opts, NOW, page_size=3)
        run3 = read_cloudwatch(store, logs, TARGET, opts, NOW + timedelta(minutes=1))
        final = rows(store)
        keys = row_keys(store)
    read_once = sum(r.records for r in run1 + run2 + run3)
    # Every CloudWatch event is read exactly once over the three reads, whatever the filter
    # kept (moto's filter is looser than AWS's); the third read finds nothing new.
    assert read_once == len(messages) + 2
    assert sum(r.records for r in run3) == 0
    kinds = [r[0] for r in final]
    assert kinds.count("auth_failed") == 4  # pam pair, lone FATAL, iam export, late FATAL
    assert ("auth_failed", "late", "pam", None, "prod-orders") in final
    assert (
        "auth_failed",
        "pgmonitor",
        "iam",
        "Unknown",
        "prod-orders",
    ) in final
    assert kinds.count("connection_received") == 3
    # rds_pam.log holds 9 events; plus the iam export line and the late FATAL.
    assert len(final) == len(keys) == len(set(keys)) == 11
    assert len(after_first) < len(final)
    assert all(r.stats.unparsed == 0 for r in run1 + run2 + run3)


def test_pglogs_cloudwatch_record_far_from_its_line_is_suspicious(
    moto_server: Any, tmp_path: Path
) -> None:
    # A user name holding a newline starts a record of its own in CloudWatch Logs, and
    # its forger chose its time and host; the record's own timestamp is the real one.
    forged = (
        "2020-01-01 03:00:00 UTC:10.66.66.66(6666):postgres@postgres:[5456]:FATAL:  "
        'password authentication failed for user "postgres"'
    )
    honest = fixture_lines("rds_pam.log")[0]
    logs = _postgresql_group(moto_server, [honest])
    # The forged record is written beside the honest one: its own timestamp is real.
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="orders-1",
        logEvents=[{"timestamp": _line_ms(honest) + 5, "message": forged}],
    )
    with Store.open(tmp_path / "s.db") as store:
        results = read_cloudwatch(store, logs, TARGET, PgLogsConfig(initial_lookback_hours=2), NOW)
        result = next(r for r in results if r.source == f"cloudwatch:{GROUP}")
        stored = store.conn.execute(
            "SELECT target, source, client_host, reason, line FROM auth_log_suspicious"
        ).fetchall()
        events = rows(store)
    assert result.records == 2 and result.stats.suspicious == 1
    assert [r[0] for r in events] == ["connection_received"]
    ((target, source, host, reason, line),) = stored
    assert (target, source, host, line) == ("prod-orders", f"cloudwatch:{GROUP}", None, forged)
    assert "from the record's own timestamp" in reason


def test_pglogs_cloudwatch_crash_mid_pagination_commits_nothing(
    moto_server: Any, tmp_path: Path
) -> None:
    from botocore.exceptions import EndpointConnectionError

    messages = fixture_lines("rds_pam.log")
    logs = _postgresql_group(moto_server, messages)
    calls = []

    def fail_third_page(**_: Any) -> None:
        # The network drops on the third page: a real client, a real failure mode.
        calls.append(1)
        if len(calls) == 3:
            raise EndpointConnectionError(endpoint_url=moto_server.url)

    logs.meta.events.register("before-call.cloudwatch-logs.FilterLogEvents", fail_third_page)
    opts = PgLogsConfig(initial_lookback_hours=1)
    with Store.open(tmp_path / "s.db") as store:
        with pytest.raises(EndpointConnectionError):
            read_cloudwatch(store, logs, ONLY_PG, opts, NOW, page_size=2)
        assert rows(store) == []
        assert store.get_cursor("pglogs.cloudwatch", f"prod-orders:{GROUP}") is None
        results = read_cloudwatch(store, logs, ONLY_PG, opts, NOW, page_size=2)
        assert [r.records for r in results] == [len(messages)]
        assert len(row_keys(store)) == len(set(row_keys(store))) == 9
    assert len(calls) > 3


def test_pglogs_cloudwatch_says_when_a_log_group_is_missing_or_has_no_streams(
    moto_server: Any, tmp_path: Path
) -> None:
    moto_server.reset()
    logs = moto_server.client("logs")
    with Store.open(tmp_path / "s.db") as store:
        missing = read_cloudwatch(store, logs, TARGET, PgLogsConfig(), NOW)
        # The postgresql group is what must be read: its absence is the target's problem.
        # The iam-db-auth-error group exists only where it is exported: absent, it is read
        # as empty (doctor warns about it).
        assert [(r.source, r.problem) for r in missing] == [
            (
                f"cloudwatch:{GROUP}",
                f"no log group {GROUP}: RDS does not export the postgresql log "
                "(see pgwarden doctor)",
            ),
            (f"cloudwatch:{IAM_GROUP}", None),
        ]
        assert store.get_cursor("pglogs.cloudwatch", f"prod-orders:{GROUP}") is None
        logs.create_log_group(logGroupName=GROUP)
        empty = read_cloudwatch(store, logs, ONLY_PG, PgLogsConfig(), NOW)
        assert [r.problem for r in empty] == [
            f"log group {GROUP} has no streams: RDS has written no log there yet"
        ]
        # A stream with nothing in the window is a quiet database, not a broken source.
        logs.create_log_stream(logGroupName=GROUP, logStreamName="orders-1")
        quiet = read_cloudwatch(store, logs, ONLY_PG, PgLogsConfig(), NOW)
        assert [(r.records, r.problem) for r in quiet] == [(0, None)]
        assert store.get_cursor("pglogs.cloudwatch", f"prod-orders:{GROUP}") == {
            "ts": 0,
            "seen": {},
        }
        # Once a group has given events, a quiet spell no longer asks for its streams.
        logs.put_log_events(
            logGroupName=GROUP,
            logStreamName="orders-1",
            logEvents=[{"timestamp": _ms(NOW - timedelta(hours=2)), "message": "x"}],
        )
        later = NOW + timedelta(minutes=5)
        read_cloudwatch(store, logs, ONLY_PG, PgLogsConfig(initial_lookback_hours=3), later)
        asked: list[str] = []
        logs.meta.events.register(
            "before-call.cloudwatch-logs.DescribeLogStreams", lambda **_: asked.append("x")
        )
        again = read_cloudwatch(store, logs, ONLY_PG, PgLogsConfig(), later + timedelta(hours=1))
        assert [(r.records, r.problem) for r in again] == [(0, None)]
        assert asked == []
    assert '?"pam_authenticate"' in FILTER_PATTERN
    assert len(FILTER_PATTERN) < 1024  # CloudWatch Logs' limit on a filter pattern


def _firehose_object(
    events: list[tuple[str, int, str]], group: str, kind: str = "DATA_MESSAGE"
) -> bytes:
    record = {
        "messageType": kind,
        "owner": "123456789012",
        "logGroup": group,
        "logStream": "orders-1",
        "subscriptionFilters": ["to-firehose"],
        "logEvents": [{"id": i, "timestamp": ts, "message": m} for i, ts, m in events],
    }
    return json.dumps(record).encode() + b"\n"


def test_pglogs_athena_sql_runs_on_duckdb(tmp_path: Path) -> None:
    import duckdb

    from monitor.sources.pglogs.athena import (
        auth_lines_sql,
        create_duckdb_table,
        duckdb_query,
        read_athena,
    )

    lines = fixture_lines("rds_pam.log")
    t0 = _ms(NOW - timedelta(minutes=50))
    hour = (NOW - timedelta(minutes=50)).strftime("%Y/%m/%d/%H")
    data = _firehose_object([(f"e{i}", t0 + i, m) for i, m in enumerate(lines)], GROUP)
    data += _firehose_object([("c1", t0, "CWL CONTROL MESSAGE")], GROUP, kind="CONTROL_MESSAGE")
    data += _firehose_object([("x1", t0, lines[2])], "/aws/rds/cluster/other/postgresql")
    (tmp_path / hour).mkdir(parents=True)
    (tmp_path / hour / "firehose-1.gz").write_bytes(gzip.compress(data))
    # A partition before the window: pruned by dt, never read.
    old = tmp_path / (NOW - timedelta(days=30)).strftime("%Y/%m/%d/%H")
    old.mkdir(parents=True)
    (old / "firehose-0.gz").write_bytes(
        gzip.compress(_firehose_object([("o1", 0, lines[2])], GROUP))
    )
    con = duckdb.connect()
    create_duckdb_table(con, tmp_path)
    query = duckdb_query(con, auth_lines_sql("duckdb"))
    opts = PgLogsConfig(initial_lookback_hours=2)
    with Store.open(tmp_path / "s.db") as store:
        first = read_athena(store, query, TARGET, opts, NOW)
        again = read_athena(store, query, TARGET, opts, NOW)
        stored = rows(store)
    con.close()
    assert [r.records for r in first] == [len(lines), 0]
    assert [r.records for r in again] == [0, 0]
    assert [r[0] for r in stored].count("auth_failed") == 2
    assert ("auth_failed", "pgmonitor", "pam", "Permission denied", "prod-orders") in stored


def _athena_config(tmp_path: Path, athena: dict[str, Any], **aws: Any) -> Config:
    from monitor.config import validate

    return validate(
        {
            "aws": aws,
            "accounts": [{"id": "111122223333", "name": "prod"}],
            "targets": [
                {
                    "name": "prod-orders",
                    "account": "prod",
                    "cluster_id": "orders",
                    "endpoint": "orders.cluster-abc.us-east-1.rds.amazonaws.com",
                }
            ],
            "pglogs": {"sources": ["athena"], "athena": athena},
        }
    )


def _athena_ingest(config: Config, store: Store, **connect: Any) -> list[ReadResult]:
    from monitor.clock import FrozenClock
    from monitor.sources.pglogs.athena import open_log_query
    from monitor.sources.pglogs.ingest import ingest

    targets = attach_logs(configured_targets(config), config.pglogs)
    with open_log_query(config.pglogs.athena, config.aws, **connect) as query:
        # No AWS client is asked for: the athena source runs with pgwarden's own role.
        return ingest(store, targets, config.pglogs, None, FrozenClock(NOW), query)  # type: ignore[arg-type]


def test_pglogs_ingest_athena_source_runs_locally(tmp_path: Path) -> None:
    lines = fixture_lines("rds_pam.log")
    hour = tmp_path / "logs" / (NOW - timedelta(hours=1)).strftime("%Y/%m/%d/%H")
    hour.mkdir(parents=True)
    data = _firehose_object([(f"e{i}", _line_ms(m) + i, m) for i, m in enumerate(lines)], GROUP)
    (hour / "part-1.gz").write_bytes(gzip.compress(data))
    # Athena's table name; locally the view is always named after the default table.
    athena = {"table": "logs_db.rds_logs", "local_dir": str(tmp_path / "logs")}
    with Store.open(tmp_path / "s.db") as store:
        results = _athena_ingest(_athena_config(tmp_path, athena), store)
        targets = store.conn.execute("SELECT DISTINCT target FROM auth_events").fetchall()
        count = store.conn.execute("SELECT count(*) FROM auth_events").fetchall()[0][0]
    assert [(r.target, r.records, r.problem) for r in results] == [
        ("prod-orders", len(lines), None),
        ("prod-orders", 0, None),
    ]
    assert count == 9
    assert targets == [("prod-orders",)]


def test_pglogs_athena_table_name_is_checked() -> None:
    from monitor.sources.pglogs.athena import AthenaTableError, auth_lines_sql

    sql = auth_lines_sql("athena", "logs_db.rds_logs")
    assert "logs_db.rds_logs AS l" in sql
    assert "CROSS JOIN UNNEST" in sql
    with pytest.raises(AthenaTableError):
        auth_lines_sql("athena", "x; DROP TABLE y")


def test_pglogs_files_resume_rotate_and_compressed(tmp_path: Path) -> None:
    from monitor.sources.logfiles import read_files

    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "postgresql.log"
    lines = (FIXTURES / "rds_pam.log").read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:4]) + lines[4][:20])  # the writer is mid-line
    (logs / "old.log.gz").write_bytes(gzip.compress((FIXTURES / "tricky.log").read_bytes()))
    opts = PgLogsConfig(sources=["files"], files=[LogFilesConfig(target="t", paths=[logs])])
    (target,) = attach_logs([replace(TARGET, name="t")], opts)
    with Store.open(tmp_path / "s.db") as store:
        first = read_files(store, target, opts, NOW)
        assert {Path(r.source.removeprefix("files:")).name: r.records for r in first} == {
            "old.log.gz": 19,
            "postgresql.log": 4,
        }
        with open(log, "ab") as fh:
            fh.write(lines[4][20:] + b"".join(lines[5:]))
        second = read_files(store, target, opts, NOW)
        assert [r.records for r in second] == [7]  # the rest; the .gz is not read again
        third = read_files(store, target, opts, NOW)
        assert third == []
        # Rotation: a new file under the same name is read from its start.
        os.replace(log, tmp_path / "rotated.log")
        log.write_bytes(lines[0])
        fourth = read_files(store, target, opts, NOW)
        assert [r.records for r in fourth] == [1]
        kinds = [r[0] for r in rows(store)]
        assert {r[4] for r in rows(store)} == {"t"}
    assert kinds.count("auth_failed") == 3  # two from rds_pam.log, one from tricky.log
    assert kinds.count("connection_received") == 3 + 2  # the rotated copy is the same event


def test_pglogs_parses_what_the_real_server_wrote(pg_server: Any) -> None:
    import psycopg

    from monitor.parsing.pglog import LogParser, parse_stream

    app = f"pgwarden-test-{uuid.uuid4().hex[:8]}"
    ghost = f"ghost_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.dsn(), application_name=app) as conn:
        conn.execute("SELECT 1")
    for dsn in (pg_server.dsn(dbname="no_such_db_x"), pg_server.dsn(user=ghost)):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn, connect_timeout=5).close()
    # The logging collector writes asynchronously: wait, with a deadline, for the last line.
    deadline = time.monotonic() + 10
    while ghost not in pg_server.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    parser = LogParser(source="pg_server")
    with open(pg_server.log_file, "rb") as fh:
        events = list(parse_stream(fh, parser))
    assert parser.format == "stderr"
    assert parser.stats.unparsed == 0
    authorized = [
        e for e in events if e.kind == "connection_authorized" and e.application_name == app
    ]
    assert len(authorized) == 1
    assert authorized[0].user == pg_server.superuser
    assert authorized[0].client_host == "127.0.0.1"
    rejected = {e.reason for e in events if e.kind == "connection_rejected"}
    assert 'database "no_such_db_x" does not exist' in rejected
    assert f'role "{ghost}" does not exist' in rejected
    assert not any(e.kind == "auth_failed" and e.user == ghost for e in events)


def test_pglogs_ingest_reads_every_configured_source(moto_server: Any, tmp_path: Path) -> None:
    from monitor.clock import FrozenClock
    from monitor.config import validate
    from monitor.sources.pglogs.ingest import ingest

    moto_server.reset()
    logs = moto_server.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_stream(logGroupName=GROUP, logStreamName="orders-1")
    line = fixture_lines("rds_pam.log")[-1]
    logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="orders-1",
        logEvents=[{"timestamp": _line_ms(line), "message": line}],
    )
    shutil.copy(FIXTURES / "iam_db_auth_error.log", tmp_path / "iam.log")
    (tmp_path / "empty").mkdir()
    config = validate(
        {
            "accounts": [{"id": "111122223333", "name": "prod"}],
            "targets": [
                {
                    "name": "prod-orders",
                    "account": "prod",
                    "cluster_id": "orders",
                    "endpoint": "orders.cluster-abc.us-east-1.rds.amazonaws.com",
                },
                {
                    "name": "self-hosted",
                    "account": "prod",
                    "instance_id": "pg-1",
                    "endpoint": "pg-1.internal.example.com",
                    "endpoint_type": "instance",
                },
            ],
            "pglogs": {
                "sources": ["cloudwatch", "files"],
                "files": [
                    {"target": "self-hosted", "paths": [str(tmp_path / "iam.log")]},
                    {"target": "self-hosted", "paths": [str(tmp_path / "gone.log")]},
                    {"target": "prod-orders", "paths": [str(tmp_path / "empty")]},
                ],
            },
        }
    )
    targets = attach_logs(configured_targets(config), config.pglogs)

    class Clients:
        def client(self, service: str, target: Target) -> Any:
            return moto_server.client(service)

    with Store.open(tmp_path / "s.db") as store:
        results = ingest(store, targets, config.pglogs, Clients(), FrozenClock(NOW))
        stored = store.conn.execute(
            "SELECT kind, user, method, target FROM auth_events ORDER BY user"
        ).fetchall()
        unparsed = store.conn.execute(
            "SELECT source, unparsed, samples FROM auth_log_unparsed"
        ).fetchall()
    assert [(r.target, r.source.split(":")[0], r.problem is None) for r in results] == [
        ("prod-orders", "cloudwatch", True),
        ("prod-orders", "cloudwatch", True),
        ("prod-orders", "files", False),  # an empty directory: nothing to read
        # self-hosted's cloudwatch group does not exist: said, as is its missing file.
        ("self-hosted", "cloudwatch", False),
        ("self-hosted", "cloudwatch", True),
        ("self-hosted", "files", True),
        ("self-hosted", "files", False),
    ]
    assert results[6].problem == f"{tmp_path / 'gone.log'}: no such file or directory"
    # Every event is its target's, the file's too.
    assert stored == [
        ("auth_failed", "alice@example.com", "iam", "self-hosted"),
        ("auth_failed", "pgmonitor", "iam", "self-hosted"),
        ("auth_failed", "reporting", "pam", "prod-orders"),
    ]
    assert unparsed == [(str(tmp_path / "iam.log"), 1, '["not a log line at all"]')]


def test_pglogs_athena_engine_through_pyathena_and_moto(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    from monitor.sources.trail_local import TrailResult
    from tests.support.athena import queue_athena_result

    moto_server.reset()
    moto_server.client("s3").create_bucket(Bucket="athena-results")
    lines = fixture_lines("rds_pam.log")
    columns = ["event_id", "event_ms", "message"]
    found = [
        dict(zip(columns, (f"e{i}", _line_ms(m) + i, m), strict=True)) for i, m in enumerate(lines)
    ]
    queue_athena_result(moto_server, TrailResult(columns=columns, rows=found))
    queue_athena_result(moto_server, TrailResult(columns=columns, rows=[]))  # iam-db-auth-error
    athena = {
        "engine": "athena",
        "table": "logs_db.rds_logs",
        "workgroup": "primary",
        "output_location": "s3://athena-results/pglogs/",
        "logs_location": "s3://rds-logs/firehose/",
        "query_deadline_s": 30,
    }
    config = _athena_config(tmp_path, athena, endpoint_url=moto_server.url)
    with Store.open(tmp_path / "s.db") as store:
        results = _athena_ingest(config, store, endpoint_url=moto_server.url)
        failed = store.conn.execute(
            "SELECT user, reason, target FROM auth_events WHERE kind = 'auth_failed' ORDER BY time"
        ).fetchall()
    assert [(r.source, r.records) for r in results] == [
        (f"athena:{GROUP}", len(lines)),
        (f"athena:{IAM_GROUP}", 0),
    ]
    assert failed == [
        ("pgmonitor", "Permission denied", "prod-orders"),
        ("reporting", None, "prod-orders"),
    ]
    client = moto_server.client("athena")
    sent = [
        client.get_query_execution(QueryExecutionId=q)["QueryExecution"]
        for q in client.list_query_executions()["QueryExecutionIds"]
    ]
    assert len(sent) == 2
    for execution in sent:
        assert "logs_db.rds_logs" in execution["Query"]
        assert execution["WorkGroup"] == "primary"
        assert execution["ResultConfiguration"]["OutputLocation"].startswith(
            "s3://athena-results/pglogs/"
        )
    # The log group went as a bound execution parameter, not into the SQL text.
    assert all(GROUP not in e["Query"] and IAM_GROUP not in e["Query"] for e in sent)
    assert sorted(e.get("ExecutionParameters", [""])[2] for e in sent) == [
        f"'{IAM_GROUP}'",
        f"'{GROUP}'",
    ]


def test_pglogs_athena_engine_failure_is_the_trail_engines_error(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    from monitor.sources.trail_athena import AthenaRequestFailed

    moto_server.reset()
    athena = {
        "engine": "athena",
        "workgroup": "no-such-workgroup",
        "output_location": "s3://athena-results/pglogs/",
        "logs_location": "s3://rds-logs/firehose/",
    }
    config = _athena_config(tmp_path, athena, endpoint_url=moto_server.url)
    with Store.open(tmp_path / "s.db") as store, pytest.raises(AthenaRequestFailed) as raised:
        _athena_ingest(config, store, endpoint_url=moto_server.url)
    assert "no-such-workgroup" in str(raised.value)


def test_pglogs_ingest_one_account_denied_the_others_still_read(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    from monitor.clock import FrozenClock
    from monitor.errors import AssumeRoleDenied
    from monitor.sources.pglogs.ingest import ingest

    _postgresql_group(moto_server, [fixture_lines("rds_pam.log")[-1]])
    elsewhere = replace(TARGET, name="elsewhere", account_id="999988887777")

    class Clients:
        def client(self, service: str, target: Target) -> Any:
            if target.account_id == elsewhere.account_id:
                raise AssumeRoleDenied(target.account_id, "arn:aws:iam::999988887777:role/m", "no")
            return moto_server.client(service)

    with Store.open(tmp_path / "s.db") as store:
        results = ingest(store, [elsewhere, ONLY_PG], PgLogsConfig(), Clients(), FrozenClock(NOW))
    assert [(r.target, r.problem) for r in results] == [
        (
            "elsewhere",
            "logs not read: account 999988887777: AssumeRole into "
            "arn:aws:iam::999988887777:role/m denied: no",
        ),
        ("prod-orders", None),
    ]
    assert results[1].events == 1


def test_pglogs_cloudwatch_iam_export_keeps_reason_code_and_caller(
    moto_server: Any, tmp_path: Path
) -> None:
    """SOURCES:iam_db_auth_error/troubleshooting_table.log, re-dated, through the cloudwatch
    source into the store: each failure keeps its code, and NotAuthorized its principal.
    moto's filter is looser than AWS's, so the filter pattern is checked for both verbs."""
    text = (FIXTURES.parent / "iam_db_auth_error" / "troubleshooting_table.log").read_text()
    assert all(f'?"Failed to {verb}"' in FILTER_PATTERN for verb in ("authenticate", "authorize"))
    lines = [re.sub(r"^\d{4}-\d{2}-\d{2}", DAY, line) for line in text.splitlines()]
    moto_server.reset()
    logs = moto_server.client("logs")
    for group in (GROUP, IAM_GROUP):
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName="orders-1")
    logs.put_log_events(
        logGroupName=IAM_GROUP,
        logStreamName="orders-1",
        logEvents=[{"timestamp": _ms(NOW) - 60_000 + i, "message": m} for i, m in enumerate(lines)],
    )
    with Store.open(tmp_path / "s.db") as store:
        read_cloudwatch(store, logs, TARGET, PgLogsConfig(), NOW)
        stored = store.conn.execute(
            "SELECT kind, method, reason_code, caller_arn FROM auth_events ORDER BY time"
        ).fetchall()
    assert stored == [
        ("auth_failed", "iam", "InvalidToken", None),
        ("auth_failed", "iam", "ExpiredToken", None),
        (
            "auth_failed",
            "iam",
            "NotAuthorized",
            "arn:aws:sts::123456789012:assumed-role/RoleName/RoleSession",
        ),
        ("auth_failed", "iam", "ThrottlingException", None),
        ("auth_failed", "iam", "InternalError", None),
    ]
