"""The README's "small but complete" config, run against the sandbox: it ingests logs."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.config import validate
from monitor.outputs.policies import documents
from monitor.sandbox.aws import Account
from monitor.stages import run_once
from monitor.store.sqlite import Store
from tests.conftest import MotoServer

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> dict[str, Any]:
    text = README.read_text(encoding="utf-8").split("A small but complete one", 1)[1]
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None, "README: the small example's toml block is gone"
    return tomllib.loads(block.group(1))


def test_readme_small_example_discovers_and_ingests_logs(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = readme_example()
    account_id = raw["accounts"][0]["id"]
    # Only what points at real infrastructure changes: the AWS endpoint and the paths.
    raw["aws"]["endpoint_url"] = moto_server.url
    raw["store"]["path"] = str(tmp_path / "pgwarden.db")
    raw["reports"]["dir"] = str(tmp_path / "reports")
    monkeypatch.setenv("PGWARDEN_EXTERNAL_ID_PROD", "readme-example")
    config = validate(raw)
    assert "pglogs" not in raw  # the example relies on the default: CloudWatch Logs

    moto_server.reset()
    account = Account(moto_server.sandbox, account_id)
    account.create_cluster("orders", 5432)  # tagged pgwarden=monitor, as the example selects
    now = datetime.now(UTC)
    prefix = f"{now:%Y-%m-%d %H:%M:%S} UTC:10.20.0.9(40112):"
    received = "LOG:  connection received: host=10.20.0.9 port=40112"
    account.ship_logs(
        "orders",
        "orders-1",
        [
            f"{prefix}[unknown]@[unknown]:[311]:{received}",
            f"{prefix}app@orders:[311]:LOG:  pam_authenticate failed: Permission denied",
            f'{prefix}app@orders:[311]:FATAL:  PAM authentication failed for user "app"',
        ],
    )
    (report,) = run_once(config, ["pglogs"])
    assert report.failures == 0, report.rows
    with Store.open(config.store.path, writer=False) as store:
        stored = store.conn.execute(
            "SELECT target, coalesce(user, ''), kind FROM auth_events ORDER BY time, id"
        ).fetchall()
    target = f"prod-data/{config.aws.region}/orders"
    assert stored == [(target, "", "connection_received"), (target, "app", "auth_failed")]
    # And its least-privilege policies can be generated as they stand.
    trust = documents(config)["monitor-trust-policy"]["Statement"][0]
    assert trust["Principal"] == {"AWS": raw["aws"]["runner_role_arn"]}
