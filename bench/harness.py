"""What the benchmark scripts share: running a step in a child process and measuring it."""

from __future__ import annotations

import os
import subprocess
import sys
import time


def child(script: str, *args: str) -> tuple[str, float, float]:
    """Run `script` in a child; return its output, wall seconds and peak RSS in MiB.

    A child of its own per step, so the peak RSS is that step's alone (ru_maxrss of the
    waited-for process, not of everything the parent ever ran).
    """
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, script, *args], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"child {args} failed with status {status}")
    return out.strip(), time.perf_counter() - started, usage.ru_maxrss / 1024
