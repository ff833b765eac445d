"""The doctor's pure parts: rendering, judges, fixes, and the runner's isolation. RDS calls
moto lacks (a default parameter group's values) go through botocore's Stubber."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from monitor.config import validate
from monitor.doctor.accounts import principal_arn
from monitor.doctor.checks import CheckResult, DoctorContext, Outcome, fail, groups, ok, run_doctor
from monitor.doctor.database import ServerFacts, judge_tls, judge_version, login_fix
from monitor.doctor.rds import DbFacts, describe_db, judge_parameter, read_parameters
from monitor.doctor.render import render_table
from monitor.sources.targets import Target

REPO = Path(__file__).resolve().parents[2]
POLICY_FIX = (
    "aws iam put-role-policy --role-name pg-monitor-role --policy-name pgwarden-connect "
    """--policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"""
    """["rds-db:connect"],"Resource":"arn:aws:rds-db:us-east-1:222222222222:dbuser:"""
    """cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ/pgmonitor"}]}'"""
)
TARGET = Target(
    name="orders-writer",
    account_id="222222222222",
    account_name="prod",
    region="us-east-1",
    endpoint="orders.cluster-abc123.us-east-1.rds.amazonaws.com",
    endpoint_type="cluster",
    port=5432,
    database="postgres",
    db_user="pgmonitor",
    cluster_id="orders",
)


def results() -> list[CheckResult]:
    return [
        CheckResult("accounts", "prod", "assume-role", "ok", "assumed arn:aws:iam::2:role/x"),
        CheckResult(
            "database",
            "a-target-name-much-longer-than-the-column",
            "login",
            "fail",
            'connection failed: FATAL: PAM authentication failed for user "pgmonitor"\x1b[2J',
            POLICY_FIX,
        ),
        CheckResult("database", "t", "roles", "fail", "lacks", 'GRANT pg_monitor TO "x";' * 9),
        CheckResult("rds", "t", "rds.force_ssl", "warn", "not set", "aws rds modify " + "x " * 80),
    ]


@pytest.mark.parametrize("width", [60, 80, 100, 140])
def test_render_fits_width_and_keeps_each_fix_whole(width: int) -> None:
    lines = render_table(results(), width)
    assert max(len(line) for line in lines) <= width, lines
    text = "\n".join(lines)
    flat = "".join(re.sub(r"\s+\\\n", "\n", text).replace("    fix: ", "").split())
    for r in results():
        assert "".join(r.fix.split()) in flat
    assert lines[-1] == "2 failed, 1 warnings, 1 ok"
    assert "\x1b" not in text and "\\x1b[2J" in text
    assert "a-target-name-much-…" in text


def test_render_wraps_shell_fixes_so_they_paste_back() -> None:
    lines = render_table(results(), 80)
    start = next(i for i, line in enumerate(lines) if line.startswith("    fix: aws iam"))
    block = [lines[start][9:]]
    block += [line[9:] for line in lines[start + 1 :] if line.startswith(" " * 9)][:10]
    block = block[: next(i for i, part in enumerate(block) if part.endswith("'")) + 1]
    assert len(block) > 2
    # A shell reads ` \` + newline as a space; inside the quotes a newline is JSON's space.
    pasted = "".join(part[:-2] + " " if part.endswith(" \\") else part for part in block)
    assert pasted == POLICY_FIX


def test_judge_version_warns_before_14() -> None:
    facts = ServerFacts("pgmonitor", True, True, True, "%t:", "13.12", 130012, 0, 0)
    db = DbFacts("cluster", "orders", "us-east-1", "aurora-postgresql", "13.12", True, (), "g")
    outcome = judge_version(facts, db)
    assert outcome.status == "warn" and "connection authenticated" in outcome.found
    assert outcome.fix.startswith(
        "aws rds modify-db-cluster --region us-east-1 --db-cluster-identifier orders "
        "--engine-version NEW_VERSION"
    )
    newer = replace(facts, server_version="15.4", server_version_num=150004)
    assert judge_version(newer, db) == ok("PostgreSQL 15.4")


def test_login_fix_by_libpq_message() -> None:
    db = DbFacts(
        "cluster", "orders", "us-east-1", "aurora-postgresql", "15.4", True, (), "g",
        "cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ", ("sg-0123456789abcdef0",),
    )  # fmt: skip
    timeout = login_fix("connection timeout expired", TARGET, db, None, None)
    assert timeout == (
        "aws ec2 authorize-security-group-ingress --region us-east-1 --group-id "
        "sg-0123456789abcdef0 --protocol tcp --port 5432 --cidr THIS_HOST_IP/32"
    )
    pam = 'FATAL: PAM authentication failed for user "pgmonitor"'
    assert login_fix(pam, TARGET, db, db.resource_id, None) == POLICY_FIX
    password = 'FATAL: password authentication failed for user "pgmonitor"'
    assert login_fix(password, TARGET, db, None, None) == 'GRANT rds_iam TO "pgmonitor";'
    other = login_fix("server closed the connection unexpectedly", TARGET, db, None, None)
    assert other.startswith("PGPASSWORD=$(aws rds generate-db-auth-token --region us-east-1")


def test_principal_arn_names_the_role_behind_a_session() -> None:
    session = "arn:aws:sts::111111111111:assumed-role/pgwarden-host/i-0abc"
    assert principal_arn(session) == "arn:aws:iam::111111111111:role/pgwarden-host"
    user = "arn:aws:iam::111111111111:user/ops"
    assert principal_arn(user) == user


def test_default_parameter_group_fix_makes_and_attaches_a_custom_one() -> None:
    """moto cannot describe default groups; these responses are shaped as RDS sends them."""
    import boto3
    from botocore.stub import Stubber

    rds = boto3.client("rds", region_name="us-east-1")
    cluster = {
        "DBClusterIdentifier": "orders",
        "Engine": "aurora-postgresql",
        "EngineVersion": "15.4",
        "IAMDatabaseAuthenticationEnabled": True,
        "EnabledCloudwatchLogsExports": ["postgresql"],
        "DBClusterParameterGroup": "default.aurora-postgresql15",
        "DbClusterResourceId": "cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "VpcSecurityGroups": [{"VpcSecurityGroupId": "sg-0123456789abcdef0", "Status": "active"}],
    }
    engine_default = {
        "Source": "engine-default",
        "ApplyType": "dynamic",
        "DataType": "boolean",
        "AllowedValues": "0,1",
        "IsModifiable": True,
        "ApplyMethod": "pending-reboot",
    }
    with Stubber(rds) as stub:
        stub.add_response(
            "describe_db_clusters", {"DBClusters": [cluster]}, {"DBClusterIdentifier": "orders"}
        )
        stub.add_response(
            "describe_db_cluster_parameters",
            {
                "Parameters": [
                    {"ParameterName": "log_connections", **engine_default},
                    {"ParameterName": "log_disconnections", **engine_default},
                ],
                "Marker": "page-2",
            },
            {"DBClusterParameterGroupName": "default.aurora-postgresql15"},
        )
        stub.add_response(
            "describe_db_cluster_parameters",
            {"Parameters": [{"ParameterName": "rds.force_ssl", "ParameterValue": "1",
                             **engine_default, "Source": "system"}]},
            {"DBClusterParameterGroupName": "default.aurora-postgresql15", "Marker": "page-2"},
        )  # fmt: skip
        db = describe_db(rds, "cluster", "orders", "us-east-1")
        values = read_parameters(rds, db)
    assert values == {"log_connections": None, "log_disconnections": None, "rds.force_ssl": "1"}
    assert judge_parameter(db, values, "rds.force_ssl").status == "ok"
    outcome = judge_parameter(db, values, "log_disconnections")
    assert outcome.status == "fail"
    assert outcome.fix == (
        "aws rds create-db-cluster-parameter-group --region us-east-1 "
        "--db-cluster-parameter-group-name pgwarden-aurora-postgresql15 "
        "--db-parameter-group-family aurora-postgresql15 --description pgwarden-logging && "
        "aws rds modify-db-cluster-parameter-group --region us-east-1 "
        "--db-cluster-parameter-group-name pgwarden-aurora-postgresql15 --parameters "
        "ParameterName=log_connections,ParameterValue=1,ApplyMethod=immediate "
        "ParameterName=log_disconnections,ParameterValue=1,ApplyMethod=immediate && "
        "aws rds modify-db-cluster --region us-east-1 --db-cluster-identifier orders "
        "--db-cluster-parameter-group-name pgwarden-aurora-postgresql15 --apply-immediately"
    )


def test_a_check_that_raises_is_its_own_row_and_the_next_runs(tmp_path: Path) -> None:
    config = validate({"store": {"path": str(tmp_path / "p.db")}})
    ctx = DoctorContext(config, aws=Any, clock=Any, targets=[])  # type: ignore[arg-type]

    def broken() -> Outcome:
        raise RuntimeError("a bug")

    ctx.attempt("g", "s", "first", broken)
    ctx.attempt("g", "s", "second", lambda: ok("fine"))
    first, second = ctx.results
    assert (first.status, first.found) == ("fail", "RuntimeError: a bug")
    assert first.fix == "pgwarden --log-level DEBUG doctor logs the traceback"
    assert second.status == "ok"
    ctx.block("k", "it broke", "the g s first row")
    assert ctx.skip_if_blocked("g", "s", ["third"], "other", "k")
    assert ctx.results[-1] == CheckResult(
        "g", "s", "third", "fail", "not checked: it broke", "fix the g s first row first"
    )
    assert not ctx.skip_if_blocked("g", "s", ["fourth"], "other")
    assert fail("x", "y").fix == "y"


def test_a_group_that_raises_is_reported_and_the_others_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.doctor import checks

    config = validate(
        {
            "store": {"path": str(tmp_path / "p.db")},
            "cloudtrail": {"enabled": False},
            "pglogs": {"enabled": False},
        }
    )
    ctx = DoctorContext(config, aws=Any, clock=Any, targets=[])  # type: ignore[arg-type]
    spec = next(s for s in groups() if s.name == "store")

    def broken(ctx: DoctorContext) -> None:
        raise KeyError("store")

    monkeypatch.setitem(
        checks.GROUPS._entries, "store", checks.GroupSpec("store", broken, spec.checks)
    )
    rows = run_doctor(ctx)
    assert rows[0] == CheckResult(
        "store", "-", "group", "fail", "KeyError: 'store'",
        "pgwarden --log-level DEBUG doctor logs the traceback",
    )  # fmt: skip
    assert {r.group for r in rows} == {"store", "cloudtrail", "logs", "slack"}


def test_readme_lists_every_doctor_check() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## pgwarden doctor", 1)[1].split("\n## ", 1)[0]
    for spec in groups():
        for check in spec.checks:
            assert f"`{check}`" in section, (spec.name, check)


def test_judge_tls_marks_insecure_tls_failed_with_the_fix() -> None:
    base = Target(
        name="orders", account_id="222222222222", account_name="prod", region="us-east-1",
        endpoint="orders.cluster-abc.us-east-1.rds.amazonaws.com", endpoint_type="cluster",
        port=5432, database="postgres", db_user="pgmonitor",
    )  # fmt: skip
    assert judge_tls(base).status == "ok"
    outcome = judge_tls(replace(base, insecure_tls=True))
    assert outcome.status == "fail" and "verify-ca" in outcome.found
    assert "remove insecure_tls from the orders target" in outcome.fix


def test_judge_log_forgery_says_which_setup_resists() -> None:
    from monitor.doctor.database import judge_log_forgery

    rds = ServerFacts("pgmonitor", True, True, True, "%t:%r:%u@%d:[%p]:", "15.4", 150004, 0, 0)
    outcome = judge_log_forgery(rds, "stderr")
    assert outcome.status == "ok"
    assert "%d, %u" in outcome.found and "refused as evidence" in outcome.found
    assert "log_destination = 'stderr,csvlog'" in outcome.found
    both = replace(rds, log_destination="stderr,csvlog")
    assert judge_log_forgery(both, "csvlog").status == "ok"
    unread = judge_log_forgery(both, "stderr")
    assert unread.status == "warn" and unread.fix.startswith('format = "csvlog"')
    names_first = replace(rds, log_line_prefix="%u@%d %m [%p] ")
    late = judge_log_forgery(names_first, "stderr")
    assert late.status == "warn" and "cannot be traced" in late.found
    plain = replace(rds, log_line_prefix="%m [%p] ")
    assert "no client-chosen value" in judge_log_forgery(plain, "stderr").found
