from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest

from monitor.cli import main

REPO = Path(__file__).resolve().parents[2]
RunCli = Callable[..., Any]


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*prefix, name)))
    return found


def test_cli_tree_has_every_command() -> None:
    top = set(main.commands)
    assert {"validate", "once", "run", "parse-logs", "trail", "findings", "report", "demo"} <= top


@pytest.mark.parametrize("path", all_commands(main))
def test_cli_help_has_example(path: tuple[str, ...]) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert "pgwarden " in result.output.split("Example:")[1]


def test_cli_validate_example_exits_0(run_cli: RunCli) -> None:
    result = run_cli("validate", "--config", str(REPO / "config.example.toml"))
    assert result.returncode == 0, result.stderr
    assert "config valid: 2 accounts, 2 targets" in result.stdout


def test_cli_validate_three_mistakes(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[[accounts]]\nid = "1234"\nname = "a"\nrole_arn = "arn:aws:iam::12:role"\n'
        "[activity]\ninterval = 5\n"
    )
    result = run_cli("--config", str(config), "validate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        'accounts[0].id: not a 12-digit AWS account id: "1234"',
        'accounts[0].role_arn: not an IAM role ARN: "arn:aws:iam::12:role"',
        "activity.interval: unknown key",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[aws\n", "TOML syntax error"),
        ('[store]\npath = "/nonexistent-dir/p.db"\n', "directory /nonexistent-dir does not exist"),
        ('[[targets]]\nname="t"\n', "targets[0].account: required"),
    ],
)
def test_cli_validate_bad_input_exit_2(
    run_cli: RunCli, tmp_path: Path, text: str, expected: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    result = run_cli("validate", "--config", str(config))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_missing_config_exit_2(run_cli: RunCli) -> None:
    result = run_cli("validate")
    assert result.returncode == 2
    assert "pgwarden.toml: config file not found" in result.stderr


def test_cli_config_from_env(run_cli: RunCli) -> None:
    result = run_cli("validate", env={"PGWARDEN_CONFIG": str(REPO / "config.example.toml")})
    assert result.returncode == 0, result.stderr


def test_cli_python_dash_m(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0
    assert "Usage: pgwarden" in result.stdout


def test_cli_logs_json_lines_when_not_a_terminal() -> None:
    import subprocess
    import sys

    code = (
        "import logging\nfrom monitor.logs import configure\nconfigure('auto')\n"
        "logging.getLogger('x').warning('hi %s', 'there', extra={'target': 't1'})"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    entry = json.loads(result.stderr.strip())
    assert entry["message"] == "hi there"
    assert entry["level"] == "warning"
    assert entry["target"] == "t1"
