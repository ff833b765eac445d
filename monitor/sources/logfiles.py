"""Local log files: plain, gzip and bzip2, one at a time or whole directories. Edge code."""

from __future__ import annotations

import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from monitor.errors import LogInputError

if TYPE_CHECKING:
    from monitor.models import AuthEvent
    from monitor.sources.pglogs import PgLogsConfig
    from monitor.sources.pglogs.ingest import ReadResult
    from monitor.sources.targets import Target
    from monitor.store.sqlite import Store

STDIN = "-"


def log_paths(args: Iterable[str | Path]) -> list[str]:
    """Files named, and the files inside directories named (sorted: rotated logs in order)."""
    out: list[str] = []
    for arg in args:
        name = str(arg)
        if name == STDIN:
            out.append(name)
        elif os.path.isdir(name):
            for root, dirs, files in os.walk(name):
                dirs.sort()
                out.extend(os.path.join(root, f) for f in sorted(files) if not f.startswith("."))
        elif os.path.exists(name):
            out.append(name)
        else:
            raise LogInputError(f"{name}: no such file or directory")
    return out


class LogStream:
    """A binary stream whose read errors name the file: `LogInputError`, one line.

    Only reading is wrapped, so an error of whoever consumes the data (a full disk or a
    closed pipe on stdout) is never blamed on the log file.
    """

    def __init__(self, name: str, raw: BinaryIO) -> None:
        self.name = name
        self.raw = raw

    def read(self, size: int = -1) -> bytes:
        try:
            return self.raw.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise _read_error(self.name, exc) from None

    def seek(self, offset: int) -> None:
        self.raw.seek(offset)


def _read_error(name: str, exc: BaseException) -> LogInputError:
    # Unreadable, or a corrupt or truncated archive: say which file, in one line.
    return LogInputError(f"{name}: cannot read: {getattr(exc, 'strerror', None) or exc}")


@contextmanager
def open_log(name: str) -> Iterator[LogStream]:
    """A binary stream, decompressed by suffix; `-` is stdin."""
    if name == STDIN:
        yield LogStream("stdin", sys.stdin.buffer)
        return
    opener: Callable[[str], BinaryIO]
    if name.endswith(".gz"):
        import gzip

        opener = partial(gzip.open, mode="rb")  # type: ignore[assignment]
    elif name.endswith(".bz2"):
        import bz2

        opener = partial(bz2.open, mode="rb")  # type: ignore[assignment]
    else:
        # Unbuffered: we read big blocks ourselves, and a second buffer only copies.
        opener = partial(open, mode="rb", buffering=0)  # type: ignore[assignment]
    try:
        raw = opener(name)
    except OSError as exc:
        raise _read_error(name, exc) from None
    with raw:
        yield LogStream(name, raw)


CURSOR = "pglogs.files"


def _identity(path: str) -> dict[str, int]:
    try:
        st = os.stat(path)
    except OSError as exc:  # rotated away since it was listed
        raise _read_error(path, exc) from None
    return {"inode": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def read_files(store: Store, target: Target, opts: PgLogsConfig, now: datetime) -> list[ReadResult]:
    """The `files` source for one target: each of its files read from where the last read
    stopped; its events are the target's.

    A plain file resumes at the byte after the last complete line read before, unless it
    was replaced or truncated (another inode, or smaller). A compressed file is read
    whole when it is new or has changed; rows are unique by event, so that is harmless.
    A path that is gone, unreadable or empty is a `problem` of the target's, and the other
    paths are still read.
    """
    from monitor.sources.pglogs.ingest import ReadResult

    results = []
    for path in target.log_files:
        try:
            names = log_paths([path])
        except LogInputError as exc:
            results.append(ReadResult(f"files:{path}", target.name, problem=str(exc)))
            continue
        if not names:
            problem = f"{path}: no log files in this directory"
            results.append(ReadResult(f"files:{path}", target.name, problem=problem))
        for name in names:
            try:
                result = _read_file(store, target.name, name, opts, now)
            except LogInputError as exc:
                result = ReadResult(f"files:{name}", target.name, problem=str(exc))
            if result is not None:
                results.append(result)
    return results


def _read_file(
    store: Store, target: str, name: str, opts: PgLogsConfig, now: datetime
) -> ReadResult | None:
    """One file since its cursor; None if nothing was added since."""
    from monitor.parsing.pglog import CHUNK_SIZE, LogParser
    from monitor.sources.pglogs.ingest import ReadResult
    from monitor.store.events import save_auth_events

    ident = _identity(name)
    done = store.get_cursor(CURSOR, name) or {}
    compressed = name.endswith((".gz", ".bz2"))
    same_file = done.get("inode") == ident["inode"]
    if compressed and same_file and done.get("mtime_ns") == ident["mtime_ns"]:
        return None
    offset = 0
    if not compressed and same_file and int(done.get("offset", 0)) <= ident["size"]:
        offset = int(done.get("offset", 0))
    if not compressed and offset == ident["size"]:
        return None
    parser = LogParser(opts.format, opts.log_line_prefix, source=name)
    events: list[AuthEvent] = []
    with open_log(name) as stream:
        if offset:
            stream.seek(offset)
        pending = b""
        while data := stream.read(CHUNK_SIZE):
            # Hold back a line still being written: it is read next time, whole.
            data = pending + data
            last = data.rfind(b"\n") + 1
            pending = data[last:]
            offset += last
            events += parser.feed(data[:last])
        if compressed:
            events += parser.feed(pending)
    events += parser.finish()
    value = {**ident, "offset": offset}
    cursors = [(CURSOR, name, value)]
    suspicious = parser.take_suspicious()
    stored = save_auth_events(store, target, name, events, parser.stats, cursors, now, suspicious)
    return ReadResult(
        f"files:{name}", target, parser.stats.lines, len(events), stored, parser.stats
    )
