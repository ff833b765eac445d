"""Metrics from the store at scrape time, job metrics, and the /healthz and /readyz answers."""

from __future__ import annotations

import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.clock import FrozenClock
from monitor.outputs.metrics import Health, Metrics, MetricsServer
from monitor.stages.base import StageReport
from monitor.store.sqlite import Store, to_text

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def seed(path: Path) -> None:
    t = to_text(NOW)
    with Store.open(path) as store, store.transaction() as conn:
        conn.executemany(
            "INSERT INTO target_status (target, status, polled_at) VALUES (?, ?, ?)",
            [("orders", "ok", t), ("billing", "down", t)],
        )
        conn.executemany(
            "INSERT INTO sessions (target, pid, backend_start, first_seen, last_seen, last_state,"
            " ended_at) VALUES ('orders', ?, ?, ?, ?, ?, ?)",
            [
                (1, t, t, t, "active", None),
                (2, t, t, t, "idle", None),
                (3, t, t, t, "idle", None),
                (4, t, t, t, "active", t),  # ended: not counted
            ],
        )
        conn.executemany(
            "INSERT INTO auth_events (time, kind, source, dedup_key) VALUES (?, ?, 'f', ?)",
            [(t, "auth_failed", "a"), (t, "auth_failed", "b"), (t, "connection_authorized", "c")],
        )
        conn.executemany(
            "INSERT INTO findings (fingerprint, detector, subject, severity, title, status,"
            " first_seen, last_seen) VALUES (?, ?, ?, ?, 't', ?, ?, ?)",
            [
                ("f1", "failure-burst", "s1", "high", "open", t, t),
                ("f2", "failure-burst", "s2", "high", "open", t, t),
                ("f3", "new-source", "s3", "low", "open", t, t),
                ("f4", "new-source", "s4", "low", "resolved", t, t),
            ],
        )
        conn.executemany(
            "INSERT INTO outbox (fingerprint, kind, payload, created_at, next_attempt_at, sent_at)"
            " VALUES ('f1', 'new', '{}', ?, ?, ?)",
            [(t, t, None), (t, t, None), (t, t, t)],
        )
        store.set_cursor("pglogs.cloudwatch", "g1", 1, NOW - timedelta(seconds=90))
        store.set_cursor("pglogs.cloudwatch", "g2", 1, NOW - timedelta(seconds=30))
        store.set_cursor("cloudtrail", "trail", "x", NOW - timedelta(minutes=20))


def scrape(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_store_state_read_at_scrape_time(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    seed(path)
    samples = scrape(Metrics(path, FrozenClock(NOW + timedelta(seconds=10))))
    own = {
        k: v
        for k, v in samples.items()
        if not k[0].startswith("pgwarden_job") and not k[0].endswith("_created")
    }
    assert own == {
        ("pgwarden_target_up", (("target", "billing"),)): 0.0,
        ("pgwarden_target_up", (("target", "orders"),)): 1.0,
        ("pgwarden_sessions", (("state", "active"),)): 1.0,
        ("pgwarden_sessions", (("state", "idle"),)): 2.0,
        ("pgwarden_auth_failures_total", ()): 2.0,
        ("pgwarden_findings_open", (("detector", "failure-burst"), ("severity", "high"))): 2.0,
        ("pgwarden_findings_open", (("detector", "new-source"), ("severity", "low"))): 1.0,
        ("pgwarden_outbox_pending", ()): 2.0,
        ("pgwarden_cursor_lag_seconds", (("source", "cloudtrail"),)): 1210.0,
        ("pgwarden_cursor_lag_seconds", (("source", "pglogs.cloudwatch"),)): 40.0,
        **{
            ("pgwarden_poll_duration_seconds_bucket", (("le", le),)): 0.0
            for le in ("0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "+Inf")
        },
        ("pgwarden_poll_duration_seconds_count", ()): 0.0,
        ("pgwarden_poll_duration_seconds_sum", ()): 0.0,
        ("pgwarden_athena_scanned_bytes_total", ()): 0.0,
        ("pgwarden_store_writable", ()): 1.0,
        ("pgwarden_discovery_not_described", ()): 0.0,
    }


def test_metrics_before_the_first_run_show_job_metrics_only(tmp_path: Path) -> None:
    samples = scrape(Metrics(tmp_path / "none.db", FrozenClock(NOW)))
    assert ("pgwarden_athena_scanned_bytes_total", ()) in samples
    assert not any(name.startswith("pgwarden_target") for name, _ in samples)
    assert not (tmp_path / "none.db").exists()  # a scrape never creates the store


def test_metrics_job_reports_are_counted(tmp_path: Path) -> None:
    metrics = Metrics(tmp_path / "p.db", FrozenClock(NOW))
    poll = StageReport("activity", (), [], 1, poll_seconds=(0.2, 0.7))
    metrics.observe("poll-activity", poll, NOW)
    metrics.observe("ingest-cloudtrail", StageReport("cloudtrail", (), [], bytes_scanned=5), NOW)
    metrics.observe("ingest-cloudtrail", StageReport("cloudtrail", (), [], 1, error="x"), NOW)
    get = metrics.registry.get_sample_value
    assert get("pgwarden_job_runs_total", {"job": "poll-activity", "outcome": "partial"}) == 1
    assert get("pgwarden_job_runs_total", {"job": "ingest-cloudtrail", "outcome": "ok"}) == 1
    assert get("pgwarden_job_runs_total", {"job": "ingest-cloudtrail", "outcome": "failed"}) == 1
    assert get("pgwarden_poll_duration_seconds_count") == 2
    assert get("pgwarden_poll_duration_seconds_bucket", {"le": "0.5"}) == 1
    assert get("pgwarden_athena_scanned_bytes_total") == 5
    stamp = {"job": "ingest-cloudtrail"}
    assert get("pgwarden_job_last_success_timestamp_seconds", stamp) == NOW.timestamp()


def test_metrics_log_source_up_per_target_and_no_stale_series(tmp_path: Path) -> None:
    metrics = Metrics(tmp_path / "p.db", FrozenClock(NOW))
    first = (("orders", "cloudwatch", True), ("billing", "cloudwatch", False))
    metrics.observe("ingest-logs", StageReport("pglogs", (), [], 1, log_sources=first), NOW)
    get = metrics.registry.get_sample_value
    assert get("pgwarden_log_source_up", {"target": "orders", "source": "cloudwatch"}) == 1
    assert get("pgwarden_log_source_up", {"target": "billing", "source": "cloudwatch"}) == 0
    # billing is no longer watched; a failed run says nothing new about the others.
    metrics.observe(
        "ingest-logs",
        StageReport("pglogs", (), [], log_sources=(("orders", "cloudwatch", True),)),
        NOW,
    )
    metrics.observe("ingest-logs", StageReport("pglogs", (), [], 1, error="x"), NOW)
    assert get("pgwarden_log_source_up", {"target": "billing", "source": "cloudwatch"}) is None
    assert get("pgwarden_log_source_up", {"target": "orders", "source": "cloudwatch"}) == 1


def test_metrics_health_wants_every_source_recent() -> None:
    health = Health()
    health.expect({"poll-activity": 30, "ingest-logs": 200})
    ok = StageReport("x", (), [])
    assert health.problems(NOW) == [
        "ingest-logs: no successful run yet",
        "poll-activity: no successful run yet",
    ]
    health.record("poll-activity", ok, NOW)
    health.record("ingest-logs", StageReport("x", (), [], 1, error="denied"), NOW)
    assert health.problems(NOW) == ["ingest-logs: no successful run yet (last error: denied)"]
    health.record("ingest-logs", ok, NOW)
    assert health.problems(NOW + timedelta(seconds=31)) == ["poll-activity: last success 31 s ago"]


def test_metrics_health_says_store_cannot_write_and_too_many_targets_down() -> None:
    health = Health(max_targets_down=0.5)
    health.targets(1, 2)  # half down: not past the share
    assert health.problems(NOW) == []
    health.targets(20, 22)
    assert health.problems(NOW) == [
        "targets down: 20 of 22, more than ready_max_targets_down = 0.5"
    ]
    health.targets(0, 22)
    problem = "/v/p.db: store cannot write: database or disk is full; free space on ..."
    assert health.store_written(problem) is True  # news: say it once
    assert health.store_written(problem) is False
    assert health.problems(NOW) == [problem] and not health.store_writable
    assert health.store_written(None) is True
    assert health.problems(NOW) == [] and health.store_writable


def test_metrics_server_answers_metrics_healthz_readyz(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    problems: list[str] = ["ingest-logs: no successful run yet"]
    metrics = Metrics(tmp_path / "p.db", FrozenClock(NOW))
    server = MetricsServer("127.0.0.1", free_port(), metrics.registry, lambda: problems)
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert b"pgwarden_job_runs" in answer.read()
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:
            assert answer.read() == b"ok\n"
        try:
            urllib.request.urlopen(f"{base}/readyz", timeout=5)
            raise AssertionError("readyz answered 200 while not ready")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
            assert exc.read() == b"ingest-logs: no successful run yet\n"
        problems.clear()
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as answer:
            assert (answer.status, answer.read()) == (200, b"ready\n")
    finally:
        server.close()


def test_metrics_server_bounds_threads_and_times_out_idle_clients(
    tmp_path: Path, free_port: Callable[[], int], capfd: pytest.CaptureFixture[str]
) -> None:
    metrics = Metrics(tmp_path / "p.db", FrozenClock(NOW))
    server = MetricsServer("127.0.0.1", free_port(), metrics.registry, list, timeout_s=0.5)
    server.start()
    before = threading.active_count()
    idle = []
    try:
        for _ in range(300):  # connect and send nothing
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        time.sleep(0.3)
        assert threading.active_count() <= before + MetricsServer.WORKERS
        # The idle ones time out (or are turned away), and the endpoint answers again.
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{server.port}/healthz", timeout=2
                ) as r:
                    assert r.read() == b"ok\n"
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        # A client that asks and drops the connection at once (RST) leaves no traceback.
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.close()
        time.sleep(0.5)
    finally:
        for sock in idle:
            sock.close()
        server.close()
    assert "Traceback" not in capfd.readouterr().err


def test_metrics_server_warns_about_a_non_loopback_address(
    tmp_path: Path, free_port: Callable[[], int], caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics(tmp_path / "p.db", FrozenClock(NOW))
    for address, warned in (("127.0.0.1", False), ("0.0.0.0", True)):
        caplog.clear()
        MetricsServer(address, free_port(), metrics.registry, list).close()
        assert ("not a loopback address" in caplog.text) is warned, address


def test_metrics_parked_channel_gauge(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with Store.open(path) as store, store.transaction() as conn:
        conn.execute(
            "INSERT INTO parked_channels (channel, error, parked_at) VALUES (?, ?, ?)",
            ("#sec", "channel_not_found", to_text(NOW)),
        )
    text = generate_latest(Metrics(path, FrozenClock(NOW)).registry).decode()
    assert 'pgwarden_alert_channel_parked{channel="#sec"} 1.0' in text
