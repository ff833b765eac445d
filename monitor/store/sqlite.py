"""The embedded store: one SQLite file in WAL mode, mode 0600, migrated by numbered SQL files.

One pipeline writer at a time holds `<store>.lock`, so a second daemon on the same
file, by whatever path, refuses to start. Every write transaction, in any process, holds
`<store>.write.lock` (monitor/store/locks.py). Readers (reports, `findings list`) take no
lock and read the last commit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Self, TypeVar

from monitor import sql
from monitor.errors import StoreError, StoreLocked
from monitor.store.locks import FileLock, cannot_write, resolved, volume_problem

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
# The WAL's bound: checkpointed past this size, and cut back to it when it starts over.
WAL_LIMIT_BYTES = 1 << 20
# A writer does not start with less free space than this: it could not even migrate.
MIN_START_FREE_BYTES = 256 << 10

# The connection the store's modules run their queries on, and that `transaction()` yields.
Conn = sqlite3.Connection
EvidenceT = TypeVar("EvidenceT")
OptionsT = TypeVar("OptionsT")


def migrations() -> list[tuple[int, str]]:
    """(version, SQL) for every numbered file in `store/migrations`, in order."""
    found = []
    for entry in resources.files("monitor.store").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise StoreError(f"store migrations are not numbered 1..N without gaps: {versions}")
    return found


def to_text(moment: datetime) -> str:
    """Store times as ISO-8601 UTC text: it sorts as text and reads back with fromisoformat."""
    if moment.tzinfo is None:
        raise ValueError("store times must be timezone-aware")
    return moment.isoformat(timespec="microseconds")


def from_text(text: str | None) -> datetime | None:
    """A stored time back as an aware datetime; None stays None."""
    return datetime.fromisoformat(text) if text else None


class Store:
    """A connection to the store. Use `Store.open`; close it, or use it as a context manager."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        lock: FileLock | None,
        write_lock: FileLock | None = None,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.conn = conn
        self.path = path
        self._lock = lock
        self._write_lock = write_lock
        self.busy_timeout_s = busy_timeout_ms / 1000

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        writer: bool = True,
        exclusive: bool = True,
        busy_timeout_ms: int = 5000,
    ) -> Self:
        """Open (and for a writer, create and migrate) the store at `path`.

        An exclusive writer (a daemon, `once`) holds the writer lock for as long as it runs,
        and refuses to start on a volume that is full or read-only. A short CLI edit
        (`findings suppress`) writes with `exclusive=False`, beside it. Every writer takes
        the `write` lock around each transaction (see monitor/store/locks.py).
        """
        locks: list[FileLock] = []
        try:
            if writer and exclusive:
                check_volume(path)
                locks.append(_take_writer_lock(path))
            write_lock = FileLock(path, ".write.lock") if writer else None
            if write_lock is not None:
                locks.append(write_lock)
            conn = _connect(path, writer=writer)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            owner = locks[0] if writer and exclusive else None
            store = cls(conn, path, owner, write_lock, busy_timeout_ms)
            store._migrate(writer=writer)
        except BaseException:
            for lock in locks:
                lock.close()
            raise
        return store

    def close(self) -> None:
        # The connection first: SQLite's own locks go with it, the flock files after.
        self.conn.close()
        for lock in (self._write_lock, self._lock):
            if lock is not None:
                lock.close()
        self._lock = self._write_lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchall()[0][0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: data and the cursors covering it commit together, or not at all.

        A write the volume refuses (full, read-only) rolls back and raises StoreCannotWrite.
        """
        if self._write_lock is None:
            raise StoreError(f"{self.path}: opened read-only; this needs a writer")
        self._write_lock.acquire(self.busy_timeout_s)
        try:
            with self._volume_errors():
                # BEGIN IMMEDIATE takes the write lock up front: a reader can't deadlock it.
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn
                    self.conn.execute("COMMIT")
                except BaseException:
                    # A COMMIT the disk refused leaves the transaction open: end it here.
                    if self.conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            self.conn.execute("ROLLBACK")
                    raise
        finally:
            self._write_lock.release()

    @contextlib.contextmanager
    def _volume_errors(self) -> Iterator[None]:
        """SQLite's errors that mean the volume refused a write, as StoreCannotWrite."""
        try:
            yield
        except sqlite3.Error as exc:
            problem = volume_problem(exc)
            if problem is None:
                raise
            raise cannot_write(self.path, problem) from None

    def get_cursor(self, source: str, key: str) -> Any:
        """The stored watermark of `source`/`key`, or None before the first run."""
        rows = self.conn.execute(sql.load("store/cursor_get"), (source, key)).fetchall()
        return json.loads(rows[0][0]) if rows else None

    def set_cursor(self, source: str, key: str, value: object, now: datetime) -> None:
        """Move a watermark. Only inside `transaction()`, with the data it covers."""
        if not self.conn.in_transaction:
            raise StoreError("set_cursor must run inside Store.transaction(), with its data")
        self.conn.execute(
            sql.load("store/cursor_set"),
            (source, key, json.dumps(value, sort_keys=True), to_text(now)),
        )

    def load_evidence(
        self,
        loader: Callable[[Conn, datetime, OptionsT], EvidenceT],
        now: datetime,
        opts: OptionsT,
    ) -> EvidenceT:
        """A detector's evidence, read by its loader (monitor/store/evidence.py, usage.py)."""
        return loader(self.conn, now, opts)

    def _migrate(self, *, writer: bool) -> None:
        known = migrations()
        latest = known[-1][0] if known else 0
        current = self.schema_version
        if current > latest:
            raise StoreError(
                f"{self.path}: store has schema version {current}, newer than this pgwarden "
                f"knows ({latest}); upgrade pgwarden, or point [store].path at another file"
            )
        if current == latest:
            return
        if not writer:
            raise StoreError(
                f"{self.path}: store has schema version {current}, older than {latest}; "
                "run a writer (pgwarden once or pgwarden run) to migrate it first"
            )
        for version, script in known[current:]:
            log.info("migrating store to schema %s", version, extra={"store": str(self.path)})
            # executescript commits first; the BEGIN..COMMIT keeps each migration atomic.
            with self._volume_errors():
                try:
                    self.conn.executescript(
                        f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;"
                    )
                except sqlite3.Error:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    """New files 0600. The umask is the process's: only the first open creates the store
    (before the daemon starts threads), and a stricter mode meanwhile harms nothing."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _connect(path: Path, *, writer: bool) -> sqlite3.Connection:
    if not writer:
        if not path.is_file():
            raise StoreError(f"{path}: no store here yet; run pgwarden once to create it")
        uri = f"file:{path}?mode=ro"
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        # Never open the store file outside SQLite (see locks.py). A new one SQLite creates
        # under a 0077 umask, 0600 from the first byte; an existing one (from an older
        # version, a copy, a restore) is set to 0600 by path. SQLite gives the -wal and -shm
        # files the main file's mode.
        if path.exists():
            os.chmod(path, 0o600)
        with _private_umask() if not path.exists() else contextlib.nullcontext():
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        # Any commit that leaves more than this in the WAL checkpoints it (a PASSIVE
        # checkpoint: it never waits for readers), and the WAL is cut back to this size
        # when it starts over: on a small volume the store cannot fill the disk by itself.
        conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}").fetchall()
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_LIMIT_BYTES // 4096}").fetchall()
    except (OSError, sqlite3.Error) as exc:
        problem = volume_problem(exc)
        if problem is not None:
            raise cannot_write(path, problem) from None
        raise StoreError(
            f"{path}: cannot open the store for writing ({exc}); choose a writable [store].path"
        ) from None
    return conn


def check_volume(path: Path) -> None:
    """Refuse to start a writer on a volume that is read-only or has no room left."""
    directory = resolved(path).parent
    try:
        stats = os.statvfs(directory)
    except OSError:
        return  # a missing directory gets its own message when the store is opened
    if stats.f_flag & os.ST_RDONLY:
        raise cannot_write(path, f"{directory} is on a read-only file system")
    free = stats.f_bavail * stats.f_frsize
    if free < MIN_START_FREE_BYTES:
        raise cannot_write(path, f"no space left on the device of {directory} ({free} bytes free)")


def free_bytes(path: Path) -> int:
    """Free space for the store, in bytes, on the volume of its directory."""
    stats = os.statvfs(resolved(path).parent)
    return stats.f_bavail * stats.f_frsize


def _take_writer_lock(path: Path) -> FileLock:
    # The locks are named after the resolved path: a symlink meets them, a hard link would
    # not. So a store with a second name is refused outright.
    with contextlib.suppress(FileNotFoundError):
        if (links := os.stat(path).st_nlink) > 1:
            raise StoreError(
                f"{path}: the store file has {links} names (hard links), and a writer through "
                "another name would not see this one's lock; remove the other links"
            )
    lock = FileLock(path, ".lock")
    if not lock.try_acquire():
        holder = lock.holder()
        lock.close()
        raise StoreLocked(
            f"{path}: store is in use by another pgwarden writer (pid {holder}); "
            "stop it first, or give this one another [store].path"
        )
    lock.write_pid()
    return lock


class NotAStore(StoreError):
    """SQLite cannot read the file as a database."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: not a pgwarden store ({reason})")
        self.reason = reason


def file_schema_version(path: Path) -> int:
    """The schema version of the store file at `path`, read-only, without its locks."""
    uri = f"file:{path}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            return int(conn.execute("PRAGMA user_version").fetchall()[0][0])
    except sqlite3.Error as exc:
        raise NotAStore(path, str(exc)) from None


def check_store_path(path: Path) -> None:
    """Without creating anything: can a writer use `path`, and is its schema one we know?"""
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise StoreError(f"{path}: store file is not writable; fix its owner or mode")
        version = file_schema_version(path)  # NotAStore, a StoreError, if it is none
        latest = migrations()[-1][0]
        if version > latest:
            raise StoreError(
                f"{path}: store has schema version {version}, newer than this pgwarden "
                f"knows ({latest}); upgrade pgwarden"
            )
        return
    parent = path.parent
    if not parent.is_dir():
        raise StoreError(f"{path}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StoreError(f"{path}: directory {parent} is not writable; choose another [store].path")
