"""Progress on long commands: a bar on stderr on a terminal, nothing anywhere else."""

from __future__ import annotations

import io
import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli.progress import Bar, progress

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pglog"
# What rich reads to decide whether a terminal can show a live bar.
TERMINAL_ENV = {"TERM": "xterm-256color", "COLUMNS": "100"}
RICH_OVERRIDES = ("TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR", "FORCE_COLOR")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TERMINAL_ENV.items():
        monkeypatch.setenv(name, value)
    for name in RICH_OVERRIDES:
        monkeypatch.delenv(name, raising=False)


def test_progress_nothing_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    with progress("reading logs", 3, stream=stream) as bar:
        assert type(bar) is Bar
        for done in range(1, 4):
            bar.advance(done)
        bar.echo("a line for stderr", err=True)
        bar.echo("a line for stdout")
    assert stream.getvalue() == ""
    captured = capsys.readouterr()
    assert captured.out == "a line for stdout\n"
    assert captured.err == "a line for stderr\n"


def test_progress_bar_on_a_forced_terminal(terminal_env: None) -> None:
    stream = FakeTerminal()
    with progress("reading logs", 3, stream=stream) as bar:
        for done in range(1, 4):
            bar.advance(done)
        bar.echo("file.log: 2 unparsed lines", err=True)
    shown = stream.getvalue()
    assert "reading logs" in shown
    assert "3/3" in shown
    assert "file.log: 2 unparsed lines" in shown


def test_progress_not_shown_when_the_command_says_so(terminal_env: None) -> None:
    stream = FakeTerminal()
    with progress("reading logs", 3, show=False, stream=stream) as bar:
        bar.advance(1)
    assert stream.getvalue() == ""


def _exe() -> str:
    return shutil.which("pgwarden", path=str(Path(sys.executable).parent)) or "pgwarden"


def _run_on_terminal(args: list[str]) -> tuple[int, str, str]:
    """Run pgwarden with stderr on a pseudo-terminal and stdout on a pipe."""
    main, child = pty.openpty()
    env = {**os.environ, **TERMINAL_ENV}
    for name in RICH_OVERRIDES:
        env.pop(name, None)
    proc = subprocess.Popen([_exe(), *args], stdout=subprocess.PIPE, stderr=child, env=env)
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


def test_cli_parse_logs_progress_on_a_terminal_only(tmp_path: Path) -> None:
    args = ["parse-logs", "--summary", str(FIXTURES)]
    piped = subprocess.run([_exe(), *args], capture_output=True, text=True, timeout=60)
    code, out, shown = _run_on_terminal(args)
    assert code == piped.returncode == 0
    # The data on stdout is the same; the bar only ever reaches the terminal on stderr.
    assert out == piped.stdout
    assert "reading logs" in shown
    assert "reading logs" not in piped.stderr
    assert "\x1b[" not in piped.stderr
    # What stderr says of each file reaches the terminal too, above the bar.
    for line in piped.stderr.splitlines():
        assert line in shown.replace("\r\n", "\n")


def test_cli_parse_logs_imports_no_rich_off_terminal() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from monitor.cli import main\n"
        f"r = CliRunner().invoke(main, ['parse-logs', '--summary', {str(FIXTURES)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('rich' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
