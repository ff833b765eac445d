"""The RDS IAM login emulation: PAM checks SigV4 tokens, TLS is verified against a test CA.

The server log lines each attempt produced are compared with (and, with
PGWARDEN_REGEN_FIXTURES=1, written to) tests/fixtures/pglog/pam_server.log, which the PG
log parser's tests read. Times, pids and ports are normalised before comparing.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
import pytest

from monitor.sandbox.pam import DB_USER, IamPg
from tests.conftest import MotoServer

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pglog" / "pam_server.log"
_PID = re.compile(r":\[(\d+)\]:")


def assumed_rds(moto_server: MotoServer, account: str = "222222222222") -> Any:
    sts = moto_server.client("sts")
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/pg-monitor-role", RoleSessionName="pgwarden-test"
    )["Credentials"]
    return moto_server.client(
        "rds",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def token(rds: Any, iam_pg: IamPg, user: str = DB_USER, host: str | None = None) -> str:
    return str(
        rds.generate_db_auth_token(
            DBHostname=host or iam_pg.host, Port=iam_pg.port, DBUsername=user, Region="us-east-1"
        )
    )


def connect(iam_pg: IamPg, password: str, user: str = DB_USER, ca: Path | None = None) -> Any:
    return psycopg.connect(
        host=iam_pg.host,
        hostaddr="127.0.0.1",
        port=iam_pg.port,
        dbname="postgres",
        user=user,
        password=password,
        sslmode="verify-full",
        sslrootcert=str(ca or iam_pg.pki.ca_cert),
        connect_timeout=5,
        application_name="iam-login-test",
    )


def normalise(line: str) -> str:
    line = re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "<time>", line)
    line = _PID.sub(":[<pid>]:", line)
    line = re.sub(r"(127\.0\.0\.1)\(\d+\)", r"\1(<port>)", line)
    line = re.sub(r"port=\d+", "port=<port>", line)
    line = re.sub(r"session time: \S+", "session time: <t>", line)
    line = re.sub(r"pamservice=[\w-]+", "pamservice=<svc>", line)
    return re.sub(r"\(/\S+/pg_hba\.conf", "(<hba>", line)


class LogCapture:
    """The server log lines written by the connections an action opened."""

    def __init__(self, iam_pg: IamPg) -> None:
        self.iam_pg = iam_pg
        self.captured: list[str] = []

    def during(self, action: Callable[[], None], until: str) -> list[str]:
        start = len(self.iam_pg.server.log_text())
        action()
        deadline = time.monotonic() + 10
        while True:
            new = self.iam_pg.server.log_text()[start:].splitlines()
            pids = {
                m.group(1)
                for line in new
                if "connection received" in line
                for m in [_PID.search(line)]
                if m
            }
            mine = [line for line in new if (m := _PID.search(line)) and m.group(1) in pids]
            if any(until in line for line in mine) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.captured.extend(mine)
        return mine


@pytest.fixture(scope="module")
def capture(iam_pg: IamPg) -> LogCapture:
    return LogCapture(iam_pg)


def denied(iam_pg: IamPg, capture: LogCapture, password: str, user: str = DB_USER) -> str:
    """Attempt a login that must fail; return the PAM module's reason."""
    before = len(iam_pg.decisions())

    def attempt() -> None:
        with pytest.raises(psycopg.OperationalError, match="PAM authentication failed"):
            connect(iam_pg, password, user=user).close()

    lines = capture.during(attempt, until="FATAL:  PAM authentication failed")
    assert any("LOG:  pam_authenticate failed: Permission denied" in x for x in lines), lines
    assert any(f'FATAL:  PAM authentication failed for user "{user}"' in x for x in lines), lines
    decisions = iam_pg.decisions()[before:]
    assert [d["ok"] for d in decisions] == [False]
    return str(decisions[0]["reason"])


def test_iam_login_good_token_logs_in(
    iam_pg: IamPg, moto_server: MotoServer, capture: LogCapture
) -> None:
    password = token(assumed_rds(moto_server), iam_pg)
    # Session credentials make tokens longer than pam_exec's 511-byte limit.
    assert "X-Amz-Security-Token=" in password and len(password) > 511

    def login() -> None:
        with connect(iam_pg, password) as conn:
            row = conn.execute(
                "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            ).fetchall()[0]
        assert row == (DB_USER, True)

    lines = capture.during(login, until="disconnection")
    assert any('connection authenticated: identity="pgmonitor" method=pam' in x for x in lines)
    assert iam_pg.decisions()[-1]["ok"] is True


def test_iam_login_token_16_minutes_old_rejected(
    iam_pg: IamPg, moto_server: MotoServer, capture: LogCapture
) -> None:
    rds = assumed_rds(moto_server)
    then = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=16)
    with mock.patch("botocore.auth.get_current_datetime", return_value=then):
        old = token(rds, iam_pg)
    assert denied(iam_pg, capture, old) == "token expired"


def test_iam_login_token_for_other_user_rejected(
    iam_pg: IamPg, moto_server: MotoServer, capture: LogCapture
) -> None:
    iam_pg.create_iam_user("app_user")
    other = token(assumed_rds(moto_server), iam_pg, user="app_user")
    assert denied(iam_pg, capture, other) == "token is for another database user"


def test_iam_login_token_for_other_host_rejected(
    iam_pg: IamPg, moto_server: MotoServer, capture: LogCapture
) -> None:
    host = "elsewhere.cluster-zzz999.us-east-1.rds.amazonaws.com"
    other = token(assumed_rds(moto_server), iam_pg, host=host)
    reason = denied(iam_pg, capture, other)
    assert reason == f"token signed for another endpoint: {host}:{iam_pg.port}"


def test_iam_login_token_with_tampered_signature_rejected(
    iam_pg: IamPg, moto_server: MotoServer, capture: LogCapture
) -> None:
    good = token(assumed_rds(moto_server), iam_pg)
    signature = good.rsplit("=", 1)[1]
    flipped = good[: -len(signature)] + ("0" if signature[0] != "0" else "1") + signature[1:]
    assert denied(iam_pg, capture, flipped) == "signature does not match"


def test_iam_login_wrong_ca_rejected_before_auth(
    iam_pg: IamPg, moto_server: MotoServer, capture: LogCapture
) -> None:
    password = token(assumed_rds(moto_server), iam_pg)
    before = len(iam_pg.decisions())

    def attempt() -> None:
        with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
            connect(iam_pg, password, ca=iam_pg.pki.other_ca_cert).close()

    capture.during(attempt, until="could not accept SSL connection")
    # The token never reached the server: TLS failed first.
    assert len(iam_pg.decisions()) == before


def test_iam_login_wrong_host_name_fails_tls(iam_pg: IamPg, moto_server: MotoServer) -> None:
    password = token(assumed_rds(moto_server), iam_pg, host="not-in-san.example.com")
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        psycopg.connect(
            host="not-in-san.example.com",
            hostaddr="127.0.0.1",
            port=iam_pg.port,
            user=DB_USER,
            password=password,
            sslmode="verify-full",
            sslrootcert=str(iam_pg.pki.ca_cert),
            connect_timeout=5,
        ).close()


def test_iam_login_fixture_matches_server(capture: LogCapture) -> None:
    """Runs last in this module: the saved fixture is exactly what the server wrote."""
    assert len(capture.captured) >= 20, "run the whole module, not this test alone"
    if os.environ.get("PGWARDEN_REGEN_FIXTURES") == "1":
        FIXTURE.write_text("\n".join(capture.captured) + "\n", encoding="utf-8")
    saved = FIXTURE.read_text(encoding="utf-8").splitlines()
    assert [normalise(x) for x in saved] == [normalise(x) for x in capture.captured]
