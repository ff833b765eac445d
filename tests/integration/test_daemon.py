"""`pgwarden run` as a real process against PostgreSQL with IAM login, moto and Slack.

The inputs are those of tests/integration/test_scenario.py: failed IAM logins in the
server log, published to CloudWatch Logs in the database account, and CloudTrail files.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from monitor.config import validate
from monitor.sandbox.aws import Account
from monitor.sandbox.pam import IamPg
from monitor.sandbox.trail import assume_role_record, file_name, write_files
from monitor.stages import run_once
from monitor.store.sqlite import Store
from tests.conftest import MotoServer, SlackApi
from tests.integration.test_scenario import ACCOUNT, MGMT, ROLE, RUNNER, login
from tests.support.activity import target_table
from tests.support.daemon import DaemonProcess, wait_for, write_toml

JOBS = (
    "poll-activity",
    "ingest-logs",
    "ingest-cloudtrail",
    "refresh-grants",
    "prune-store",
    "detect",
    "deliver-alerts",
)


def fail_logins(iam_pg: IamPg, times: int) -> list[str]:
    """`times` failed IAM logins of the scenario's user; the server lines they wrote."""
    start = len(iam_pg.server.log_text())
    for _ in range(times):
        with pytest.raises(psycopg.OperationalError, match="PAM authentication failed"):
            login(iam_pg, "not-a-token").close()

    def written() -> list[str] | None:
        lines = iam_pg.server.log_lines(start, "PAM authentication failed", count=times)
        return lines if sum("PAM authentication failed" in x for x in lines) == times else None

    return wait_for("the failures in the server log", written)


class Inputs:
    """A log group for one target, in the scenario's database account, and a trail copy."""

    def __init__(self, moto_server: MotoServer, iam_pg: IamPg, tmp_path: Path, name: str) -> None:
        from tests.integration.test_scenario import APP

        iam_pg.create_iam_user(APP)
        self.name = name
        self.logs = Account(moto_server.sandbox, ACCOUNT).client("logs")
        self.group = f"/aws/rds/cluster/{name}/postgresql"
        self.logs.create_log_group(logGroupName=self.group)
        self.logs.create_log_stream(logGroupName=self.group, logStreamName="s1")
        self.iam_pg = iam_pg
        now = datetime.now(UTC).replace(microsecond=0)
        records = [
            assume_role_record(f"{name}-ok", now - timedelta(minutes=30), ROLE, RUNNER, MGMT)
        ]
        records.append(
            assume_role_record(
                f"{name}-odd",
                now - timedelta(minutes=20),
                ROLE,
                "arn:aws:iam::999999999999:user/x",
                "999999999999",
            )
        )
        self.trail = tmp_path / "trail"
        write_files(self.trail, {file_name(ACCOUNT, now): records})

    def publish_failures(self, times: int) -> int:
        """Fail `times` logins and publish the server's lines; how many lines went out."""
        lines = fail_logins(self.iam_pg, times)
        now_ms = int(time.time() * 1000)
        self.logs.put_log_events(
            logGroupName=self.group,
            logStreamName="s1",
            logEvents=[{"timestamp": now_ms + i, "message": x} for i, x in enumerate(lines)],
        )
        return len(lines)

    def config(
        self, tmp_path: Path, moto_url: str, slack_url: str | None, port: int | None
    ) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "store": {"path": str(tmp_path / "pgwarden.db")},
            "aws": {"endpoint_url": moto_url, "management_accounts": [MGMT]},
            "accounts": [{"id": ROLE.split(":")[4], "name": "prod", "role_arn": ROLE}],
            "targets": [target_table(self.iam_pg, self.name)],
            "activity": {"interval_s": 0.5, "poll_deadline_s": 0.45},
            "pglogs": {"sources": ["cloudwatch"], "interval_s": 0.5},
            "cloudtrail": {"engine": "local", "local_dir": str(self.trail), "interval_s": 1},
            "scheduler": {
                "grants_interval_s": 2,
                "detect_interval_s": 0.5,
                "alerts_interval_s": 0.5,
                "jitter_s": 0,
            },
            "retention": {"interval_s": 1},
            # Findings about other tests' users of the shared server are noise here.
            "detectors": {"unused-db-user": {"enabled": False}},
        }
        if slack_url:
            raw["alerts"] = {
                "slack": {
                    "enabled": True,
                    "token": "env:SLACK_TOKEN",
                    "base_url": slack_url,
                    "max_per_run": 100,
                }
            }
        if port:
            raw["metrics"] = {"enabled": True, "port": port}
        return raw


def quick_config(tmp_path: Path) -> dict[str, Any]:
    """A daemon with nothing to reach: no targets, no log files, an empty trail; every job
    every 0.3 s."""
    (tmp_path / "trail").mkdir()
    write_files(tmp_path / "trail", {file_name(ACCOUNT, datetime.now(UTC)): []})
    return {
        "store": {"path": str(tmp_path / "pgwarden.db")},
        "activity": {"interval_s": 0.3, "poll_deadline_s": 0.28},
        "pglogs": {"sources": ["files"], "interval_s": 0.3},
        "cloudtrail": {"local_dir": str(tmp_path / "trail"), "interval_s": 0.3},
        "scheduler": {"jitter_s": 0, "detect_interval_s": 0.3},
    }


def start_quick(tmp_path: Path, port: int) -> tuple[Any, dict[str, Any]]:
    """A daemon on quick_config with metrics on `port`, serving; and its config."""
    raw = {**quick_config(tmp_path), "metrics": {"enabled": True, "port": port}}
    daemon = start(tmp_path, raw, port)
    try:
        daemon.wait_serving()
    except BaseException:
        daemon.kill()
        raise
    return daemon, raw


def start(tmp_path: Path, raw: dict[str, Any], port: int | None, log: str = "run.log") -> Any:
    path = tmp_path / "pgwarden.toml"
    write_toml(path, raw)
    validate(raw)
    return DaemonProcess(path, tmp_path / log, port)


def counts(path: Path) -> dict[str, int]:
    with Store.open(path, writer=False) as store:
        return {
            table: int(store.conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
            for table in ("auth_events", "assume_role_events", "outbox")
        }


def delivered_ids(slack: SlackApi) -> list[int]:
    ids = []
    for message in slack.messages:
        metadata = message["metadata"]
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        ids.append(int(metadata["event_payload"]["outbox_id"]))
    return ids


def sent_ids(path: Path) -> tuple[list[int], int]:
    """Outbox rows marked sent, and how many wait."""
    with Store.open(path, writer=False) as store:
        rows = store.conn.execute("SELECT id, sent_at, digest FROM outbox").fetchall()
    assert all(digest == 0 for _, _, digest in rows), "no digest expected at this volume"
    return sorted(i for i, sent, _ in rows if sent), sum(sent is None for _, sent, _ in rows)


def prepare(
    iam_pg: IamPg, moto_server: MotoServer, slack: SlackApi, tmp_path: Path, port: int, name: str
) -> tuple[Inputs, dict[str, Any], int]:
    """Six failed logins published for target `name`; the daemon's config."""
    inputs = Inputs(moto_server, iam_pg, tmp_path, name)
    inputs.publish_failures(6)
    return inputs, inputs.config(tmp_path, moto_server.url, slack.url, port), port


@pytest.fixture
def slack(slack_api: SlackApi) -> SlackApi:
    slack_api.clear()
    return slack_api


def test_daemon_runs_cycles_serves_metrics_and_stops_on_sigterm(
    iam_pg: IamPg,
    moto_server: MotoServer,
    slack: SlackApi,
    tmp_path: Path,
    free_port: Callable[[], int],
) -> None:
    inputs, raw, port = prepare(iam_pg, moto_server, slack, tmp_path, free_port(), "cycles")
    daemon = start(tmp_path, raw, port)
    idle = psycopg.connect(iam_pg.server.dsn(), autocommit=True)  # a session to be seen
    try:
        daemon.wait_serving()
        assert daemon.get("/healthz") == (200, "ok\n")
        wait_for("readiness", lambda: daemon.get("/readyz")[0] == 200)
        assert daemon.get("/readyz") == (200, "ready\n")
        for job in JOBS:  # a few cycles of every job
            wait_for(
                f"three runs of {job}",
                lambda job=job: (daemon.metric("pgwarden_job_runs_total", job=job) or 0) >= 3,
            )
        wait_for(
            "the alerts delivered",
            lambda: daemon.metric("pgwarden_outbox_pending") == 0 and slack.messages,
        )
        metric = daemon.metric
        assert metric("pgwarden_target_up", target=inputs.name) == 1
        assert metric("pgwarden_auth_failures_total") == 6
        assert metric("pgwarden_findings_open", detector="failure-burst") == 2  # user, host
        assert metric("pgwarden_findings_open", detector="unexpected-assume-source") == 1
        assert (metric("pgwarden_poll_duration_seconds_count") or 0) >= 3
        assert (metric("pgwarden_sessions", state="idle") or 0) >= 1
        assert metric("pgwarden_cursor_lag_seconds", source="pglogs.cloudwatch") is not None
        assert metric("pgwarden_cursor_lag_seconds", source="cloudtrail") is not None
        assert metric("pgwarden_job_runs_total", outcome="failed") is None
        code, took = daemon.stop(signal.SIGTERM)
    finally:
        daemon.kill()
        idle.close()
    assert (code, took < 10) == (0, True), daemon.log_path.read_text()[-3000:]
    assert daemon.logged("pgwarden run: stopped")
    # Everything is committed and the writer lock is free: a writer opens the store at once.
    with Store.open(tmp_path / "pgwarden.db", busy_timeout_ms=0) as store:
        assert store.conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    ids, pending = sent_ids(tmp_path / "pgwarden.db")
    assert pending == 0 and sorted(delivered_ids(slack)) == ids
    # The monitor's own sessions closed with it.
    with psycopg.connect(iam_pg.server.dsn(), autocommit=True) as admin:
        left = wait_for(
            "pgwarden's sessions to end",
            lambda: admin.execute(
                "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'pgwarden'"
            ).fetchall()[0][0],
            deadline_s=5,
        )
    assert left


def test_daemon_kill_9_then_restart_loses_and_duplicates_nothing(
    iam_pg: IamPg,
    moto_server: MotoServer,
    slack: SlackApi,
    tmp_path: Path,
    free_port: Callable[[], int],
) -> None:
    inputs, raw, port = prepare(iam_pg, moto_server, slack, tmp_path, free_port(), "crash")
    store = tmp_path / "pgwarden.db"
    first = start(tmp_path, raw, port, "first.log")
    try:
        first.wait_serving()
        wait_for("the first events stored", lambda: first.metric("pgwarden_auth_failures_total"))
        wait_for("a first alert", lambda: slack.messages)
        inputs.publish_failures(6)  # more arrives while it runs...
        time.sleep(random.uniform(0, 1.5))  # ...and it dies at some point in its work
    finally:
        first.kill()
    assert first.proc.returncode == -signal.SIGKILL

    second = start(tmp_path, raw, port, "second.log")
    try:
        second.wait_serving()
        wait_for(
            "every failure stored",
            lambda: second.metric("pgwarden_auth_failures_total") == 12,
        )
        wait_for("the outbox drained", lambda: second.metric("pgwarden_outbox_pending") == 0)
        for job in JOBS:  # then a few more runs over the same data
            runs = second.metric("pgwarden_job_runs_total", job=job) or 0
            wait_for(
                f"more runs of {job}",
                lambda job=job, runs=runs: (
                    (second.metric("pgwarden_job_runs_total", job=job) or 0) >= runs + 2
                ),
            )
        code, _ = second.stop(signal.SIGTERM)
    finally:
        second.kill()
    assert code == 0

    # The same inputs read once into a fresh store: the crash neither lost nor doubled any.
    reference = validate({**raw, "store": {"path": str(tmp_path / "reference.db")}, "alerts": {}})
    assert [r.stage for r in run_once(reference, ["pglogs", "cloudtrail"]) if r.failures] == []
    got, want = counts(store), counts(tmp_path / "reference.db")
    assert got["auth_events"] == want["auth_events"]
    assert got["assume_role_events"] == want["assume_role_events"] == 2
    ids, pending = sent_ids(store)
    assert pending == 0
    assert sorted(delivered_ids(slack)) == ids  # each alert once, none missing
    with sqlite3.connect(store) as conn:
        bursts = conn.execute(
            "SELECT count(*) FROM findings WHERE detector = 'failure-burst'"
        ).fetchall()
    assert bursts == [(2,)]


def test_daemon_sighup_reload_and_a_second_daemon(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    daemon, raw = start_quick(tmp_path, free_port())
    try:
        wait_for("a detect run", lambda: daemon.metric("pgwarden_job_runs_total", job="detect"))

        # A second daemon on the same store refuses, before it binds anything.
        second = start(tmp_path, {**raw, "metrics": {"enabled": True, "port": free_port()}}, None)
        assert second.proc.wait(timeout=30) == 2
        second.kill()
        text = second.log_path.read_text()
        assert "store is in use by another pgwarden writer (pid " in text
        assert "Traceback" not in text

        config = tmp_path / "pgwarden.toml"
        good = config.read_text()
        config.write_text(good.replace("detect_interval_s = 0.3", 'detect_interval_s = "often"'))
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for("the rejection", lambda: daemon.logged("config reload rejected"))
        (line,) = [e for e in daemon.log_lines() if "reload rejected" in str(e.get("message"))]
        assert "scheduler.detect_interval_s: " in line["message"]
        # The old config keeps running: detect still runs every 0.3 s.
        before = daemon.metric("pgwarden_job_runs_total", job="detect") or 0
        wait_for(
            "detect to keep running",
            lambda: (daemon.metric("pgwarden_job_runs_total", job="detect") or 0) >= before + 3,
        )

        write_toml(config, {**raw, "cloudtrail": {**raw["cloudtrail"], "enabled": False}})
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for("the reload", lambda: daemon.logged("config reloaded from"))
        time.sleep(0.5)  # a run that had started before the reload may still finish
        trail_runs = daemon.metric("pgwarden_job_runs_total", job="ingest-cloudtrail")
        logs_runs = daemon.metric("pgwarden_job_runs_total", job="ingest-logs") or 0
        wait_for(
            "more log runs",
            lambda: (
                (daemon.metric("pgwarden_job_runs_total", job="ingest-logs") or 0) >= logs_runs + 3
            ),
        )
        assert daemon.metric("pgwarden_job_runs_total", job="ingest-cloudtrail") == trail_runs
        code, took = daemon.stop(signal.SIGINT)
    finally:
        daemon.kill()
    assert (code, took < 10) == (0, True), daemon.log_path.read_text()[-3000:]


def test_daemon_paused_counts_the_runs_it_folded(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    daemon, _ = start_quick(tmp_path, free_port())
    try:
        wait_for("a detect run", lambda: daemon.metric("pgwarden_job_runs_total", job="detect"))
        daemon.proc.send_signal(signal.SIGSTOP)  # a stalled host: no run for 3 s
        time.sleep(3)
        daemon.proc.send_signal(signal.SIGCONT)
        # Every 0.3 s job missed about ten runs; each folded them into one late run.
        skipped = "pgwarden_job_runs_skipped_total"
        folded = wait_for(
            "the folded runs counted",
            lambda: daemon.metric(skipped, job="detect", reason="coalesced"),
        )
        assert 5 <= folded <= 12
        code, _ = daemon.stop(signal.SIGTERM)
    finally:
        daemon.kill()
    assert code == 0
