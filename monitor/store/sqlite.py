"""The embedded store: one SQLite file in WAL mode, mode 0600, migrated by numbered SQL files.

One writer at a time holds an exclusive lock on `<store>.lock`, so a second daemon on the
same file refuses to start. Readers (reports, `findings list`) take no lock and wait on the
busy timeout while the writer commits.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Self, TextIO

from monitor.errors import StoreError, StoreLocked

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


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

    def __init__(self, conn: sqlite3.Connection, path: Path, lock: TextIO | None) -> None:
        self.conn = conn
        self.path = path
        self._lock = lock

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

        An exclusive writer (a daemon, `once`) holds the writer lock for as long as it runs.
        A short CLI edit (`findings suppress`) writes with `exclusive=False`, beside it.
        """
        lock = _take_writer_lock(path) if writer and exclusive else None
        try:
            conn = _connect(path, writer=writer)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            store = cls(conn, path, lock)
            store._migrate(writer=writer)
        except BaseException:
            if lock is not None:
                lock.close()
            raise
        return store

    def close(self) -> None:
        self.conn.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchall()[0][0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: data and the cursors covering it commit together, or not at all."""
        # BEGIN IMMEDIATE takes the write lock up front, so a reader can't deadlock an upgrade.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def get_cursor(self, source: str, key: str) -> Any:
        """The stored watermark of `source`/`key`, or None before the first run."""
        rows = self.conn.execute(
            "SELECT value FROM cursors WHERE source = ? AND key = ?", (source, key)
        ).fetchall()
        return json.loads(rows[0][0]) if rows else None

    def set_cursor(self, source: str, key: str, value: Any, now: datetime) -> None:
        """Move a watermark. Only inside `transaction()`, with the data it covers."""
        if not self.conn.in_transaction:
            raise StoreError("set_cursor must run inside Store.transaction(), with its data")
        self.conn.execute(
            "INSERT INTO cursors (source, key, value, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (source, key) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at",
            (source, key, json.dumps(value, sort_keys=True), to_text(now)),
        )

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
            self.conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;"
            )


def _connect(path: Path, *, writer: bool) -> sqlite3.Connection:
    if not writer:
        if not path.is_file():
            raise StoreError(f"{path}: no store here yet; run pgwarden once to create it")
        uri = f"file:{path}?mode=ro"
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        # Create the file ourselves so it is 0600 from the first byte, and set an existing
        # one (from an older version, a copy, a restore) to 0600 too; SQLite gives the -wal
        # and -shm files the main file's mode.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(
            f"{path}: cannot open the store for writing ({exc}); choose a writable [store].path"
        ) from None
    return conn


def _take_writer_lock(path: Path) -> TextIO:
    lock_path = path.with_name(path.name + ".lock")
    try:
        # 0600 like the store: the lock holds the writer's pid, and nobody else needs it.
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.fchmod(fd, 0o600)
            lock = open(fd, "a+", encoding="utf-8")  # noqa: SIM115 - held until close()
        except OSError:
            os.close(fd)
            raise
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot create the store's lock file ({exc.strerror}); "
            "choose a writable [store].path"
        ) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        raise StoreLocked(
            f"{path}: store is in use by another pgwarden writer (pid {holder}); "
            "stop it first, or give this one another [store].path"
        ) from None
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def check_store_path(path: Path) -> None:
    """Without creating anything: can a writer use `path`, and is its schema one we know?"""
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise StoreError(f"{path}: store file is not writable; fix its owner or mode")
        uri = f"file:{path}?mode=ro"
        try:
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
                version = int(conn.execute("PRAGMA user_version").fetchall()[0][0])
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: not a pgwarden store ({exc})") from None
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
