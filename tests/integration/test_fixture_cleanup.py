"""The test session's own fixtures clean up on every exit path: a failing test, Ctrl-C and
SIGTERM. A pytest run of a probe test is started as CI starts one, with the real iam_pg
fixture (PostgreSQL, TLS, a PAM service under /etc/pam.d); afterwards none of it is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.sandbox.pam import PAM_D, pam_available, sweep_stale_services
from tests.conftest import require

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import os
import time
from pathlib import Path


def test_probe(iam_pg):
    state = f"{iam_pg.service}\\n{iam_pg.server.base}\\n"
    Path(os.environ["PROBE_STATE"]).write_text(state)
    go = Path(os.environ["PROBE_STATE"] + ".go")
    while not go.exists():  # the outer test looks, then says go (or sends its signal)
        time.sleep(0.05)
    raise AssertionError("this test fails on purpose")
"""


def _wait_for(path: Path, proc: subprocess.Popen[str], deadline_s: float = 60) -> list[str]:
    deadline = time.monotonic() + deadline_s
    while not path.exists() or not path.read_text().endswith("\n"):
        assert proc.poll() is None, "the probe run ended before its fixture was up"
        assert time.monotonic() < deadline, "the probe's fixture never came up"
        time.sleep(0.05)
    return path.read_text().splitlines()


@pytest.mark.parametrize("mode", ["fail", "SIGINT", "SIGTERM"])
def test_fixtures_clean_up_on_every_exit_path(tmp_path: Path, mode: str) -> None:
    require(pam_available() is None, pam_available() or "")
    probe, state = tmp_path / "test_probe.py", tmp_path / "state"
    probe.write_text(PROBE)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest"]
    proc = subprocess.Popen(
        [*cmd, "--rootdir", str(tmp_path), str(probe)],
        cwd=REPO,
        env={**os.environ, "PROBE_STATE": str(state), "PROBE_MODE": mode},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        service, base = _wait_for(state, proc)
        assert (PAM_D / service).exists() and Path(base).exists()
        if mode == "fail":
            state.with_name("state.go").touch()
        else:
            proc.send_signal(getattr(signal, mode))
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # this test failed: end the probe cleanly, not with SIGKILL
            proc.terminate()
            proc.communicate(timeout=60)
    # pytest's exit codes: 1 for a failed test, 2 for an interrupted run.
    assert proc.returncode == (1 if mode == "fail" else 2), out
    assert not (PAM_D / service).exists()
    assert not Path(base).exists()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert [line for line in ps.stdout.splitlines() if base in line] == []


def test_sweep_stale_services_removes_only_dead_owners() -> None:
    require(pam_available() is None, pam_available() or "")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale, live = PAM_D / f"pgwarden-test-{dead.pid}-x", PAM_D / f"pgwarden-test-{os.getpid()}-x"
    try:
        for path in (stale, live):
            path.write_text("# a probe of test_sweep_stale_services\n")
        assert stale.name in sweep_stale_services()
        assert not stale.exists() and live.exists()
    finally:
        stale.unlink(missing_ok=True)
        live.unlink(missing_ok=True)
