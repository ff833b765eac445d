"""Local log files: plain, gzip and bzip2, one at a time or whole directories. Edge code."""

from __future__ import annotations

import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import BinaryIO

from monitor.errors import LogInputError

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


@contextmanager
def open_log(name: str) -> Iterator[BinaryIO]:
    """A binary stream, decompressed by suffix; `-` is stdin."""
    if name == STDIN:
        yield sys.stdin.buffer
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
        with opener(name) as stream:
            yield stream
    except BrokenPipeError:
        raise  # our reader went away (`| head`): not this file's fault
    except (OSError, EOFError, zlib.error) as exc:
        # Missing, unreadable, or a corrupt or truncated archive: say which file, one line.
        reason = getattr(exc, "strerror", None) or exc
        raise LogInputError(f"{name}: cannot read: {reason}") from None
