"""`pgwarden findings ...` as a user runs it, over a store the lifecycle wrote."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.judge.findings import record
from monitor.store.sqlite import Store
from tests.support.findings import NOW, make_finding

RunCli = Callable[..., Any]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "pgwarden.toml"
    path.write_text('[store]\npath = "p.db"\n')
    with Store.open(tmp_path / "p.db") as store:
        record(
            store,
            "failure-burst",
            [make_finding(subject="a", severity="high"), make_finding(subject="=cmd()")],
            NOW,
            realert=timedelta(hours=1),
        )
    return path


def test_findings_cli_list_formats(run_cli: RunCli, config: Path) -> None:
    table = run_cli("findings", "list", "--config", str(config))
    assert table.returncode == 0, table.stderr
    assert "failure-burst" in table.stdout
    rows = json.loads(
        run_cli("findings", "list", "--format", "json", "--config", str(config)).stdout
    )
    assert [r["severity"] for r in rows] == ["high", "medium"]
    out = run_cli("findings", "list", "--format", "csv", "--config", str(config)).stdout
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert [row["subject"] for row in parsed] == ["a", "'=cmd()"]


def test_findings_cli_show_suppress_ack(run_cli: RunCli, config: Path) -> None:
    fp_a = make_finding(subject="a").fingerprint
    fp_b = make_finding(subject="=cmd()").fingerprint
    shown = run_cli("findings", "show", fp_a, "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    for part in ("why:", "evidence:", "10.0.0.5", "a guess, not a fact", "REVOKE rds_iam"):
        assert part in shown.stdout
    done = run_cli(
        "findings", "suppress", fp_a, "--until", "2099-01-01", "--reason", "pentest",
        "--config", str(config),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert run_cli("findings", "ack", fp_b, "--config", str(config)).returncode == 0
    rows = run_cli(
        "findings", "list", "--status", "all", "--format", "json", "--config", str(config)
    )
    statuses = {x["fingerprint"]: x["status"] for x in json.loads(rows.stdout)}
    assert statuses == {fp_a: "suppressed", fp_b: "acknowledged"}


def test_findings_cli_bad_input(run_cli: RunCli, config: Path, tmp_path: Path) -> None:
    missing = run_cli("findings", "show", "nope:1", "--config", str(config))
    assert missing.returncode == 2
    assert "nope:1: no such finding" in missing.stderr
    past = run_cli(
        "findings", "suppress", make_finding(subject="a").fingerprint, "--until", "2001-01-01",
        "--reason", "x", "--config", str(config),
    )  # fmt: skip
    assert past.returncode == 2 and "must be in the future" in past.stderr
    empty = tmp_path / "empty.toml"
    empty.write_text('[store]\npath = "nothing.db"\n')
    none = run_cli("findings", "list", "--config", str(empty))
    assert none.returncode == 2 and "no store here yet" in none.stderr


def test_findings_cli_show_and_list_escape_attacker_text(run_cli: RunCli, tmp_path: Path) -> None:
    hostile = "\x1b]8;;http://evil.test/\x07x\x1b]8;;\x07\x1b[2J\nnl2"
    config = tmp_path / "pgwarden.toml"
    config.write_text('[store]\npath = "p.db"\n')
    finding = make_finding(subject="evil", user=hostile, host=hostile)
    with Store.open(tmp_path / "p.db") as store:
        record(store, "failure-burst", [finding], NOW, realert=timedelta(hours=1))
    shown = run_cli("findings", "show", finding.fingerprint, "--config", str(config))
    listed = run_cli("findings", "list", "--config", str(config))
    for out in (shown, listed):
        assert out.returncode == 0, out.stderr
        assert "\x1b" not in out.stdout and "\x07" not in out.stdout
    assert "\\x1b]8;;http://evil.test/\\x07x" in shown.stdout
    assert "db user      \\x1b]8;;" in shown.stdout  # one line, the newline shown as \n
    assert "\\nnl2" in shown.stdout
