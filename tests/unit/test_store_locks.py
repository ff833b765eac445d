"""The store's locks hold: SQLite's POSIX locks survive new connections, and the writer
lock and the write lock are named after the real file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.errors import StoreCannotWrite, StoreError, StoreLocked
from monitor.store.locks import FileLock, volume_problem
from monitor.store.sqlite import WAL_LIMIT_BYTES, Store

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)

# A long-running writer, as the daemon is: the owner's connection, then more connections
# opened beside it (one per job), each writing. It prints "ready" and waits for a line.
WRITER = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from monitor.store.sqlite import Store

path = Path(sys.argv[1])
owner = Store.open(path)
jobs = [Store.open(path, exclusive=False) for _ in range(3)]
for i, job in enumerate(jobs):
    with job.transaction():
        job.set_cursor("job", str(i), i, datetime.now(UTC))
print("ready", flush=True)
sys.stdin.readline()
with jobs[0].transaction():
    jobs[0].set_cursor("job", "after", 1, datetime.now(UTC))
print("wrote", flush=True)
sys.stdin.readline()
"""


def posix_locks(pid: int, path: Path) -> list[str]:
    """The POSIX (fcntl) locks `pid` holds on `path`, from /proc/locks."""
    inode = os.stat(path).st_ino
    held = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields:  # a waiter, not a holder
            continue
        if fields[1] == "POSIX" and fields[4] == str(pid) and fields[5].endswith(f":{inode}"):
            held.append(line)
    return held


def test_store_locks_survive_new_connections_and_a_foreign_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdin is not None
        assert writer.stdout.readline().strip() == "ready"
        # Before the fix: 0 locks with 4 connections open (a close() elsewhere dropped them).
        assert posix_locks(writer.pid, path), Path("/proc/locks").read_text()
        wal = Path(f"{path}-wal")
        inode = wal.stat().st_ino
        # Another process writes, checkpoints and closes: the last-connection cleanup must
        # see the writer's shared lock and leave the WAL alone.
        other = sqlite3.connect(path)
        other.execute("INSERT INTO cursors VALUES ('other', 'k', '1', 't')")
        other.commit()
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        other.close()
        assert wal.exists() and wal.stat().st_ino == inode
        writer.stdin.write("go\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "wrote"
        # What the writer commits now is seen by everyone, not kept in a deleted file.
        with Store.open(path, writer=False) as reader:
            assert reader.get_cursor("job", "after") == 1
            assert reader.get_cursor("other", "k") == 1
        writer.stdin.write("end\n")
        writer.stdin.flush()
        assert writer.wait(timeout=10) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


def test_store_writer_lock_follows_symlinks(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    link = tmp_path / "link.db"
    link.symlink_to(path)
    with Store.open(path):
        with pytest.raises(StoreLocked, match="in use by another pgwarden writer"):
            Store.open(link)
        (tmp_path / "sub").mkdir()
        with pytest.raises(StoreLocked):
            Store.open(tmp_path / "sub" / ".." / "p.db")
    with Store.open(link) as store:  # free again, and through the link it is the same store
        assert store.schema_version > 0
    assert not (tmp_path / "link.db.lock").exists()


def test_store_with_a_hard_link_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    Store.open(path).close()
    os.link(path, tmp_path / "other.db")
    for name in ("p.db", "other.db"):
        with pytest.raises(StoreError, match="has 2 names \\(hard links\\)"):
            Store.open(tmp_path / name)
    (tmp_path / "other.db").unlink()
    Store.open(path).close()


def test_store_write_lock_makes_every_writer_wait_its_turn(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    with Store.open(path) as daemon, Store.open(path, exclusive=False, busy_timeout_ms=200) as cli:
        other = FileLock(tmp_path / "p.db", ".write.lock")  # a writer mid-transaction
        try:
            assert other.try_acquire()
            held = pytest.raises(StoreError, match=r"held p\.db\.write\.lock for more than")
            with held, cli.transaction():
                pass
        finally:
            other.close()
        with cli.transaction():
            cli.set_cursor("cli", "k", 1, NOW)
        assert daemon.get_cursor("cli", "k") == 1


def test_store_wal_stays_bounded_after_large_writes(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    blob = "x" * 1000
    with Store.open(path) as store:
        for batch in range(20):  # 20 transactions of ~0.5 MB each: 10 MB written in all
            with store.transaction() as tx:
                tx.executemany(
                    "INSERT INTO cursors VALUES (?, ?, ?, 't')",
                    [("big", f"{batch}.{i}", blob) for i in range(500)],
                )
            with store.transaction() as tx:
                tx.execute("DELETE FROM cursors WHERE source = 'big'")
            size = Path(f"{path}-wal").stat().st_size
            # Never more than the bound plus the one transaction that just committed.
            assert size < WAL_LIMIT_BYTES + (1 << 20), size


def test_store_volume_errors_are_recognised() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode, full.sqlite_errorname = 13, "SQLITE_FULL"  # type: ignore[attr-defined]
    assert volume_problem(full) == "database or disk is full"
    assert volume_problem(OSError(28, "No space left on device")) == "No space left on device"
    assert volume_problem(OSError(2, "No such file")) is None
    assert volume_problem(sqlite3.IntegrityError("UNIQUE constraint failed")) is None


def test_store_transaction_on_a_read_only_store_is_a_named_error(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    Store.open(path).close()
    path.chmod(0o400)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    store = Store(conn, path, None, FileLock(path, ".write.lock"))
    try:
        refused = pytest.raises(StoreCannotWrite, match="store cannot write: attempt to write a")
        with refused, store.transaction() as tx:
            tx.execute("INSERT INTO cursors VALUES ('a', 'b', '1', 't')")
        assert not conn.in_transaction
    finally:
        store.close()
