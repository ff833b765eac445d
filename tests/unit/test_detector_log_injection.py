"""log-injection: suspicious log entries become one high finding per target and client
host, with the raw lines as evidence, escaped wherever they are shown."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.judge.detectors.log_injection import LogInjectionOptions, detect
from monitor.outputs.alerts.render import render_finding
from monitor.outputs.formats import write_table
from monitor.parsing.pglog import LogParser
from monitor.store.events import save_auth_events as save
from monitor.store.evidence import log_injections as load
from monitor.store.sqlite import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pglog"
# The fixture was written on this day (tests/fixtures/SOURCES.md).
NOW = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)


def _store_injection(store: Store, target: str, data: bytes) -> int:
    parser = LogParser(source="postgresql.log")
    events = parser.feed(data) + parser.finish()
    suspicious = parser.take_suspicious()
    save(store, target, "files:postgresql.log", events, parser.stats, [], NOW, suspicious)
    return len(suspicious)


def test_detector_log_injection_one_high_finding_per_host(tmp_path: Path) -> None:
    data = (FIXTURES / "injection.log").read_bytes()
    with Store.open(tmp_path / "s.db") as store:
        assert _store_injection(store, "prod", data) == 16
        _store_injection(store, "prod", data)  # read again: no new rows
        count = store.conn.execute("SELECT count(*) FROM auth_log_suspicious").fetchall()
        assert count == [(16,)]
        failed = store.conn.execute(
            "SELECT user, client_host, count(*) FROM auth_events WHERE kind = 'auth_failed'"
            " GROUP BY user, client_host"
        ).fetchall()
        assert failed == [(None, "127.0.0.1", 9)]
        opts = LogInjectionOptions(evidence_lines=3)
        (finding,) = detect(load(store.conn, NOW, opts), NOW, opts)
    assert finding.severity == "high"
    assert finding.target == "prod"
    assert finding.subject == "prod/127.0.0.1"
    assert "127.0.0.1" in finding.title and "16×" in finding.title
    assert len(finding.evidence) == 3
    assert finding.details["entries"] == 16
    for item in finding.evidence:
        assert item.host == "127.0.0.1"
        assert "\n" not in item.what and all(ch.isprintable() for ch in item.what)
    with Store.open(tmp_path / "s.db") as store:
        every = LogInjectionOptions(evidence_lines=50)
        (finding,) = detect(load(store.conn, NOW, every), NOW, every)
    assert len(finding.evidence) == 16
    assert any("z\\n2020-01-01 03:00:00 UTC:10.66.66.66" in e.what for e in finding.evidence)


def test_detector_log_injection_old_entries_resolve(tmp_path: Path) -> None:
    data = (FIXTURES / "injection.log").read_bytes()
    with Store.open(tmp_path / "s.db") as store:
        _store_injection(store, "prod", data)
        later = NOW + timedelta(hours=25)
        opts = LogInjectionOptions()
        assert detect(load(store.conn, later, opts), later, opts) == []


def test_detector_log_injection_evidence_is_inert_everywhere(tmp_path: Path) -> None:
    line = (
        "2026-12-07 06:00:00 UTC:10.0.0.9(5000):<!channel>\x1b[2J@=cmd|' /C calc'!A0:[1]:LOG:  x"
        ':[2]:FATAL:  password authentication failed for user "<!channel>\x1b[2J"'
    )
    parser = LogParser(source="f")
    parser.feed(line.encode() + b"\n")
    parser.finish()
    with Store.open(tmp_path / "s.db") as store:
        save(store, "prod", "f", [], parser.stats, [], NOW, parser.take_suspicious())
        opts = LogInjectionOptions()
        (finding,) = detect(load(store.conn, NOW, opts), NOW, opts)
    slack = json.dumps(render_finding(finding, "new").blocks)
    assert "<!channel>" not in slack and "\\u001b" not in slack
    assert all("\x1b" not in e.what and "\\x1b" in e.what for e in finding.evidence)
    rows = [{"what": e.what} for e in finding.evidence]
    out = io.StringIO()
    write_table(rows, ["what"], out)
    assert "\x1b" not in out.getvalue()
