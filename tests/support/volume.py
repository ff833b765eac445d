"""A small tmpfs the test mounts as the store's volume, filled and freed on demand."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import require


@contextlib.contextmanager
def small_volume(where: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of `size` (e.g. "4m") on `where`; unmounted on every way out."""
    require(os.geteuid() == 0 and shutil.which("mount"), "mounting a tmpfs needs root and mount")
    where.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "pgwarden-test", str(where)],
        check=True,
        capture_output=True,
    )
    try:
        yield where
    finally:
        # Lazily if something still holds a file there: the mount goes once it lets go.
        done = subprocess.run(["umount", str(where)], capture_output=True)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=True, capture_output=True)


def fill(volume: Path) -> Path:
    """Write a file until the volume is full; return it (unlink it to free the space)."""
    filler = volume / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        # The last few hundred bytes too, so not even a small write fits.
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 512)
    return filler


def free_bytes(volume: Path) -> int:
    stats = os.statvfs(volume)
    return stats.f_bavail * stats.f_frsize
