"""`pgwarden doctor` against real parts: the IAM-login PostgreSQL, the moto server and the
local Slack server. One healthy setup passes everything; each other test breaks it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.doctor.checks import groups
from monitor.doctor.rds import DB_CHECKS
from monitor.sandbox.pam import IamPg
from monitor.sandbox.tls import FAKE_RDS_HOSTS
from tests.conftest import MotoServer
from tests.support.activity import ACCOUNT_B, target_table
from tests.support.doctor import (
    ACCOUNT,
    PARAMETER_GROUP,
    REGION,
    create_cluster,
    create_proxy,
    row,
    run,
    to_toml,
)

pytestmark = pytest.mark.integration

RunCli = Callable[..., Any]


@pytest.fixture
def setup(doctor_setup: dict[str, Any]) -> dict[str, Any]:
    return doctor_setup


def test_doctor_all_green(setup: dict[str, Any]) -> None:
    results = run(setup)
    assert [r for r in results if r.status != "ok"] == []
    checked = {(r.group, r.check) for r in results}
    # Everything but the rows that only appear when something is off or disabled. The
    # healthy setup has no RDS Proxy: test_discovery_proxies.py checks the proxies rows.
    for spec in groups():
        if spec.name == "proxies":
            assert not any(r.group == "proxies" for r in results)
            continue
        expected = set(spec.checks) - {"enabled", "local-files"}
        assert {(spec.name, c) for c in expected} <= checked, spec.name
    assert "PostgreSQL 15" in row(results, "database", "version").found
    assert "scanned" in row(results, "cloudtrail", "probe").found


def test_doctor_cli_table_fits_100_columns_and_fixes_stay_whole(
    setup: dict[str, Any], iam_pg: IamPg, run_cli: RunCli, tmp_path: Path
) -> None:
    from monitor.aws import AwsSessions
    from monitor.config import validate

    setup["accounts"].append({"id": ACCOUNT_B, "name": "analytics", "role_arn": role(ACCOUNT_B)})
    # A cluster with nothing set up: its fixes are the longest shell commands there are.
    rds = AwsSessions.from_config(validate(setup)).client("rds", REGION, ACCOUNT_B)
    create_cluster(rds, "reporting", "reporting")
    setup["targets"].append(
        target_table(
            iam_pg,
            "reporting-replica-with-a-long-name",
            cluster_id="reporting",
            account="analytics",
        )
    )
    # Refused by the PAM check (tokens for us-east-1 only): its fix is a policy document.
    setup["targets"].append(
        target_table(iam_pg, "denied", endpoint=FAKE_RDS_HOSTS[4], region="eu-west-1")
    )
    config = tmp_path / "pgwarden.toml"
    config.write_text(to_toml(setup), encoding="utf-8")
    table = run_cli("doctor", "--config", str(config), env={"COLUMNS": "100"})
    as_json = run_cli("doctor", "--config", str(config), "--format", "json")
    assert table.returncode == as_json.returncode == 1, table.stderr
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, [x for x in lines if len(x) > 100]
    rows = json.loads(as_json.stdout)
    count = {s: sum(r["status"] == s for r in rows) for s in ("fail", "warn", "ok")}
    assert lines[-1] == f"{count['fail']} failed, {count['warn']} warnings, {count['ok']} ok"
    assert count["fail"] >= 10 and count["warn"] >= 2
    assert {tuple(r) for r in rows} == {("group", "subject", "check", "status", "found", "fix")}
    fixes = [r["fix"] for r in rows if r["status"] != "ok"]
    assert fixes and all(fixes)
    # Every fix is in the table whole: joined back without the wrapping, it is all there.
    flat = re.sub(r"\s+\\\n", "\n", table.stdout)
    flat = "".join(flat.replace("    fix: ", "").split())
    for fix in fixes:
        assert "".join(fix.split()) in flat, fix
    # A JSON argument was long enough to be wrapped inside its quotes.
    assert any(line.strip().startswith(",") for line in lines), table.stdout


def test_doctor_cli_warnings_alone_exit_0(
    setup: dict[str, Any], run_cli: RunCli, tmp_path: Path
) -> None:
    setup["cloudtrail"] = {"enabled": False}
    setup["pglogs"] = {"enabled": False}
    setup["alerts"]["slack"]["enabled"] = False
    config = tmp_path / "pgwarden.toml"
    config.write_text(to_toml(setup), encoding="utf-8")
    result = run_cli("doctor", "--config", str(config), "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(result.stdout)
    warned = {(r["group"], r["check"]): r["fix"] for r in rows if r["status"] == "warn"}
    assert warned == {
        ("cloudtrail", "enabled"): "enabled = true",
        ("logs", "enabled"): "enabled = true  # in [pglogs]",
        ("slack", "enabled"): "enabled = true",
    }
    assert all(r["status"] == "ok" for r in rows if r["status"] != "warn")


def test_doctor_cli_unknown_target_exit_2(
    setup: dict[str, Any], run_cli: RunCli, tmp_path: Path
) -> None:
    config = tmp_path / "pgwarden.toml"
    config.write_text(to_toml(setup), encoding="utf-8")
    result = run_cli("doctor", "--config", str(config), "--target", "nope")
    assert result.returncode == 2
    assert result.stderr.strip() == "--target nope: no such target; known: demo"


def role(account: str) -> str:
    return f"arn:aws:iam::{account}:role/pg-monitor-role"


def test_doctor_accounts_rows_fail_with_their_fixes(
    setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGW_DOCTOR_EXT_ID", raising=False)
    setup["accounts"] += [
        {
            "id": ACCOUNT_B,
            "name": "analytics",
            "role_arn": role(ACCOUNT_B),
            "external_id": "env:PGW_DOCTOR_EXT_ID",
        },
        # No role: the source credentials (moto's default account) are used as they are.
        {"id": "444444444444", "name": "legacy"},
    ]
    setup["targets"].append(target_table_for("analytics-db", "analytics"))
    results = run(setup)
    assume = row(results, "accounts", "assume-role", "analytics")
    assert assume.status == "fail" and "PGW_DOCTOR_EXT_ID is not set" in assume.found
    assert assume.fix == "export PGW_DOCTOR_EXT_ID=EXTERNAL_ID_FROM_THE_ROLE_TRUST_POLICY"
    # What depends on the account says so, once, instead of failing on its own.
    for group, check in (("accounts", "caller-identity"), ("rds", "exists"), ("database", "login")):
        skipped = row(results, group, check, "analytics" if group == "accounts" else "analytics-db")
        assert skipped.status == "fail"
        assert skipped.found == "not checked: account analytics has no credentials"
        assert skipped.fix == "fix the accounts analytics assume-role row first"
    legacy = row(results, "accounts", "caller-identity", "legacy")
    assert legacy.status == "fail"
    assert "in account 123456789012" in legacy.found and "not 444444444444" in legacy.found
    assert legacy.fix.startswith('role_arn = "arn:aws:iam::444444444444:role/pg-monitor-role"')
    assert row(results, "accounts", "assume-role", "prod").status == "ok"


def target_table_for(name: str, account: str) -> dict[str, Any]:
    return {
        "name": name,
        "account": account,
        "cluster_id": name,
        "endpoint": FAKE_RDS_HOSTS[0],
        "hostaddr": "127.0.0.1",
    }


def test_doctor_rds_rows_fail_with_their_fixes(
    setup: dict[str, Any], moto_server: MotoServer, iam_pg: IamPg
) -> None:
    from monitor.aws import AwsSessions
    from monitor.config import validate

    aws = AwsSessions.from_config(validate(setup))
    rds = aws.client("rds", REGION, ACCOUNT)
    create_cluster(rds, "bare", "bare")
    create_cluster(
        rds,
        "half",
        PARAMETER_GROUP,
        EnableIAMDatabaseAuthentication=True,
        EnableCloudwatchLogsExports=["postgresql"],
    )
    secret = create_proxy(aws, "DISABLED")
    setup["targets"] += [
        target_table(iam_pg, "bare", cluster_id="bare"),
        target_table(iam_pg, "half", cluster_id="half"),
        target_table(iam_pg, "gone", cluster_id="gone"),
        target_table(
            iam_pg,
            "proxy",
            cluster_id=None,
            proxy_name="demo-proxy",
            endpoint_type="proxy",
            endpoint=FAKE_RDS_HOSTS[3],
        ),
    ]
    setup["targets"] = [{k: v for k, v in t.items() if v is not None} for t in setup["targets"]]
    results = run(setup, "bare", "half", "gone", "proxy", aws=aws)

    iam = row(results, "rds", "iam-auth", "bare")
    assert iam.status == "fail"
    assert iam.fix == (
        "aws rds modify-db-cluster --region us-east-1 --db-cluster-identifier bare "
        "--enable-iam-database-authentication --apply-immediately"
    )
    exports = row(results, "rds", "log-export", "bare")
    assert exports.status == "fail" and "exports none" in exports.found
    assert exports.fix == (
        "aws rds modify-db-cluster --region us-east-1 --db-cluster-identifier bare "
        "--cloudwatch-logs-export-configuration "
        """'{"EnableLogTypes":["postgresql","iam-db-auth-error"]}' --apply-immediately"""
    )
    half = row(results, "rds", "log-export", "half")
    assert half.status == "warn" and "iam-db-auth-error" in half.found
    assert """'{"EnableLogTypes":["iam-db-auth-error"]}'""" in half.fix
    for parameter, status in (
        ("log_connections", "fail"),
        ("log_disconnections", "fail"),
        ("rds.force_ssl", "warn"),
    ):
        found = row(results, "rds", parameter, "bare")
        assert found.status == status and f"{parameter} = (not set)" in found.found
        assert found.fix == (
            "aws rds modify-db-cluster-parameter-group --region us-east-1 "
            f"--db-cluster-parameter-group-name bare --parameters "
            f"ParameterName={parameter},ParameterValue=1,ApplyMethod=immediate"
        )
    gone = row(results, "rds", "exists", "gone")
    assert gone.status == "fail" and "cluster gone not found" in gone.found
    assert "bare" in gone.found and "set cluster_id" in gone.fix
    assert row(results, "rds", "iam-auth", "gone").found.startswith("not checked: gone not found")

    # The proxy is judged once, in the proxies group; the rds group checks no proxy.
    assert {r.check for r in results if r.group == "rds" and r.subject == "proxy"} == {
        "exists",
        *DB_CHECKS,
    }
    assert row(results, "rds", "exists", "proxy").found == "proxy demo-proxy in prod us-east-1"
    proxy_auth = row(results, "proxies", "iam-auth", "proxy demo-proxy")
    assert proxy_auth.status == "fail" and "IAMAuth DISABLED" in proxy_auth.found
    assert proxy_auth.fix == (
        "aws rds modify-db-proxy --region us-east-1 --db-proxy-name demo-proxy --auth "
        f"""'[{{"AuthScheme":"SECRETS","SecretArn":"{secret}","IAMAuth":"REQUIRED"}}]'"""
    )
    proxy_target = row(results, "proxies", "fronts", "proxy demo-proxy")
    assert proxy_target.status == "fail"
    assert proxy_target.fix.startswith(
        "aws rds register-db-proxy-targets --region us-east-1 --db-proxy-name demo-proxy"
    )
    skipped = row(results, "rds", "log-export", "proxy")
    assert skipped.found == "not checked: proxy demo-proxy has no target"
    assert skipped.fix == "fix the proxies proxy demo-proxy fronts row first"


@pytest.mark.parametrize(
    ("iam_auth", "expected"), [("DISABLED", "fail"), ("ENABLED", "warn"), ("REQUIRED", "ok")]
)
def test_doctor_judges_a_proxy_targets_iam_auth_once(
    setup: dict[str, Any], moto_server: MotoServer, iam_pg: IamPg, iam_auth: str, expected: str
) -> None:
    """pgwarden logs in through the proxy with an IAM token: DISABLED refuses it (fail),
    ENABLED also lets passwords in (warn). One row says so, in the proxies group; the rds
    group checks the cluster registered behind the proxy."""
    from monitor.aws import AwsSessions
    from monitor.config import validate

    aws = AwsSessions.from_config(validate(setup))
    create_proxy(aws, iam_auth)
    rds = aws.client("rds", REGION, ACCOUNT)
    rds.register_db_proxy_targets(DBProxyName="demo-proxy", DBClusterIdentifiers=["demo"])
    logs = aws.client("logs", REGION, ACCOUNT)  # the proxy has written its log lately
    logs.create_log_group(logGroupName="/aws/rds/proxy/demo-proxy")
    logs.create_log_stream(logGroupName="/aws/rds/proxy/demo-proxy", logStreamName="p-1")
    logs.put_log_events(
        logGroupName="/aws/rds/proxy/demo-proxy",
        logStreamName="p-1",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "proxy line"}],
    )
    setup["targets"] = [
        target_table(
            iam_pg,
            "proxy",
            proxy_name="demo-proxy",
            endpoint_type="proxy",
            endpoint=FAKE_RDS_HOSTS[3],
        )
    ]
    del setup["targets"][0]["cluster_id"]
    setup["pglogs"]["files"] = []  # they were the cluster target's
    results = run(setup, aws=aws)
    rds_rows = {r.check: r for r in results if r.group == "rds"}
    assert {c: r.status for c, r in rds_rows.items()} == dict.fromkeys(("exists", *DB_CHECKS), "ok")
    assert rds_rows["exists"].found.startswith(
        "proxy demo-proxy in front of aurora-postgresql 15.4 cluster demo"
    )
    assert not any("IAMAuth" in r.found for r in results if r.group != "proxies")
    failed = [(r.check, r.status) for r in results if r.group == "proxies" and r.status == "fail"]
    assert failed == ([("iam-auth", "fail")] if expected == "fail" else [])
    auth = row(results, "proxies", "iam-auth", "proxy demo-proxy")
    assert auth.status == expected and f"IAMAuth {iam_auth}" in auth.found
    if expected == "fail":
        assert "pgwarden logs in through this proxy as pgmonitor with an IAM token" in auth.found
    assert row(results, "database", "login").status == "ok"


def test_doctor_database_rows_fail_with_their_fixes(setup: dict[str, Any], iam_pg: IamPg) -> None:
    import psycopg

    with psycopg.connect(iam_pg.server.dsn(), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS doctor_plain")
        conn.execute("CREATE ROLE doctor_plain LOGIN")
        # Another user's session for doctor_plain to (not) see.
        with psycopg.connect(iam_pg.server.dsn()) as other:
            other.execute("SELECT 1")
            setup["targets"] += [
                target_table(iam_pg, "plain", db_user="doctor_plain"),
                target_table(iam_pg, "wrong-ca", ca_bundle=str(iam_pg.pki.other_ca_cert)),
                target_table(iam_pg, "no-role", db_user="doctor_nobody"),
                # The PAM check wants tokens signed for us-east-1: this one is eu-west-1's.
                target_table(iam_pg, "denied", endpoint=FAKE_RDS_HOSTS[4], region="eu-west-1"),
            ]
            setup["pglogs"]["log_line_prefix"] = "%m [%p] "
            results = run(setup, "plain", "wrong-ca", "no-role", "denied")

    roles = row(results, "database", "roles", "plain")
    assert roles.status == "fail" and "lacks rds_iam and pg_monitor" in roles.found
    assert roles.fix == 'GRANT rds_iam TO "doctor_plain"; GRANT pg_monitor TO "doctor_plain";'
    seen = row(results, "database", "client_addr", "plain")
    assert seen.status == "fail" and "client_addr NULL" in seen.found
    assert re.search(r"\b[1-9]\d* of [1-9]\d* other users' sessions", seen.found), seen.found
    assert seen.fix == 'GRANT pg_monitor TO "doctor_plain";'
    prefix = row(results, "database", "log_line_prefix", "plain")
    assert prefix.status == "fail"
    assert prefix.fix == 'log_line_prefix = "%t:%r:%u@%d:[%p]:"  # in [pglogs]'

    wrong_ca = row(results, "database", "login", "wrong-ca")
    assert wrong_ca.status == "fail" and "certificate verify failed" in wrong_ca.found
    assert wrong_ca.fix.startswith("curl -fsSo ")
    assert wrong_ca.fix.endswith(
        "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
    )
    assert row(results, "database", "roles", "wrong-ca").fix == (
        "fix the database wrong-ca login row first"
    )
    no_role = row(results, "database", "login", "no-role")
    assert no_role.status == "fail"
    assert no_role.fix == (
        'CREATE ROLE "doctor_nobody" LOGIN; GRANT rds_iam, pg_monitor TO "doctor_nobody";'
    )
    denied = row(results, "database", "login", "denied")
    assert denied.status == "fail" and "PAM authentication failed" in denied.found
    assert denied.fix.startswith(
        "aws iam put-role-policy --role-name pg-monitor-role --policy-name pgwarden-connect"
    )
    assert f"arn:aws:rds-db:eu-west-1:{ACCOUNT}:dbuser:RESOURCE_ID/pgmonitor" in denied.fix
