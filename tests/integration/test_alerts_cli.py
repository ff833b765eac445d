"""`pgwarden alerts ...` as a user runs it, against the local Slack Web API server."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.judge.findings import record
from monitor.store.sqlite import Store
from tests.conftest import SlackApi
from tests.support.findings import make_finding

RunCli = Callable[..., Any]
ENV = {"PGWARDEN_TEST_SLACK": "xoxb-cli-test"}


@pytest.fixture
def config(tmp_path: Path, slack_api: SlackApi) -> Path:
    slack_api.clear()
    path = tmp_path / "pgwarden.toml"
    path.write_text(
        '[store]\npath = "p.db"\n'
        "[alerts.slack]\nenabled = true\n"
        'token = "env:PGWARDEN_TEST_SLACK"\n'
        f'base_url = "{slack_api.url}"\n'
        'channel = "#pgwarden"\n'
        'channels = { high = "#sec-high", critical = "#sec-high" }\n'
    )
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    with Store.open(tmp_path / "p.db") as store:
        record(
            store,
            "failure-burst",
            [make_finding(subject="a", severity="high"), make_finding(subject="b", user="<!here>")],
            now,
            realert=timedelta(hours=1),
        )
    return path


def pending(config: Path) -> int:
    with Store.open(config.parent / "p.db", writer=False) as store:
        rows = store.conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        return int(rows.fetchall()[0][0])


def test_alerts_cli_test_reaches_every_channel(
    run_cli: RunCli, config: Path, slack_api: SlackApi
) -> None:
    result = run_cli("alerts", "test", "--config", str(config), env=ENV)
    assert result.returncode == 0, result.stderr
    assert "✔ #sec-high: delivered" in result.stdout and "✔ #pgwarden: delivered" in result.stdout
    assert sorted(m["channel"] for m in slack_api.messages) == ["#pgwarden", "#sec-high"]
    assert {m["_auth"] for m in slack_api.messages} == {"Bearer xoxb-cli-test"}
    # The token is never echoed.
    assert "xoxb-cli-test" not in result.stdout + result.stderr


def test_alerts_cli_test_reports_failures(
    run_cli: RunCli, config: Path, slack_api: SlackApi
) -> None:
    slack_api.fail_next(200, {"ok": False, "error": "not_in_channel"})
    result = run_cli("alerts", "test", "--config", str(config), env=ENV)
    assert result.returncode == 1
    assert "✖ #sec-high: " in result.stdout and "not_in_channel" in result.stdout
    assert "✔ #pgwarden: delivered" in result.stdout


def test_alerts_cli_dry_run_prints_and_keeps_outbox(
    run_cli: RunCli, config: Path, slack_api: SlackApi
) -> None:
    result = run_cli("alerts", "deliver", "--dry-run", "--config", str(config), env=ENV)
    assert result.returncode == 0, result.stderr
    decoder, text, payloads = json.JSONDecoder(), result.stdout, []
    while text.strip():
        payload, end = decoder.raw_decode(text.lstrip())
        payloads.append(payload)
        text = text.lstrip()[end:]
    assert [p["channel"] for p in payloads] == ["#sec-high", "#pgwarden"]
    assert "<!here>" not in result.stdout
    assert slack_api.requests == []
    assert pending(config) == 2


def test_alerts_cli_deliver_sends_and_marks(
    run_cli: RunCli, config: Path, slack_api: SlackApi
) -> None:
    result = run_cli("alerts", "deliver", "--config", str(config), env=ENV)
    assert result.returncode == 0, result.stderr
    assert "sent 2, in digests 0, waiting 0" in result.stdout
    assert len(slack_api.messages) == 2
    assert pending(config) == 0


def test_alerts_cli_missing_token_is_one_line(run_cli: RunCli, config: Path) -> None:
    result = run_cli("alerts", "deliver", "--config", str(config), env={"PGWARDEN_TEST_SLACK": ""})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "PGWARDEN_TEST_SLACK" in result.stderr


def test_alerts_cli_dry_run_payload_is_inert(
    run_cli: RunCli, config: Path, slack_api: SlackApi
) -> None:
    from datetime import UTC, datetime

    hostile = "nl1\nnl2 *Why:* forged http://evil.test/login \x1b[2J"
    with Store.open(config.parent / "p.db") as store:
        record(
            store,
            "new-source",
            [make_finding(subject="x", detector="new-source", user=hostile, host=hostile)],
            datetime.now(UTC),
            realert=timedelta(hours=1),
        )
    result = run_cli("alerts", "deliver", "--dry-run", "--config", str(config), env=ENV)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "nl1⏎nl2 ∗Why:∗ forged http[:]//evil.test/login \\\\x1b[2J" in out
    assert "://evil" not in out and "\\u001b" not in out and "\x1b" not in out
