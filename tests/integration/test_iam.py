"""The grants inventory against IAM on the moto server."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FrozenClock
from monitor.config import Config
from monitor.parsing.policy import DbResource
from monitor.sources.iam import current_grants, ingest, inventory, store_inventory
from monitor.store.sqlite import Store, to_text
from tests.conftest import MotoServer

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"  # moto's default account
CLUSTER = "cluster-ORDERSEXAMPLE0000000000"
PROXY = "prx-0123456789abcdef0"
RESOURCES = [
    DbResource(CLUSTER, "us-east-1", ACCOUNT, "orders-writer"),
    DbResource(PROXY, "us-east-1", ACCOUNT, "orders-proxy"),
]
EXTERNAL_ID = "ext-id-that-must-never-be-stored"


def dbuser(resource: str, user: str) -> str:
    return f"arn:aws:rds-db:us-east-1:{ACCOUNT}:dbuser:{resource}/{user}"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def connect(resource: Any, effect: str = "Allow", action: Any = "rds-db:connect") -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource}


@pytest.fixture
def iam(moto_server: MotoServer) -> Any:
    moto_server.reset()
    client = moto_server.client("iam")
    trust = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:role/pgwarden-runner"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}},
    }
    client.create_role(RoleName="pg-monitor-role", AssumeRolePolicyDocument=doc(trust))
    policy = client.create_policy(
        PolicyName="pgmonitor-connect", PolicyDocument=doc(connect(dbuser(CLUSTER, "pgmonitor")))
    )["Policy"]["Arn"]
    client.attach_role_policy(RoleName="pg-monitor-role", PolicyArn=policy)

    service = {
        "Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    client.create_role(RoleName="orders-app", AssumeRolePolicyDocument=doc(service))
    client.put_role_policy(
        RoleName="orders-app",
        PolicyName="db",
        PolicyDocument=doc(connect(dbuser(PROXY, "app")), connect(dbuser(CLUSTER, "=cmd"))),
    )
    client.create_role(RoleName="batch", AssumeRolePolicyDocument=doc(service))
    client.put_role_policy(
        RoleName="batch", PolicyName="s3", PolicyDocument=doc(connect("*", action="s3:GetObject"))
    )

    client.create_group(GroupName="dbas")
    client.put_group_policy(
        GroupName="dbas", PolicyName="all-db", PolicyDocument=doc(connect("*", action="rds-db:*"))
    )
    for name in ("alice", "bob"):
        client.create_user(UserName=name)
        client.add_user_to_group(GroupName="dbas", UserName=name)
    client.put_user_policy(
        UserName="bob", PolicyName="no-db", PolicyDocument=doc(connect("*", effect="Deny"))
    )
    return client


def summary(grants: Any) -> set[tuple[str, str | None, str, str, str]]:
    return {
        (g.principal_arn.rsplit(":", 1)[1], g.target or g.resource_id, g.db_user, g.via, g.policy)
        for g in grants
    }


def test_iam_inventory_finds_every_grant(iam: Any) -> None:
    found = inventory(iam, ACCOUNT, RESOURCES)
    policy = f"arn:aws:iam::{ACCOUNT}:policy/pgmonitor-connect"
    assert summary(found.grants) == {
        ("role/pg-monitor-role", "orders-writer", "pgmonitor", "direct", policy),
        ("role/orders-app", "orders-proxy", "app", "direct", "inline:db"),
        ("role/orders-app", "orders-writer", "=cmd", "direct", "inline:db"),
        ("user/alice", "orders-writer", "*", "group:dbas", "inline:all-db"),
        ("user/alice", "orders-proxy", "*", "group:dbas", "inline:all-db"),
        ("user/alice", "*", "*", "group:dbas", "inline:all-db"),
    }
    assert found.principals == 5


def test_iam_trust_of_granting_roles_without_the_external_id(iam: Any) -> None:
    found = inventory(iam, ACCOUNT, RESOURCES)
    trust = {t.role_arn.rsplit("/", 1)[1]: t for t in found.trust}
    assert set(trust) == {"pg-monitor-role", "orders-app"}  # batch grants nothing
    [runner] = trust["pg-monitor-role"].trusted
    assert (runner.principal, runner.account_id) == (
        "arn:aws:iam::111111111111:role/pgwarden-runner",
        "111111111111",
    )
    assert runner.external_id_required
    assert EXTERNAL_ID not in json.dumps(trust["pg-monitor-role"].trust_policy)
    assert EXTERNAL_ID not in repr(found)
    assert [t.kind for t in trust["orders-app"].trusted] == ["Service"]
    assert trust["orders-app"].last_used_at is None  # moto leaves RoleLastUsed empty


def test_iam_store_shows_new_and_withdrawn_grants(iam: Any, tmp_path: Path) -> None:
    t0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    with Store.open(tmp_path / "p.db") as store:
        first = store_inventory(store, inventory(iam, ACCOUNT, RESOURCES), t0)
        assert len(first.added) == 6
        assert first.removed == []
        again = store_inventory(store, inventory(iam, ACCOUNT, RESOURCES), t0 + timedelta(hours=1))
        assert (again.added, again.removed) == ([], [])

        iam.delete_role_policy(RoleName="orders-app", PolicyName="db")
        t2 = t0 + timedelta(hours=2)
        later = store_inventory(store, inventory(iam, ACCOUNT, RESOURCES), t2)
        assert later.added == []
        assert sorted(later.removed) == sorted(
            [
                f"arn:aws:iam::{ACCOUNT}:role/orders-app -> orders-proxy as app via inline:db",
                f"arn:aws:iam::{ACCOUNT}:role/orders-app -> orders-writer as =cmd via inline:db",
            ]
        )
        rows = current_grants(store)
        assert len(rows) == 4
        monitor = [r for r in rows if r["db_user"] == "pgmonitor"]
        assert monitor[0]["first_observed"] == to_text(t0)
        assert monitor[0]["observed_at"] == to_text(t2)
        stored = store.conn.execute("SELECT trust_policy, trusted_principals FROM role_trust")
        assert EXTERNAL_ID not in json.dumps(stored.fetchall())


def test_iam_current_grants_answers_who_can_connect_as(iam: Any, tmp_path: Path) -> None:
    with Store.open(tmp_path / "p.db") as store:
        store_inventory(store, inventory(iam, ACCOUNT, RESOURCES), datetime.now(UTC))
        rows = current_grants(store, target="orders-writer", db_user="pgmonitor")
    assert {(r["principal_arn"].rsplit(":", 1)[1], r["db_user"]) for r in rows} == {
        ("role/pg-monitor-role", "pgmonitor"),
        ("user/alice", "*"),
    }


def _insert_targets(store: Store) -> None:
    now = to_text(datetime(2026, 11, 23, tzinfo=UTC))
    with store.transaction() as conn:
        for resource in RESOURCES:
            conn.execute(
                "INSERT INTO targets (name, account_id, region, endpoint, endpoint_type, port,"
                " database, db_user, resource_id, first_seen, last_seen)"
                " VALUES (?, ?, ?, 'h.example', 'cluster', 5432, 'postgres', 'pgmonitor', ?, ?, ?)",
                (resource.target, ACCOUNT, resource.region, resource.resource_id, now, now),
            )


def test_iam_ingest_and_grants_cli(iam: Any, tmp_path: Path, run_cli: Any) -> None:
    store_path = tmp_path / "p.db"
    config_file = tmp_path / "pgwarden.toml"
    config_file.write_text(
        f'[store]\npath = "{store_path}"\n'
        f'[[accounts]]\nid = "{ACCOUNT}"\nname = "moto"\n'
        f'role_arn = "arn:aws:iam::{ACCOUNT}:role/pg-monitor-role"\n'
    )
    config = Config.model_validate(
        {
            "store": {"path": str(store_path)},
            "accounts": [
                {
                    "id": ACCOUNT,
                    "name": "moto",
                    "role_arn": f"arn:aws:iam::{ACCOUNT}:role/pg-monitor-role",
                }
            ],
        }
    )
    with Store.open(store_path) as store:
        _insert_targets(store)
        [run] = ingest(store, config, {ACCOUNT: iam}.__getitem__, FrozenClock(datetime.now(UTC)))
    assert run.error is None and run.changes is not None
    assert len(run.changes.added) == 6

    result = run_cli("grants", "--config", str(config_file), "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 6
    assert "'=cmd" in {r["db_user"] for r in rows}  # formula escaped
    assert "=cmd" not in {r["db_user"] for r in rows}

    result = run_cli(
        "grants",
        "--config",
        str(config_file),
        "--target",
        "orders-proxy",
        "--db-user",
        "app",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert {(r["principal_arn"], r["policy"]) for r in answer} == {
        (f"arn:aws:iam::{ACCOUNT}:role/orders-app", "inline:db"),
        (f"arn:aws:iam::{ACCOUNT}:user/alice", "inline:all-db"),
    }

    table = run_cli("grants", "--config", str(config_file), "--target", "orders-writer")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:3] == ["target", "db_user", "principal_arn"]


def test_iam_granting_roles_become_watched_roles(iam: Any, tmp_path: Path) -> None:
    from monitor.sources.cloudtrail import watched_roles

    monitor = f"arn:aws:iam::{ACCOUNT}:role/pg-monitor-role"
    config = Config.model_validate(
        {"accounts": [{"id": ACCOUNT, "name": "moto", "role_arn": monitor}]}
    )
    with Store.open(tmp_path / "p.db") as store:
        assert watched_roles(config, store) == [monitor]
        store_inventory(store, inventory(iam, ACCOUNT, RESOURCES), datetime.now(UTC))
        assert watched_roles(config, store) == [
            f"arn:aws:iam::{ACCOUNT}:role/orders-app",
            monitor,
        ]


def test_grants_cli_before_any_inventory_says_so(run_cli: Any, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "none.db"}"\n')
    result = run_cli("grants", "--config", str(config))
    assert result.returncode == 2
    assert "no store here yet; run pgwarden once to create it" in result.stderr
    assert "Traceback" not in result.stderr


def test_iam_ingest_one_account_denied_others_carry_on(
    iam: Any, moto_server: MotoServer, tmp_path: Path
) -> None:
    """moto does not enforce IAM, so the refusal comes from botocore's Stubber."""
    from botocore.stub import Stubber

    denied_account = "555555555555"
    denied = moto_server.client("iam")
    stub = Stubber(denied)
    stub.add_client_error(
        "get_account_authorization_details", "AccessDenied", "not authorized", 403
    )
    stub.activate()
    config = Config.model_validate(
        {
            "store": {"path": str(tmp_path / "p.db")},
            "accounts": [
                {"id": denied_account, "name": "locked"},
                {"id": ACCOUNT, "name": "moto"},
            ],
        }
    )
    clients = {denied_account: denied, ACCOUNT: iam}
    with Store.open(tmp_path / "p.db") as store:
        _insert_targets(store)
        locked, ok = ingest(store, config, clients.__getitem__, FrozenClock(datetime.now(UTC)))
        stored = store.conn.execute("SELECT DISTINCT account_id FROM grants").fetchall()
    assert locked.changes is None and locked.error is not None
    assert "AccessDenied" in locked.error and "\n" not in locked.error
    assert ok.error is None and ok.changes is not None and len(ok.changes.added) == 6
    assert stored == [(ACCOUNT,)]
