"""Every stage on discovered targets: log reads through discovery alone, with real parts.

moto holds the accounts, their clusters and instances and their log groups; the story's
PostgreSQL (PAM checking IAM tokens, TLS) writes the log lines that RDS would export.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config, validate
from monitor.sandbox.aws import Account, role_arn
from monitor.stages import run_once
from monitor.store.sqlite import Store
from tests.conftest import MotoServer, require

pytestmark = pytest.mark.integration

ACCOUNT = "555555555555"
ROLE = role_arn(ACCOUNT, "pg-monitor-role")
EXTERNAL_ID_ENV = "PGW_TEST_DISCOVERY_EXTERNAL_ID"


def discovery_config(tmp_path: Path, moto: MotoServer, **extra: Any) -> Config:
    """An account whose databases are discovered by tag, and no [[targets]] at all."""
    raw: dict[str, Any] = {
        "store": {"path": str(tmp_path / "pgwarden.db")},
        "aws": {"endpoint_url": moto.url},
        "accounts": [
            {
                "id": ACCOUNT,
                "name": "prod",
                "role_arn": ROLE,
                "external_id": f"env:{EXTERNAL_ID_ENV}",
                "discover": True,
                "discover_tags": {"pgwarden": "monitor"},
            }
        ],
        "pglogs": {"sources": ["cloudwatch"]},
        "cloudtrail": {"enabled": False},
        **extra,
    }
    return validate(raw)


def events(path: Path) -> Counter[tuple[str, str, str]]:
    with Store.open(path, writer=False) as store:
        rows = store.conn.execute("SELECT target, user, kind FROM auth_events").fetchall()
    return Counter((t, u or "", k) for t, u, k in rows)


def rds_line(moment: datetime, pid: int, user: str, message: str) -> str:
    """A line as RDS's default log_line_prefix writes it (`%t:%r:%u@%d:[%p]:`)."""
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC:10.0.3.7(51234):{user}@postgres:[{pid}]:{message}"


def test_discovery_only_scenario_reads_every_auth_event_and_finds_burst_and_password(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's scenario: discovery alone must not mean silence."""
    from monitor.sandbox.pam import pam_available
    from monitor.sandbox.pg import find_pg_bindir
    from monitor.sandbox.story import ACCOUNTS, BURST, build_account

    missing = pam_available()
    require(missing is None, missing or "")
    bindir = find_pg_bindir()
    require(bindir is not None, "PostgreSQL server binaries are not installed")
    assert bindir is not None
    moto_server.reset()
    monkeypatch.setenv(EXTERNAL_ID_ENV, "discovery-test")
    spec = replace(ACCOUNTS[0], account_id=ACCOUNT)
    with contextlib.ExitStack() as stack:
        # The postgres user must reach the data directory: not under pytest's 0700 tmp.
        workdir = Path(tempfile.mkdtemp(prefix="pgwarden-discovery-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        workdir.chmod(0o711)
        built = build_account(
            stack, moto_server.sandbox, spec, bindir, workdir,
            tls=True, pam=True, external_id="discovery-test",
        )  # fmt: skip
        config = discovery_config(
            tmp_path, moto_server, detectors={"password-login": {"iam_only": True}}
        )
        reports = {r.stage: r for r in run_once(config, ["pglogs", "detect"])}
    assert built.log_events > 0
    assert reports["pglogs"].failures == 0, reports["pglogs"].rows
    name = f"prod/us-east-1/{spec.cluster_id}"
    got = events(config.store.path)
    # Every event is the discovered cluster's; per user, exactly what the story did.
    assert {t for t, _, _ in got} == {name}
    # The superuser also made the sandbox's roles and grants (a connection each): only its
    # held-open psql session is the story's, so it is counted apart.
    per_user = {
        (u, k): n for (_, u, k), n in got.items() if k != "connection_received" and u != "postgres"
    }
    assert per_user == {
        ("orders_app", "auth_failed"): BURST,
        ("orders_app", "connection_authenticated"): 2,
        ("orders_app", "connection_authorized"): 2,
        ("reporting", "connection_authenticated"): 1,
        ("reporting", "connection_authorized"): 1,
        ("etl_legacy", "connection_authenticated"): 1,
        ("etl_legacy", "connection_authorized"): 1,
    }
    superuser = {k: n for (_, u, k), n in got.items() if u == "postgres"}
    assert superuser["connection_authorized"] == superuser["disconnection"] + 1
    with Store.open(config.store.path, writer=False) as store:
        findings = {
            (d, s)
            for d, s in store.conn.execute(
                "SELECT detector, subject FROM findings WHERE status = 'open'"
            ).fetchall()
        }
    assert ("failure-burst", f"{name}/user/orders_app") in findings
    assert ("failure-burst", f"{name}/host/127.0.0.1") in findings
    assert any(d == "password-login" and "etl_legacy" in s for d, s in findings), findings


def _instance(rds: Any, ident: str, **tags: str) -> None:
    rds.create_db_instance(
        DBInstanceIdentifier=ident, Engine="postgres", DBInstanceClass="db.t4g.micro",
        MasterUsername="postgres", MasterUserPassword="not-used-here", AllocatedStorage=20,
        EnableIAMDatabaseAuthentication=True,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )  # fmt: skip


def test_discovered_instance_and_a_silent_cluster_are_each_said(
    moto_server: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    moto_server.reset()
    monkeypatch.setenv(EXTERNAL_ID_ENV, "discovery-test")
    account = Account(moto_server.sandbox, ACCOUNT)
    _instance(account.client("rds"), "billing", pgwarden="monitor")
    _instance(account.client("rds"), "untagged")  # not selected by discover_tags
    account.create_cluster("quiet", 5432)  # tagged, IAM auth on, but nothing exported yet
    logs = account.client("logs")
    group = "/aws/rds/instance/billing/postgresql"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="billing")
    now = datetime.now(UTC).replace(microsecond=0)
    at = now - timedelta(seconds=30)
    lines = [
        rds_line(at, 4242, "app", "LOG:  pam_authenticate failed: Permission denied"),
        rds_line(at, 4242, "app", 'FATAL:  PAM authentication failed for user "app"'),
    ]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="billing",
        logEvents=[{"timestamp": int(now.timestamp() * 1000) - 1000, "message": m} for m in lines],
    )
    config = discovery_config(tmp_path, moto_server)
    (report,) = run_once(config, ["pglogs"])
    rows = {(r[0], r[1]): r[2] for r in report.rows}
    assert rows[("prod/us-east-1/billing", f"cloudwatch:{group}")] == "ok"
    quiet = "/aws/rds/cluster/quiet/postgresql"
    assert rows[("prod/us-east-1/quiet", f"cloudwatch:{quiet}")].startswith(f"no log group {quiet}")
    assert report.failures == 1  # `once` exits 1: a target it should have read said nothing
    # The metrics and the daemon's log say it per target too.
    assert set(report.log_sources) == {
        ("prod/us-east-1/billing", "cloudwatch", True),
        ("prod/us-east-1/quiet", "cloudwatch", False),
    }
    assert f"pglogs prod/us-east-1/quiet: no log group {quiet}" in caplog.text
    assert not any(t.startswith("prod/us-east-1/untagged") for t, _ in rows)
    assert events(config.store.path) == Counter(
        {("prod/us-east-1/billing", "app", "auth_failed"): 1}
    )


def test_discovered_cluster_with_a_configured_override_is_read_once_under_its_name(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto_server.reset()
    monkeypatch.setenv(EXTERNAL_ID_ENV, "discovery-test")
    account = Account(moto_server.sandbox, ACCOUNT)
    cluster = account.create_cluster("orders", 5432)
    now = datetime.now(UTC).replace(microsecond=0)
    account.ship_logs(
        "orders", "orders-1",
        [rds_line(now, 77, "batch", 'FATAL:  PAM authentication failed for user "batch"')],
    )  # fmt: skip
    # The same cluster, configured under its own name and reached through a private name.
    override = {
        "name": "orders-writer", "account": "prod", "cluster_id": "orders",
        "endpoint": "orders.db.internal.example.com", "port": cluster.port,
    }  # fmt: skip
    config = discovery_config(tmp_path, moto_server, targets=[override])
    (report,) = run_once(config, ["pglogs"])
    assert [r[0] for r in report.rows] == ["orders-writer", "orders-writer"]
    assert report.failures == 0
    assert events(config.store.path) == Counter({("orders-writer", "batch", "auth_failed"): 1})
    with Store.open(config.store.path, writer=False) as store:
        saved = store.conn.execute("SELECT name, resource_id, discovered FROM targets").fetchall()
    # One target, carrying the resource id discovery found (what rds-db:connect grants name).
    assert saved == [("orders-writer", cluster.resource_id, 0)]


def test_discovered_readers_are_polled_and_their_logins_are_their_clusters(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.aws import AwsSessions
    from monitor.sources.targets import collect_targets

    moto_server.reset()
    monkeypatch.setenv(EXTERNAL_ID_ENV, "discovery-test")
    account = Account(moto_server.sandbox, ACCOUNT)
    cluster = account.create_cluster("orders", 5432)
    rds = account.client("rds")
    for ident in ("orders-1", "orders-2"):  # the first member is the writer
        rds.create_db_instance(
            DBInstanceIdentifier=ident, DBClusterIdentifier="orders", Engine="aurora-postgresql",
            DBInstanceClass="db.r6g.large",
        )  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0)
    # Aurora exports the reader's log into the cluster's group, in the reader's stream.
    account.ship_logs(
        "orders", "orders-2",
        [rds_line(now, 91, "report", 'FATAL:  PAM authentication failed for user "report"')],
    )  # fmt: skip
    accounts = [
        {
            "id": ACCOUNT, "name": "prod", "role_arn": ROLE, "discover": True,
            "discover_readers": True, "external_id": f"env:{EXTERNAL_ID_ENV}",
        }
    ]  # fmt: skip
    config = discovery_config(tmp_path, moto_server, accounts=accounts)
    found = {t.name: t for t in collect_targets(config, AwsSessions.from_config(config)).targets}
    writer, reader = found["prod/us-east-1/orders"], found["prod/us-east-1/orders/orders-2"]
    assert (reader.endpoint_type, reader.cluster_id, reader.resource_id) == (
        "instance", "orders", cluster.resource_id,
    )  # fmt: skip
    assert (reader.logs_via, reader.log_sources) == (writer.name, ())
    (report,) = run_once(config, ["pglogs"])
    assert report.failures == 0
    assert {r[0] for r in report.rows} == {writer.name}  # the cluster's group, read once
    assert events(config.store.path) == Counter({(writer.name, "report", "auth_failed"): 1})
