"""The store under faults, with real processes: many writers on one store, a full volume,
SIGTERM at any moment. The inputs are tests/integration/test_daemon.py's: failed IAM logins
in PostgreSQL's log, published to moto's CloudWatch Logs, and a CloudTrail copy."""

from __future__ import annotations

import collections
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from monitor.config import validate
from monitor.errors import StoreCannotWrite
from monitor.judge.findings import record
from monitor.outputs.alerts.budget import Limits
from monitor.outputs.alerts.outbox import deliver
from monitor.outputs.alerts.slack import SlackSink, make_web_client
from monitor.sandbox.pam import IamPg
from monitor.sandbox.slack import AfterPost
from monitor.stages import run_once
from monitor.store.sqlite import Store
from tests.conftest import MotoServer, SlackApi
from tests.integration.test_daemon import (
    Inputs,
    counts,
    delivered_ids,
    quick_config,
    sent_ids,
    start,
)
from tests.support.daemon import wait_for, write_toml
from tests.support.findings import NOW, make_finding
from tests.support.volume import fill, small_volume


@pytest.fixture
def slack(slack_api: SlackApi) -> SlackApi:
    slack_api.clear()
    return slack_api


def sandbox(
    iam_pg: IamPg, moto_server: MotoServer, slack: SlackApi, tmp_path: Path, port: int, name: str
) -> tuple[Inputs, dict[str, Any], int]:
    """test_daemon's inputs for target `name`; two failed logins make a user's burst."""
    inputs = Inputs(moto_server, iam_pg, tmp_path, name)
    raw = inputs.config(tmp_path, moto_server.url, slack.url, port)
    raw["detectors"]["failure-burst"] = {"threshold": 2}
    return inputs, raw, port


def publish_bursts(inputs: Inputs, users: list[str], times: int = 2) -> None:
    """`times` failed IAM logins for each user, published to the target's log group."""
    iam_pg: IamPg = inputs.iam_pg
    start = len(iam_pg.server.log_text())
    for user in users:
        iam_pg.create_iam_user(user)
        for _ in range(times):
            with pytest.raises(psycopg.OperationalError, match="PAM authentication failed"):
                psycopg.connect(
                    host=iam_pg.host, hostaddr="127.0.0.1", port=iam_pg.port, user=user,
                    dbname="postgres", password="not-a-token", sslmode="verify-full",
                    sslrootcert=str(iam_pg.pki.ca_cert), connect_timeout=5,
                ).close()  # fmt: skip
    want = len(users) * times
    lines = iam_pg.server.log_lines(start, "PAM authentication failed", count=want)
    assert sum("PAM authentication failed" in x for x in lines) == want
    now_ms = int(time.time() * 1000)
    inputs.logs.put_log_events(
        logGroupName=inputs.group,
        logStreamName="s1",
        logEvents=[{"timestamp": now_ms + i, "message": x} for i, x in enumerate(lines)],
    )


def cli(config: Path, *args: str) -> subprocess.Popen[str]:
    exe = Path(sys.executable).with_name("pgwarden")
    return subprocess.Popen(
        [str(exe), *args, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SLACK_TOKEN": "xoxb-test"},
    )


def finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=60)
        out.append((proc.returncode, stdout, stderr))
    return out


def committed(path: Path) -> dict[str, set[Any]]:
    """What the store holds now, as another process reads it."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return {
            "events": {r[0] for r in conn.execute("SELECT dedup_key FROM auth_events")},
            "sent": {r[0] for r in conn.execute("SELECT id FROM outbox WHERE sent_at IS NOT NULL")},
            "findings": {r[0] for r in conn.execute("SELECT fingerprint FROM findings")},
            "acked": {
                r[0]
                for r in conn.execute(
                    "SELECT fingerprint FROM findings WHERE status = 'acknowledged'"
                )
            },
            "suppressions": {r[0] for r in conn.execute("SELECT id FROM suppressions")},
            "decisions": {r[0] for r in conn.execute("SELECT id FROM review_decisions")},
        }


def late(path: Path, query: str) -> int:
    """A count about the user of the last burst (`?` in `query`)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return int(conn.execute(query, ("writers_late",)).fetchall()[0][0])


LATE_FAILURES = "SELECT count(*) FROM auth_events WHERE user = ? AND kind = 'auth_failed'"


def reference_events(raw: dict[str, Any], tmp_path: Path) -> int:
    """The events of the log group read once into a fresh store: what a store must hold."""
    path = tmp_path / "reference.db"
    path.unlink(missing_ok=True)
    reference = validate({**raw, "store": {"path": str(path)}, "alerts": {}})
    assert [r.stage for r in run_once(reference, ["pglogs"]) if r.failures] == []
    return counts(path)["auth_events"]


def user_alerts(path: Path, prefix: str) -> int:
    """Users named `prefix...` whose failure-burst alert was sent."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT count(DISTINCT f.subject) FROM findings f JOIN outbox o"
            " ON o.fingerprint = f.fingerprint AND o.kind = 'new' AND o.sent_at IS NOT NULL"
            " WHERE f.detector = 'failure-burst' AND f.subject LIKE '%/user/' || ? || '%'",
            (prefix,),
        ).fetchall()
    return int(rows[0][0])


def integrity(path: Path) -> list[tuple[str]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("PRAGMA integrity_check").fetchall()


def posted_once(slack: SlackApi, store: Path) -> collections.Counter[int]:
    """Posts per outbox id: each exactly one, and every row posted is marked sent."""
    posts = collections.Counter(delivered_ids(slack))
    assert set(posts.values()) == {1}, posts.most_common(3)
    ids, pending = sent_ids(store)
    assert pending == 0 and sorted(posts) == ids
    return posts


def settle(daemon: Any, store: Path, raw: dict[str, Any], tmp_path: Path,
           alerted: tuple[str, int]) -> int:  # fmt: skip
    """Wait for every event of the log group, each user's alert and an empty outbox;
    returns how many events the log group holds."""
    want = reference_events(raw, tmp_path)
    wait_for("every event", lambda: counts(store)["auth_events"] == want)
    wait_for("every user's alert", lambda: user_alerts(store, alerted[0]) == alerted[1])
    wait_for("the outbox drained", lambda: daemon.metric("pgwarden_outbox_pending") == 0)
    return want


def user_findings(path: Path, users: list[str]) -> list[str]:
    """The open failure-burst findings of these users: stable while the test runs."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT fingerprint, subject FROM findings"
            " WHERE detector = 'failure-burst' AND status = 'open' ORDER BY fingerprint"
        ).fetchall()
    return [fp for fp, subject in rows if subject.rsplit("/", 1)[-1] in users]


def test_store_many_writers_on_one_store_stay_whole_and_post_each_alert_once(
    iam_pg: IamPg,
    moto_server: MotoServer,
    slack: SlackApi,
    tmp_path: Path,
    free_port: Callable[[], int],
) -> None:
    inputs, raw, port = sandbox(iam_pg, moto_server, slack, tmp_path, free_port(), "writers")
    raw["scheduler"]["alerts_interval_s"] = 0.2  # the daemon's deliverer races the CLI's
    store = tmp_path / "pgwarden.db"
    config = tmp_path / "pgwarden.toml"
    users = [f"writers_u{i:02d}" for i in range(12)]
    decisions = tmp_path / "decisions.csv"
    decisions.write_text(
        "target,db_user,decision,reviewer,notes\n"
        + "".join(f"writers,{u},keep,alice,wave\n" for u in users[:3])
    )
    # A second daemon, through a symlink to the same store and its own config.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "pgwarden.db").symlink_to(store)
    other = {**raw, "store": {"path": str(tmp_path / "other" / "pgwarden.db")}}
    other["metrics"] = {"enabled": True, "port": free_port()}
    write_toml(tmp_path / "other" / "pgwarden.toml", other)
    for _ in range(40):  # a slow Slack: delivery runs last, and overlap
        slack.delay_next(0.5)
    daemon = start(tmp_path, raw, port, "first.log")
    try:
        daemon.wait_serving()
        results: list[tuple[int, str, str]] = []
        for wave in range(3):
            wave_users = users[wave * 4 : (wave + 1) * 4]
            publish_bursts(inputs, wave_users)  # 4 alerts on their way
            procs = []
            for _ in range(4):  # deliverers while the daemon's own delivers the wave
                procs.append(cli(config, "alerts", "deliver"))
                time.sleep(0.5)
            found = wait_for(
                f"wave {wave}'s findings",
                lambda u=wave_users: (f := user_findings(store, u)) and len(f) == 4 and f,
            )
            procs += [cli(config, "findings", "ack", found[0])]
            procs += [cli(config, "findings", "suppress", found[1], "--until", "2099-01-01",
                          "--reason", "test")]  # fmt: skip
            procs += [cli(config, "report", "apply-decisions", str(decisions))]
            second = subprocess.run(
                [str(Path(sys.executable).with_name("pgwarden")), "run", "--config",
                 str(tmp_path / "other" / "pgwarden.toml")],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert second.returncode == 2, second.stderr
            assert "store is in use by another pgwarden writer (pid" in second.stderr
            results += finish(procs)
        for code, stdout, stderr in results:
            assert code == 0, (stdout, stderr)
            assert "Traceback" not in stderr
        sent_by_cli = [out for _, out, _ in results if out.startswith("sent ")]
        busy = [out for _, out, _ in results if out.startswith("another pgwarden process")]
        assert len(sent_by_cli) + len(busy) == 12
        # kill -9 while it works: more failures arrive, and it dies somewhere in them.
        publish_bursts(inputs, ["writers_late"], 3)
        wait_for("the late burst stored", lambda: late(store, LATE_FAILURES))
        before = committed(store)
    finally:
        daemon.kill()
    assert integrity(store) == [("ok",)]
    second = start(tmp_path, raw, port, "second.log")
    try:
        second.wait_serving()
        want = settle(second, store, raw, tmp_path, ("writers_", 13))
        code, _ = second.stop(signal.SIGTERM)
    finally:
        second.kill()
    assert code == 0
    after = committed(store)
    assert integrity(store) == [("ok",)]
    for key, rows in before.items():
        assert rows <= after[key], f"{key}: committed before kill -9, gone after"
    assert len(after["acked"]) >= 3 and len(after["suppressions"]) >= 3 + 3
    assert len(after["decisions"]) == 3
    posts = posted_once(slack, store)
    assert counts(store)["auth_events"] == want  # nothing lost, nothing counted twice
    print(f"many writers: {len(posts)} alerts, posts per outbox id {set(posts.values())}, "
          f"CLI deliverers {len(sent_by_cli)} ran, {len(busy)} found the outbox busy")  # fmt: skip


def test_store_full_volume_fails_jobs_then_resumes_posting_each_alert_once(
    iam_pg: IamPg,
    moto_server: MotoServer,
    slack: SlackApi,
    tmp_path: Path,
    free_port: Callable[[], int],
) -> None:
    inputs, raw, port = sandbox(iam_pg, moto_server, slack, tmp_path, free_port(), "fulldisk")
    users = [f"fulldisk_u{i:02d}" for i in range(8)]
    with small_volume(tmp_path / "vol", "4m") as volume:
        store = volume / "pgwarden.db"
        raw["store"] = {"path": str(store)}
        config = tmp_path / "pgwarden.toml"
        write_toml(config, raw)

        # Starting on a full volume: one line, exit 2.
        filler = fill(volume)
        for command in (["once"], ["run"]):
            done = cli(config, *command).communicate(timeout=60)
            assert "Traceback" not in done[1]
            (line,) = done[1].splitlines()
            assert "store cannot write: no space left on the device of" in line
        filler.unlink()

        daemon = start(tmp_path, raw, port, "full.log")
        try:
            daemon.wait_serving()
            publish_bursts(inputs, users[:4])
            wait_for("the first alerts", lambda: len(slack.messages) >= 4)
            publish_bursts(inputs, users[4:])  # alerts on their way when the disk fills
            filler = fill(volume)
            wait_for("/readyz to say so", lambda: "store cannot write" in daemon.get("/readyz")[1])
            assert daemon.get("/readyz")[0] == 503
            assert daemon.metric("pgwarden_store_writable") == 0
            wait_for(
                "failed runs while full",
                lambda: (daemon.metric("pgwarden_job_runs_total", outcome="failed") or 0) >= 10,
            )
            posted_while_full = len(slack.messages)
            time.sleep(2)  # a few more delivery runs: none of them may post
            assert len(slack.messages) == posted_while_full
            filler.unlink()
            wait_for("/readyz again", lambda: daemon.get("/readyz")[0] == 200)
            assert daemon.metric("pgwarden_store_writable") == 1
            want = settle(daemon, store, raw, tmp_path, ("fulldisk_u", 8))
            code, _ = daemon.stop(signal.SIGTERM)
        finally:
            daemon.kill()
        assert code == 0
        lines = daemon.log_lines()
        said = [e for e in lines if "jobs fail until it can write again" in str(e.get("message"))]
        assert len(said) == 1
        failed = [e for e in lines if "failed in" in str(e.get("message"))]
        assert failed and all("store cannot write" in str(e["message"]) for e in failed)
        assert not any("Traceback" in json.dumps(e) for e in lines)
        posts = posted_once(slack, store)
        assert integrity(store) == [("ok",)]
        got = counts(store)["auth_events"]
        assert got == want  # nothing lost, nothing twice
        print(f"full volume: {len(posts)} alerts, posts per outbox id {set(posts.values())}, "
              f"{got} events of {want}")  # fmt: skip


def test_store_full_between_post_and_mark_posts_once(slack: SlackApi, tmp_path: Path) -> None:
    day = timedelta(days=1)
    with small_volume(tmp_path / "vol", "2m") as volume, Store.open(volume / "p.db") as store:
        record(store, "failure-burst", [make_finding(subject=s) for s in "ab"], NOW, realert=day)
        sink = SlackSink(make_web_client("xoxb-test", slack.url), {}, "#pgwarden")
        fillers: list[Path] = []

        def fills() -> None:
            # The WAL first: SQLite would reuse what it holds, and the mark must need space.
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            fillers.append(fill(volume))

        with pytest.raises(StoreCannotWrite, match="database or disk is full"):
            deliver(store, AfterPost(sink, fills), NOW, Limits(20, day))
        assert len(slack.messages) == 1  # Slack has it; the store could not say so
        # Still full: the next run finds the post in Slack, cannot mark it, posts nothing.
        with pytest.raises(StoreCannotWrite):
            deliver(store, sink, NOW + timedelta(hours=1), Limits(20, day))
        assert len(slack.messages) == 1
        fillers[0].unlink()
        summary = deliver(store, sink, NOW + timedelta(hours=2), Limits(20, day))
        assert (summary.found, summary.sent, summary.pending) == (1, 1, 0)
        posted_once(slack, volume / "p.db")


def test_store_read_only_volume_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with small_volume(tmp_path / "vol", "4m") as volume:
        config = tmp_path / "pgwarden.toml"
        write_toml(config, {**quick_config(tmp_path), "store": {"path": str(volume / "p.db")}})
        Store.open(volume / "p.db").close()
        subprocess.run(["mount", "-o", "remount,ro", str(volume)], check=True)
        for command in (["once"], ["run"], ["findings", "ack", "failure-burst:0"]):
            proc = cli(config, *command)
            _, stderr = proc.communicate(timeout=60)
            assert proc.returncode == 2, stderr
            (line,) = stderr.splitlines()
            assert "p.db: store cannot write: " in line, line
            assert "read-only file system" in line.lower(), line


def test_store_sigterm_at_any_moment_exits_0(tmp_path: Path) -> None:
    config = tmp_path / "pgwarden.toml"
    write_toml(config, quick_config(tmp_path))
    codes = {}
    # From the executable's first statement on: before it, the interpreter is still
    # starting (about 20 ms), and no program can take a signal then.
    for delay in (0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0):
        proc = cli(config, "run")
        deadline = time.monotonic() + 10
        while not takes_sigterm(proc.pid):  # polled tightly: the earliest moments count
            assert time.monotonic() < deadline, "no SIGTERM handler after 10 s"
            time.sleep(0.001)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
        codes[delay] = proc.returncode
        assert "Traceback" not in stderr
    assert set(codes.values()) == {0}, codes


def takes_sigterm(pid: int) -> bool:
    """The process catches or blocks SIGTERM (/proc/PID/status, masks in hex)."""
    bit = 1 << (signal.SIGTERM - 1)
    fields = dict(
        line.split(":\t", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":\t" in line
    )
    return bool((int(fields["SigCgt"], 16) | int(fields["SigBlk"], 16)) & bit)
