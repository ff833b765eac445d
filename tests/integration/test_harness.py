"""The real parts every later test builds on."""

from __future__ import annotations

import time

import psycopg

from monitor.sandbox.pg import PgServer
from tests.conftest import MotoServer, SlackApi


def test_harness_postgres_logs_connections(pg_server: PgServer) -> None:
    with psycopg.connect(pg_server.dsn(), application_name="harness") as conn:
        version = conn.execute("SHOW server_version_num").fetchall()[0][0]
        prefix = conn.execute("SHOW log_line_prefix").fetchall()[0][0]
    assert int(version) >= 150000
    assert prefix == "%t:%r:%u@%d:[%p]:"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = pg_server.log_text()
        if "disconnection:" in text:
            break
        time.sleep(0.05)
    assert "LOG:  connection received: host=127.0.0.1" in text
    assert "connection authorized: user=postgres database=postgres application_name=harness" in text
    assert "LOG:  disconnection: session time:" in text


def test_settled_log_holds_what_was_just_logged_and_not_its_own_marker(
    pg_server: PgServer,
) -> None:
    """A line a backend sent a moment ago is in the settled log, without waiting for it by
    name; the marker is not."""
    with psycopg.connect(pg_server.dsn(), application_name="settled", autocommit=True) as conn:
        pid = conn.info.backend_pid
        conn.execute("DO $$BEGIN RAISE LOG 'settled-probe'; END$$")
        lines = pg_server.settled_log()
    assert any(f":[{pid}]:LOG:  settled-probe" in line for line in lines), lines[-5:]
    assert any(f":[{pid}]:" in line and "application_name=settled" in line for line in lines)
    assert not any("pgwarden-sandbox-settled-" in line for line in lines)


def test_harness_moto_sts_isolates_accounts(moto_server: MotoServer) -> None:
    sts = moto_server.client("sts")
    creds = sts.assume_role(
        RoleArn="arn:aws:iam::222222222222:role/pg-monitor-role", RoleSessionName="harness"
    )["Credentials"]
    assumed = moto_server.client(
        "sts",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    assert assumed.get_caller_identity()["Account"] == "222222222222"


def test_harness_slack_records_and_faults(slack_api: SlackApi) -> None:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    slack_api.clear()
    client = WebClient(token="xoxb-test", base_url=slack_api.url)
    slack_api.fail_next(500)
    try:
        client.chat_postMessage(channel="#c", text="lost")
    except SlackApiError as exc:
        assert exc.response.status_code == 500
    else:
        raise AssertionError("a 500 must raise")
    response = client.chat_postMessage(channel="#c", text="hello")
    assert response["ok"] is True
    assert [m["text"] for m in slack_api.messages] == ["hello"]
    assert slack_api.messages[0]["_auth"] == "Bearer xoxb-test"
