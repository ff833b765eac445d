from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import StoreError, StoreLocked
from monitor.store.sqlite import Store, check_store_path, migrations

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
TABLES = {
    "targets",
    "target_status",
    "sessions",
    "auth_events",
    "assume_role_events",
    "grants",
    "role_trust",
    "db_roles",
    "findings",
    "suppressions",
    "outbox",
    "cursors",
}


def test_store_created_wal_0600_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with Store.open(path) as store:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert store.conn.execute("PRAGMA journal_mode").fetchall()[0][0] == "wal"
        assert store.schema_version == migrations()[-1][0]
        names = {
            r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert names >= TABLES


def test_store_reopen_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    Store.open(path).close()
    with Store.open(path) as store:
        assert store.schema_version == len(migrations())


def test_store_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    with pytest.raises(StoreError, match="schema version 999, newer than this pgwarden"):
        Store.open(path)
    with pytest.raises(StoreError, match="newer than this pgwarden"):
        check_store_path(path)


def test_store_second_writer_refused_reader_allowed(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with Store.open(path):
        with pytest.raises(StoreLocked, match="in use by another pgwarden writer"):
            Store.open(path)
        # Another process, as a second daemon would be.
        code = (
            "import sys; from pathlib import Path; from monitor.store.sqlite import Store\n"
            "try:\n Store.open(Path(sys.argv[1]))\nexcept Exception as e: print(e); sys.exit(3)"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True
        )
        assert result.returncode == 3, result.stderr
        assert "in use by another pgwarden writer" in result.stdout
        with Store.open(path, writer=False) as reader:
            assert reader.get_cursor("x", "y") is None
    Store.open(path).close()  # the lock went with the first writer


def test_store_cursor_commits_with_its_data(tmp_path: Path) -> None:
    with Store.open(tmp_path / "p.db") as store:
        with pytest.raises(RuntimeError), store.transaction() as tx:
            tx.execute(
                "INSERT INTO cursors (source, key, value, updated_at) VALUES ('a','b','1','t')"
            )
            store.set_cursor("logs", "t1", {"ts": 5}, NOW)
            raise RuntimeError("crash before commit")
        assert store.get_cursor("logs", "t1") is None
        assert store.conn.execute("SELECT count(*) FROM cursors").fetchall()[0][0] == 0
        with store.transaction():
            store.set_cursor("logs", "t1", {"ts": 6}, NOW)
        assert store.get_cursor("logs", "t1") == {"ts": 6}


def test_store_cursor_outside_transaction_refused(tmp_path: Path) -> None:
    with Store.open(tmp_path / "p.db") as store, pytest.raises(StoreError, match="inside"):
        store.set_cursor("logs", "t1", 1, NOW)


def test_store_reader_waits_for_writer(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with Store.open(path) as writer, Store.open(path, writer=False, busy_timeout_ms=2000) as reader:
        with writer.transaction():
            writer.set_cursor("s", "k", 1, NOW)
            # WAL: the reader sees the last committed state while the writer is mid-transaction.
            assert reader.get_cursor("s", "k") is None
        assert reader.get_cursor("s", "k") == 1


def test_store_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "p.db"
    with pytest.raises(StoreError, match=r"directory .* does not exist"):
        check_store_path(missing)
    with pytest.raises(StoreError, match="cannot"):
        Store.open(missing)


def test_store_reader_without_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store here yet"):
        Store.open(tmp_path / "p.db", writer=False)


def test_store_existing_loose_file_and_lock_set_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    Store.open(path).close()
    path.chmod(0o644)
    lock = path.with_name(path.name + ".lock")
    lock.chmod(0o644)
    with Store.open(path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    fresh = tmp_path / "q.db"
    with Store.open(fresh):
        assert stat.S_IMODE(fresh.with_name("q.db.lock").stat().st_mode) == 0o600
