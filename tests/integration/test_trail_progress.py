"""`pgwarden trail` over many days: the files checked, shown on a terminal and nowhere else."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

from monitor.sources.cloudtrail import assume_role_events
from monitor.sources.trail_files import find_files
from monitor.sources.trail_local import LocalTrail
from tests.integration.test_cloudtrail_local import ALL_DAYS
from tests.support.terminal import exe, run_on_terminal
from tests.support.trail import write_trail


def test_local_trail_progress_counts_files_checked(tmp_path: Path) -> None:
    trail = write_trail(tmp_path / "trail")
    seen: list[tuple[int, int]] = []
    engine = LocalTrail(trail, progress=lambda done, total: seen.append((done, total)))
    try:
        assume_role_events(engine, ALL_DAYS, None)
    finally:
        engine.close()
    files = len(find_files(trail, date(2026, 11, 1), date(2026, 11, 3)).files)
    assert files > 1
    assert seen == [(done, files) for done in range(1, files + 1)]


def test_trail_cli_progress_on_a_terminal_only(tmp_path: Path) -> None:
    trail = write_trail(tmp_path / "trail")
    args = ["trail", "assume-role", "--local", str(trail), "--since", "2026-11-01"]
    args += ["--until", "2026-11-04", "--format", "csv"]
    piped = subprocess.run([exe(), *args], capture_output=True, timeout=120)
    code, out, shown = run_on_terminal(args)
    assert code == piped.returncode == 0, piped.stderr
    # The CSV is the same; the bar only ever reaches the terminal on stderr.
    assert out == piped.stdout.decode()
    assert "reading the trail" in shown
    assert b"reading the trail" not in piped.stderr
    assert b"\x1b[" not in piped.stderr
