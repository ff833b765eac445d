"""Storing auth events: one row per attempt, however the lines were split between reads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor.models import AuthEvent
from monitor.parsing.pglog import LogParser
from monitor.store.events import save_auth_events as save
from monitor.store.sqlite import Store

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
PREFIX = b"2026-11-23 03:00:01 UTC:10.0.1.15(48700):pgmonitor@pgbench:[12108]:"
LOG = PREFIX + b"LOG:  pam_authenticate failed: Permission denied\n"
FATAL = PREFIX + b'FATAL:  PAM authentication failed for user "pgmonitor"\n'


def _read(data: bytes) -> tuple[list[AuthEvent], LogParser]:
    parser = LogParser(source="f")
    return parser.feed(data) + parser.finish(), parser


def test_pglogs_store_pam_pair_split_between_reads_is_one_row(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        # First read ends after the LOG line; the second starts with the FATAL.
        for data in (LOG, FATAL, LOG + FATAL):
            events, parser = _read(data)
            assert len(events) == 1
            save(store, "t1", "f", events, parser.stats, [("pglogs.test", "k", 1)], NOW)
        rows = store.conn.execute("SELECT kind, user, method, reason FROM auth_events").fetchall()
        assert store.get_cursor("pglogs.test", "k") == 1
    assert rows == [("auth_failed", "pgmonitor", "pam", "Permission denied")]


def test_pglogs_store_same_event_other_target_is_another_row(tmp_path: Path) -> None:
    events, parser = _read(LOG + FATAL)
    with Store.open(tmp_path / "s.db") as store:
        assert save(store, "t1", "f", events, parser.stats, [], NOW) == 1
        assert save(store, "t1", "cloudwatch", events, parser.stats, [], NOW) == 0
        assert save(store, "t2", "f", events, parser.stats, [], NOW) == 1
