"""`pgwarden demo` end to end, as a user runs it: what it finds, what it writes, and that it
leaves nothing behind, Ctrl-C included."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.sandbox.pam import PAM_D, pam_available, stale_services
from monitor.sandbox.pg import find_pg_bindir
from monitor.sandbox.story import PROXY_CLIENT
from tests.conftest import require

pytestmark = pytest.mark.integration

PROD_MONITOR = "arn:aws:iam::222222222222:role/pg-monitor-role"
ANALYTICS_MONITOR = "arn:aws:iam::333333333333:role/pg-monitor-role"
CI_DEPLOYER = "arn:aws:sts::111111111111:assumed-role/ci-deployer/build-4821"


def sandbox_left(tmp: Path, pid: int | None = None) -> list[str]:
    """What a demo could leave behind: files in its TMPDIR, servers, PAM services. The PAM
    services are those of demo `pid`, or without it those whose demo has ended: another
    demo may be running beside this test (a second checkout's suite), and its are not ours."""
    left = [str(p) for p in tmp.iterdir()]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    left += [line for line in ps.stdout.splitlines() if str(tmp) in line]
    services = PAM_D.glob(f"pgwarden-demo-{pid}-*") if pid else stale_services("demo")
    left += [str(p) for p in services]
    return left


@pytest.fixture
def demo_env() -> Iterator[tuple[Path, dict[str, str]]]:
    """A TMPDIR of its own for the demo (where the servers, run as postgres when we are root,
    can reach their data directories), to see what it leaves there."""
    require(find_pg_bindir(bundled=True), "no PostgreSQL server binaries (Debian's or pgserver)")
    tmp = Path(tempfile.mkdtemp(prefix="pgwarden-demo-test-"))
    tmp.chmod(0o755)
    try:
        yield tmp, {"TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("pam", ["--pam", "--no-pam"])
def test_demo_runs_the_pipeline_and_writes_its_files(
    run_cli: Callable[..., Any], tmp_path: Path, demo_env: tuple[Path, dict[str, str]], pam: str
) -> None:
    tmp, env = demo_env
    out = tmp_path / "demo-output"
    started = time.monotonic()
    result = run_cli("demo", "--out", str(out), pam, env=env)
    elapsed = time.monotonic() - started
    print(f"pgwarden demo {pam} took {elapsed:.1f} s")
    assert result.returncode == 0, result.stderr + result.stdout
    assert elapsed < 60
    assert "targets polled      3 of 3" in result.stdout  # orders' proxy is polled too
    # Without the PAM check, the burst is of wrong passwords (any token would get in).
    iam_checked = pam == "--pam" and pam_available() is None
    assert ("NOT checked" in result.stdout) is not iam_checked

    with (out / "findings.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    found = {(r["detector"], r["subject"], r["severity"]) for r in rows}
    burst_user = "orders_app" if iam_checked else "etl_legacy"
    assert found == {
        ("failure-burst", f"orders/user/{burst_user}", "high"),
        ("failure-burst", "orders/host/127.0.0.1", "high"),
        ("password-login", "orders/etl_legacy/scram-sha-256", "high"),
        ("privileged-session", "orders/postgres/127.0.0.1", "high"),
        ("unexpected-assume-source", f"{PROD_MONITOR}/account/999999999999", "high"),
        ("unexpected-assume-source", f"{ANALYTICS_MONITOR}/denied/{CI_DEPLOYER}", "high"),
        ("unused-db-user", "orders/legacy_batch", "low"),
        (
            "unused-iam-grant",
            "arn:aws:iam::222222222222:role/legacy-batch/orders/legacy_batch",
            "low",
        ),
        ("unused-role", "arn:aws:iam::222222222222:role/legacy-batch", "low"),
        # A client seen only through the proxy: its address is in the proxy's own log, never
        # in the database's. Discovery links the proxy to orders, so its events go under the
        # database it fronts (with PAM, orders_app's burst is that of the database's log).
        ("failure-burst", f"orders/host/{PROXY_CLIENT}", "medium"),
        *([] if iam_checked else [("failure-burst", "orders/user/orders_app", "medium")]),
        # etl_legacy logs in to orders with a password, around its IAM-only proxy.
        ("proxy-bypass", "orders", "high"),
        # Polled through the proxy too, the database's sessions and roles are still orders'
        # alone: no finding names orders-proxy.
    }
    assert "findings: high      7" in result.stdout
    # The sandbox is set up as pgwarden asks of a real account: the doctor fails nothing. Two
    # warnings are the story's own: moto does not implement DescribeDBProxyEndpoints (said,
    # not taken for "no endpoints"), and etl_legacy's direct password login around the proxy.
    assert re.search(r"^doctor checks +\d+ ok, 2 warnings, 0 failed$", result.stdout, re.M)
    assert "described        proxy orders-proxy (222222222222 us-east-1): its endpoints" in (
        result.stdout
    )
    assert "direct-password  orders: 1 direct password logins" in result.stdout

    # Every finding reached the local Slack endpoint through the real Slack sink, as Block Kit.
    messages = json.loads((out / "slack-messages.json").read_text(encoding="utf-8"))
    fingerprints = {m["metadata"]["event_payload"]["fingerprint"] for m in messages}
    assert fingerprints == {r["fingerprint"] for r in rows}
    assert {m["channel"] for m in messages} == {"#security", "#pgwarden"}
    assert all(m["blocks"][0]["type"] == "header" for m in messages)
    # The access review of the last seven days: every db user of both targets, and the
    # never-used one up for review; the HTML page is the same review.
    users_csv, principals_csv, html = (
        *sorted(out.glob("access-review-*-users.csv")),
        *sorted(out.glob("access-review-*-principals.csv")),
        *sorted(out.glob("access-review-*.html")),
    )
    with users_csv.open(encoding="utf-8", newline="") as fh:
        users = {(r["target"], r["db_user"]): r for r in csv.DictReader(fh)}
    # The proxy target reaches the same database: its users are listed once, under orders,
    # which shows its proxy; the proxy target keeps only what IAM grants name on it.
    assert set(users) == {
        ("orders", u)
        for u in ("pgmonitor", "orders_app", "reporting", "legacy_batch", "etl_legacy", "postgres")
    } | {("analytics", u) for u in ("pgmonitor", "analyst", "postgres")} | {
        ("orders-proxy", "pgmonitor")
    }
    assert {r["proxies"] for (t, _), r in users.items() if t == "orders"} == {"orders-proxy"}
    assert users[("orders", "legacy_batch")]["recommendation"] == "review"
    assert users[("orders", "reporting")]["recommendation"] == "keep"
    with principals_csv.open(encoding="utf-8", newline="") as fh:
        principals = {r["principal_arn"] for r in csv.DictReader(fh)}
    assert "arn:aws:iam::222222222222:role/legacy-batch" in principals
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "legacy_batch" in page
    for path in (out / "findings.csv", out / "slack-messages.json", users_csv, html):
        assert str(path) in result.stdout
    assert sandbox_left(tmp) == []


def _demo_until_first_account(
    tmp_path: Path, env: dict[str, str], tmp: Path
) -> tuple[subprocess.Popen[str], list[str]]:
    """`pgwarden demo` as a user starts it, read until the first database account is up:
    servers, moto and PAM are all running then. Waits for that state, never for a duration."""
    exe = Path(sys.executable).with_name("pgwarden")
    proc = subprocess.Popen(
        [str(exe), "demo", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "account 222222222222" in line:
            break
    assert any("account 222222222222" in line for line in seen), "".join(seen)
    # The sandbox is really there when interrupted, PAM services included where PAM runs.
    assert sandbox_left(tmp, proc.pid) != []
    if pam_available() is None:
        assert list(PAM_D.glob(f"pgwarden-demo-{proc.pid}-*")) != []
    return proc, seen


@pytest.mark.parametrize(
    ("sig", "code", "said"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
)
def test_demo_signal_leaves_no_process_or_directory(
    tmp_path: Path, demo_env: tuple[Path, dict[str, str]], sig: int, code: int, said: str
) -> None:
    tmp, env = demo_env
    proc, seen = _demo_until_first_account(tmp_path, env, tmp)
    proc.send_signal(sig)
    try:
        rest, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == code, "".join(seen) + rest
    assert said in rest and "Traceback" not in rest
    assert sandbox_left(tmp, proc.pid) == []


def test_demo_exception_leaves_no_process_or_directory(
    run_cli: Callable[..., Any], tmp_path: Path, demo_env: tuple[Path, dict[str, str]]
) -> None:
    tmp, env = demo_env
    out = tmp_path / "out"
    # A real failure late in the run, with every server and PAM service up: the findings
    # file cannot be written where a directory stands.
    (out / "findings.csv").mkdir(parents=True)
    result = run_cli("demo", "--out", str(out), env=env)
    assert result.returncode == 1
    assert "IsADirectoryError" in result.stderr
    assert "targets polled" not in result.stdout and "account 333333333333" in result.stdout
    assert sandbox_left(tmp) == []
