"""Lock files beside the store, and what a failed write means.

Every lock is an `flock` on a file of its own beside the store, never on the database file:
SQLite holds POSIX (fcntl) locks on the database, and on POSIX closing *any* descriptor of a
file drops every fcntl lock the process holds on it ("How To Corrupt An SQLite Database
File", 2.2). flock locks belong to their own open file and survive that. The names come
from the store's resolved path, so a symlink or a second spelling of the path meets the
same locks as the original.

Three locks, each for one kind of conflict:

- `<store>.lock`: held for its whole life by the one pipeline writer (`run` or `once`).
- `<store>.write.lock`: held for one transaction by every process that writes: the daemon's
  jobs and the CLI's edits (`findings suppress`/`ack`, `report apply-decisions`).
- `<store>.deliver.lock`: held for one delivery run (the daemon's job or `alerts deliver`),
  so two deliverers never work the outbox at once.

CLI edits write themselves under the short `write` lock, rather than hand the change to the
daemon: a cron deployment (`pgwarden once`) has no daemon to hand it to, an edit then works
and fails (with its own one-line reason, at once) the same with or without a daemon, and a
transaction holds the lock for milliseconds, so neither side waits for the other noticeably.
A hand-off would also need a queue that the daemon polls, and an answer channel back.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import time
from pathlib import Path
from typing import TextIO

from monitor.errors import StoreCannotWrite, StoreError

# errno values that mean "the volume cannot take this write", not "pgwarden is wrong".
_VOLUME_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
# SQLite result codes that mean the same (sqlite3.Error.sqlite_errorname, Python >= 3.11).
_VOLUME_CODES = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR")


def resolved(path: Path) -> Path:
    """The store's real file: what every lock is named after."""
    return Path(os.path.realpath(path))


def lock_path(path: Path, suffix: str) -> Path:
    real = resolved(path)
    return real.with_name(real.name + suffix)


def volume_problem(exc: BaseException) -> str | None:
    """Why a write failed, when the cause is the volume (full, read-only, I/O); else None."""
    if isinstance(exc, OSError) and exc.errno in _VOLUME_ERRNOS:
        return exc.strerror or str(exc)
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name.startswith(_VOLUME_CODES):
            return str(exc)
    return None


def cannot_write(path: Path, reason: str) -> StoreCannotWrite:
    return StoreCannotWrite(
        f"{path}: store cannot write: {reason}; free space on (or remount) the store's volume"
    )


class FileLock:
    """An flock on `<store><suffix>`, opened once and taken as often as needed."""

    def __init__(self, store: Path, suffix: str) -> None:
        self.path = lock_path(store, suffix)
        self.store = store
        try:
            # 0600 like the store (an older, looser one too): it holds the writer's pid.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.fchmod(fd, 0o600)
                self._file: TextIO = open(fd, "a+", encoding="utf-8")  # noqa: SIM115
            except OSError:
                os.close(fd)
                raise
        except OSError as exc:
            if volume_problem(exc):
                raise cannot_write(store, exc.strerror or str(exc)) from None
            raise StoreError(
                f"{store}: cannot create the lock file {self.path.name} ({exc.strerror}); "
                "choose a writable [store].path"
            ) from None

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def acquire(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` (the store's busy timeout) for the lock."""
        deadline = time.monotonic() + timeout_s
        while not self.try_acquire():
            if time.monotonic() > deadline:
                raise StoreError(
                    f"{self.store}: another pgwarden process held {self.path.name} for more "
                    f"than {timeout_s:g} s; try again, or raise [store].busy_timeout_ms"
                )
            time.sleep(0.005)

    def release(self) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)

    def holder(self) -> str:
        self._file.seek(0)
        return self._file.read().strip() or "unknown"

    def write_pid(self) -> None:
        """Name this process in the file, for the message a refused writer prints."""
        try:
            self._file.truncate(0)
            self._file.write(str(os.getpid()))
            self._file.flush()
        except OSError as exc:
            self.close()
            raise cannot_write(self.store, volume_problem(exc) or str(exc)) from None

    def close(self) -> None:
        self._file.close()
