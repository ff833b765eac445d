"""Progress on long commands: a bar on stderr on a terminal, nothing anywhere else."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli.progress import Bar, progress
from tests.support.terminal import RICH_OVERRIDES, TERMINAL_ENV, exe, run_on_terminal

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pglog"


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


def test_cli_parse_logs_progress_on_a_terminal_only(tmp_path: Path) -> None:
    args = ["parse-logs", "--summary", str(FIXTURES)]
    piped = subprocess.run([exe(), *args], capture_output=True, timeout=60)
    code, out, shown = run_on_terminal(args)
    assert code == piped.returncode == 0
    # The data on stdout is the same; the bar only ever reaches the terminal on stderr.
    assert out == piped.stdout.decode()
    assert "reading logs" in shown
    assert b"reading logs" not in piped.stderr
    assert b"\x1b[" not in piped.stderr
    # What stderr says of each file reaches the terminal too, above the bar.
    for line in piped.stderr.decode().splitlines():
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
