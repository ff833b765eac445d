"""Credentials and discovery against the moto server over HTTP."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.aws import AwsSessions
from monitor.clock import FrozenClock, SystemClock
from monitor.config import validate
from monitor.errors import AssumeRoleDenied, SecretError
from monitor.sandbox.pam import IamPg
from monitor.sources.discovery import discover_account
from tests.conftest import MotoServer
from tests.support.activity import ACCOUNT_A, ACCOUNT_B, Harness, make_config, target_table

ROLE_A = f"arn:aws:iam::{ACCOUNT_A}:role/pg-monitor-role"
ROLE_B = f"arn:aws:iam::{ACCOUNT_B}:role/pg-monitor-role"


def two_accounts(**extra_b: Any) -> list[dict[str, Any]]:
    return [
        {"id": ACCOUNT_A, "name": "prod", "role_arn": ROLE_A, "external_id": "env:EXT_PROD"},
        {"id": ACCOUNT_B, "name": "analytics", "role_arn": ROLE_B, **extra_b},
    ]


def sessions_for(moto_server: MotoServer, clock: Any, **extra_b: Any) -> AwsSessions:
    config = validate(
        {"aws": {"endpoint_url": moto_server.url}, "accounts": two_accounts(**extra_b)}
    )
    return AwsSessions.from_config(config, clock=clock, hostname="mgmt host.example")


def test_aws_two_accounts_assume_and_refresh_before_expiry(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXT_PROD", "ext-id-prod")
    clock = FrozenClock(SystemClock().now())
    # moto runs in this process: let it issue expirations on the same frozen clock.
    monkeypatch.setattr(
        "moto.sts.models.utcnow", lambda: clock.now().astimezone(UTC).replace(tzinfo=None)
    )
    aws = sessions_for(moto_server, clock)
    sent: list[dict[str, Any]] = []
    aws.source().events.register(
        "provide-client-params.sts.AssumeRole", lambda params, **_: sent.append(dict(params))
    )
    ident_a = aws.client("sts", account_id=ACCOUNT_A).get_caller_identity()
    ident_b = aws.client("sts", account_id=ACCOUNT_B).get_caller_identity()
    assert ident_a["Account"] == ACCOUNT_A and ident_b["Account"] == ACCOUNT_B
    assert ident_a["Arn"].endswith("assumed-role/pg-monitor-role/pgwarden-mgmt-host.example")
    assert [(p["RoleArn"], p.get("ExternalId"), p["DurationSeconds"]) for p in sent] == [
        (ROLE_A, "ext-id-prod", 3600),
        (ROLE_B, None, 3600),
    ]
    token = aws.token_generator(ACCOUNT_A, "us-east-1")
    first_key = token("h.example", 5432, "pgmonitor").split("X-Amz-Credential=")[1][:20]
    # Cached: 40 minutes in, many tokens later, still the same role session.
    clock.advance(timedelta(minutes=40))
    for _ in range(5):
        token("h.example", 5432, "pgmonitor")
    assert aws.assume_role_calls == 2
    # 50 minutes in, 10 left (< the 15-minute advisory window): refreshed, once.
    clock.advance(timedelta(minutes=10))
    second_key = token("h.example", 5432, "pgmonitor").split("X-Amz-Credential=")[1][:20]
    clock.advance(timedelta(minutes=30))
    token("h.example", 5432, "pgmonitor")
    assert aws.assume_role_calls == 3
    assert second_key != first_key
    assert len(sent) == 3 and sent[-1]["RoleArn"] == ROLE_A


def test_aws_secret_reference_from_secrets_manager(moto_server: MotoServer) -> None:
    sm = moto_server.client("secretsmanager")
    arn = sm.create_secret(Name="pgwarden/ext-analytics", SecretString="ext-id-analytics")["ARN"]
    aws = sessions_for(moto_server, SystemClock(), external_id=arn)
    assert aws.resolve_secret(arn) == "ext-id-analytics"
    missing = arn.rsplit(":", 1)[0] + ":nope-AbCdEf"
    with pytest.raises(SecretError, match="cannot read the secret"):
        aws.resolve_secret(missing)
    with pytest.raises(SecretError, match="environment variable NOT_SET_ANYWHERE is not set"):
        aws.resolve_secret("env:NOT_SET_ANYWHERE")


def set_moto_auth(moto_server: MotoServer, count: str) -> None:
    """Enforce IAM policies in moto after `count` more requests ("0": now; "inf": never)."""
    request = urllib.request.Request(
        f"{moto_server.url}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        # A form content type would make werkzeug swallow the body moto reads.
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture
def enforced_auth(moto_server: MotoServer) -> Iterator[dict[str, str]]:
    """moto checks IAM policies from here on; the yielded keys may assume only role A."""
    iam = moto_server.client("iam")
    user = f"pgwarden-mgmt-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="assume-a",
        PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",'
            f' "Action": "sts:AssumeRole", "Resource": "{ROLE_A}"}}]}}'
        ),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]

    set_moto_auth(moto_server, "0")
    try:
        yield {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }
    finally:
        set_moto_auth(moto_server, "inf")


def test_aws_assume_role_denied_marks_only_that_account_down(
    iam_pg: IamPg,
    moto_server: MotoServer,
    tmp_path: Path,
    enforced_auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in enforced_auth.items():
        monkeypatch.setenv(name, value)
    accounts = [
        {"id": ACCOUNT_A, "name": "prod", "role_arn": ROLE_A},
        {"id": ACCOUNT_B, "name": "analytics", "role_arn": ROLE_B},
    ]
    targets = [
        target_table(iam_pg, "demo-a"),
        target_table(iam_pg, "demo-b", account="analytics"),
    ]
    config = make_config(tmp_path, moto_server.url, targets, accounts=accounts)
    h = Harness(config, SystemClock())
    try:
        results = h.poll()
        again = h.poll()
    finally:
        h.close()
    assert results["demo-a"].status == "ok", results["demo-a"].reason
    assert results["demo-b"].status == "down"
    assert results["demo-b"].reason is not None
    assert results["demo-b"].reason.startswith(
        f"account {ACCOUNT_B}: AssumeRole into {ROLE_B} denied: AccessDenied"
    )
    assert again["demo-a"].status == "ok" and again["demo-b"].status == "down"
    # The denial is remembered for a while: one AssumeRole per account, not one per poll.
    assert h.aws.assume_role_calls == 2


def test_aws_assume_role_denied_is_typed(
    moto_server: MotoServer, enforced_auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in enforced_auth.items():
        monkeypatch.setenv(name, value)
    aws = sessions_for(moto_server, SystemClock())
    with pytest.raises(AssumeRoleDenied) as denied:
        aws.token_generator(ACCOUNT_B, "us-east-1")("h.example", 5432, "pgmonitor")
    assert denied.value.account == ACCOUNT_B


def test_aws_discovery_keeps_iam_postgres_with_tags(moto_server: MotoServer) -> None:
    config = validate(
        {
            "aws": {"endpoint_url": moto_server.url},
            "accounts": [
                {
                    "id": ACCOUNT_B,
                    "name": "analytics",
                    "role_arn": ROLE_B,
                    "discover": True,
                    "discover_tags": {"pgwarden": "monitor"},
                    "regions": ["eu-west-1"],
                    "db_user": "pgmon",
                    "discover_readers": True,
                }
            ],
        }
    )
    aws = AwsSessions.from_config(config)
    rds = aws.client("rds", "eu-west-1", ACCOUNT_B)

    def cluster(
        name: str, iam: bool, tags: dict[str, str], engine: str = "aurora-postgresql"
    ) -> None:
        rds.create_db_cluster(
            DBClusterIdentifier=name,
            Engine=engine,
            MasterUsername="admin",
            MasterUserPassword="pw-not-used-123",
            EnableIAMDatabaseAuthentication=iam,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )

    cluster("orders", True, {"pgwarden": "monitor"})
    cluster("no-iam", False, {"pgwarden": "monitor"})
    cluster("untagged", True, {})
    cluster("mysql-one", True, {"pgwarden": "monitor"}, engine="aurora-mysql")
    # moto 5.2 returns one page whatever MaxRecords says, so paging itself is not shown here.
    for i in range(3):
        cluster(f"bulk-{i}", True, {"pgwarden": "monitor", "team": "x"})
    for n in range(3):  # a writer and two readers
        rds.create_db_instance(
            DBInstanceIdentifier=f"orders-{n}",
            DBInstanceClass="db.r6g.large",
            Engine="aurora-postgresql",
            DBClusterIdentifier="orders",
        )
    rds.create_db_instance(
        DBInstanceIdentifier="legacy-pg",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="pw-not-used-123",
        AllocatedStorage=20,
        EnableIAMDatabaseAuthentication=True,
        Tags=[{"Key": "pgwarden", "Value": "monitor"}],
    )
    found = {t.name: t for t in discover_account(aws, config, config.accounts[0]).targets}
    names = set(found)
    assert names == {
        "analytics/eu-west-1/orders",
        "analytics/eu-west-1/orders/orders-1",
        "analytics/eu-west-1/orders/orders-2",
        "analytics/eu-west-1/bulk-0",
        "analytics/eu-west-1/bulk-1",
        "analytics/eu-west-1/bulk-2",
        "analytics/eu-west-1/legacy-pg",
    }
    orders = found["analytics/eu-west-1/orders"]
    assert orders.endpoint_type == "cluster" and orders.cluster_id == "orders"
    assert orders.endpoint.startswith("orders.cluster-") and orders.db_user == "pgmon"
    assert orders.resource_id and orders.resource_id.startswith("cluster-")
    # Readers are servers of their own: polled on their instance endpoints, granted by the
    # cluster's resource id.
    reader = found["analytics/eu-west-1/orders/orders-1"]
    assert reader.endpoint_type == "instance" and reader.instance_id == "orders-1"
    assert reader.endpoint.startswith("orders-1.") and reader.resource_id == orders.resource_id
    legacy = found["analytics/eu-west-1/legacy-pg"]
    assert legacy.endpoint_type == "instance" and legacy.resource_id
    assert all(t.discovered and t.account_id == ACCOUNT_B for t in found.values())


def test_aws_account_profile_resolved_by_boto3(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account may name a profile (role_arn + a credential source) instead of a role."""
    config_file = tmp_path / "aws-config"
    config_file.write_text(
        f"""
[profile mgmt-static]
aws_access_key_id = testing
aws_secret_access_key = testing

[profile analytics-monitor]
role_arn = {ROLE_B}
source_profile = mgmt-static
role_session_name = pgwarden-profile
endpoint_url = {moto_server.url}
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_file))
    config = validate(
        {
            "aws": {"endpoint_url": moto_server.url},
            "accounts": [{"id": ACCOUNT_B, "name": "analytics", "profile": "analytics-monitor"}],
        }
    )
    aws = AwsSessions.from_config(config)
    ident = aws.client("sts", account_id=ACCOUNT_B).get_caller_identity()
    assert ident["Account"] == ACCOUNT_B
    assert ident["Arn"].endswith("assumed-role/pg-monitor-role/pgwarden-profile")
    assert aws.assume_role_calls == 0  # boto3 did it, not pgwarden


def test_aws_unreadable_external_id_marks_only_that_account_down(
    iam_pg: IamPg, moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGWARDEN_TEST_MISSING_EXT", raising=False)
    accounts = [
        {"id": ACCOUNT_A, "name": "prod", "role_arn": ROLE_A},
        {
            "id": ACCOUNT_B,
            "name": "analytics",
            "role_arn": ROLE_B,
            "external_id": "env:PGWARDEN_TEST_MISSING_EXT",
        },
    ]
    targets = [
        target_table(iam_pg, "demo-a"),
        target_table(iam_pg, "demo-b", account="analytics"),
    ]
    h = Harness(make_config(tmp_path, moto_server.url, targets, accounts=accounts), SystemClock())
    try:
        results = h.poll()
    finally:
        h.close()
    assert results["demo-a"].status == "ok", results["demo-a"].reason
    assert (results["demo-b"].status, results["demo-b"].reason) == (
        "down",
        "env:PGWARDEN_TEST_MISSING_EXT: environment variable PGWARDEN_TEST_MISSING_EXT is not set",
    )


def test_aws_discovery_without_readers_by_default(moto_server: MotoServer) -> None:
    account = {
        "id": ACCOUNT_B,
        "name": "analytics",
        "role_arn": ROLE_B,
        "discover": True,
        "regions": ["ap-southeast-2"],
    }
    config = validate({"aws": {"endpoint_url": moto_server.url}, "accounts": [account]})
    aws = AwsSessions.from_config(config)
    rds = aws.client("rds", "ap-southeast-2", ACCOUNT_B)
    rds.create_db_cluster(
        DBClusterIdentifier="solo",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="pw-not-used-123",
        EnableIAMDatabaseAuthentication=True,
    )
    for n in range(2):
        rds.create_db_instance(
            DBInstanceIdentifier=f"solo-{n}",
            DBInstanceClass="db.r6g.large",
            Engine="aurora-postgresql",
            DBClusterIdentifier="solo",
        )
    found = discover_account(aws, config, config.accounts[0]).targets
    assert [(t.name, t.endpoint_type) for t in found] == [
        ("analytics/ap-southeast-2/solo", "cluster")
    ]


def test_aws_denied_discovery_keeps_known_targets_down(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discovered targets don't vanish when their account's role is refused: they go down."""
    from monitor.stages import run_once

    account_d, role_d = "555555555555", "arn:aws:iam::555555555555:role/pg-monitor-role"
    config = validate(
        {
            "store": {"path": str(tmp_path / "pgwarden.db")},
            "aws": {"endpoint_url": moto_server.url},
            "accounts": [
                {
                    "id": account_d,
                    "name": "ledger",
                    "role_arn": role_d,
                    "discover": True,
                    "regions": ["eu-central-1"],
                }
            ],
            "activity": {"poll_deadline_s": 2, "connect_timeout_s": 1},
        }
    )
    setup = AwsSessions.from_config(config)
    setup.client("rds", "eu-central-1", account_d).create_db_cluster(
        DBClusterIdentifier="ledger",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="pw-not-used-123",
        EnableIAMDatabaseAuthentication=True,
    )
    first = run_once(config, ["activity"])[0]
    # Found, and down: its name resolves nowhere here.
    assert [row[:2] for row in first.rows] == [("ledger/eu-central-1/ledger", "down")]

    iam = moto_server.client("iam")
    user = f"pgwarden-nothing-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])

    set_moto_auth(moto_server, "0")
    try:
        second = run_once(config, ["activity"])[0]
    finally:
        set_moto_auth(moto_server, "inf")
    assert len(second.rows) == 1
    name, status, _, _, reason = second.rows[0]
    assert (name, status) == ("ledger/eu-central-1/ledger", "down")
    assert reason.startswith(f"account {account_d}: AssumeRole into {role_d} denied: AccessDenied")
