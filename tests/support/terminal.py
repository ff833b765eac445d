"""Running the installed `pgwarden` with stderr on a pseudo-terminal, as a person sees it."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

# What rich reads to decide whether a terminal can show a live bar.
TERMINAL_ENV = {"TERM": "xterm-256color", "COLUMNS": "100"}
RICH_OVERRIDES = ("TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR", "FORCE_COLOR")


def exe() -> str:
    return shutil.which("pgwarden", path=str(Path(sys.executable).parent)) or "pgwarden"


def run_on_terminal(args: list[str]) -> tuple[int, str, str]:
    """Run pgwarden with stderr on a pseudo-terminal and stdout on a pipe, read at the end
    (keep it small): the exit code, stdout, and what the terminal was sent."""
    main, child = pty.openpty()
    env = {**os.environ, **TERMINAL_ENV}
    for name in RICH_OVERRIDES:
        env.pop(name, None)
    proc = subprocess.Popen([exe(), *args], stdout=subprocess.PIPE, stderr=child, env=env)
    os.close(child)
    shown = b""
    while select.select([main], [], [], 60)[0]:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    return proc.wait(timeout=60), out, shown.decode(errors="replace")
