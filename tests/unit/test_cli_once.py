"""`pgwarden once`: every stage in order, a summary, exit 0 only when all succeed."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from monitor.sandbox.trail import file_name, write_files
from monitor.stages import known_stages

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def config(tmp_path: Path, trail: Path) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(
        f'[store]\npath = "p.db"\n[pglogs]\nsources = ["files"]\n'
        f'[cloudtrail]\nlocal_dir = "{trail}"\n'
    )
    return path


def sections(stdout: str) -> list[str]:
    return re.findall(r"^== (\S+)$", stdout, flags=re.MULTILINE)


def test_cli_once_runs_every_stage_in_order_exit_0(run_cli: RunCli, tmp_path: Path) -> None:
    write_files(tmp_path / "trail", {file_name("444444444444", datetime.now(UTC)): []})
    result = run_cli("once", "--config", str(config(tmp_path, tmp_path / "trail")))
    assert result.returncode == 0, result.stderr
    assert sections(result.stdout) == known_stages()
    assert known_stages() == [
        "activity", "pglogs", "grants", "cloudtrail", "detect", "alerts", "retention",
    ]  # fmt: skip


def test_cli_once_a_failed_stage_exits_1_and_the_rest_run(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("once", "--config", str(config(tmp_path, tmp_path / "missing")))
    assert result.returncode == 1
    assert sections(result.stdout) == known_stages()
    trail = result.stdout.split("== cloudtrail\n")[1].split("== detect")[0]
    assert "failed" in trail and "missing: trail directory or file not found" in trail


def test_cli_once_only_runs_the_named_stages(run_cli: RunCli, tmp_path: Path) -> None:
    path = config(tmp_path, tmp_path / "missing")
    result = run_cli("once", "--only", "alerts", "--only", "detect", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert sections(result.stdout) == ["detect", "alerts"]


def test_cli_once_a_target_whose_logs_cannot_be_read_exits_1(
    run_cli: RunCli, tmp_path: Path
) -> None:
    (tmp_path / "orders.log").write_text("")
    path = tmp_path / "p.toml"
    path.write_text(
        '[store]\npath = "p.db"\n'
        '[[accounts]]\nid = "222222222222"\nname = "prod"\n'
        '[[targets]]\nname = "orders"\naccount = "prod"\ninstance_id = "orders"\n'
        'endpoint = "orders.example.com"\nendpoint_type = "instance"\n'
        '[[targets]]\nname = "billing"\naccount = "prod"\ninstance_id = "billing"\n'
        'endpoint = "billing.example.com"\nendpoint_type = "instance"\n'
        '[pglogs]\nsources = ["files"]\n'
        '[[pglogs.files]]\ntarget = "orders"\npaths = ["orders.log", "rotated-away.log"]\n'
    )
    result = run_cli("once", "--only", "pglogs", "--config", str(path))
    assert result.returncode == 1, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[2:]}
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("orders") and "rotated-away.log: no such file" in line for line in lines
    )
    # billing has log groups but no source reads them: silence is a failure, said by name.
    assert "no [pglogs] source reads this target's logs" in rows["billing"]
