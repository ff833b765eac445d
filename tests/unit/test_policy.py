from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from monitor.parsing.policy import (
    REDACTED,
    DbResource,
    PolicyError,
    Principal,
    Statement,
    connect_grants,
    covers_action,
    glob_match,
    redact_external_ids,
    statements,
    trusted_principals,
)

ACCOUNT = "222222222222"
CLUSTER = DbResource("cluster-ABCDEFGHIJKLMNOPQRSTUV", "us-east-1", ACCOUNT, "orders-writer")
INSTANCE = DbResource("db-INSTANCEEXAMPLE0123456789", "us-east-1", ACCOUNT, "orders-1")
PROXY = DbResource("prx-0123456789abcdef0", "us-east-1", ACCOUNT, "orders-proxy")
EU = DbResource("cluster-EUROPEEXAMPLE000000000", "eu-west-1", ACCOUNT, "eu-reporting")
RESOURCES = [CLUSTER, INSTANCE, PROXY, EU]
ROLE = Principal(f"arn:aws:iam::{ACCOUNT}:role/app", "role", ACCOUNT)


def arn(resource: str, user: str, region: str = "us-east-1") -> str:
    return f"arn:aws:rds-db:{region}:{ACCOUNT}:dbuser:{resource}/{user}"


def allow(resource: Any, action: Any = "rds-db:connect", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(resource: Any, action: Any = "rds-db:connect", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def grants_for(*stmts: dict[str, Any]) -> set[tuple[str | None, str, str]]:
    """(target or resource id, db user, statement) for a policy of these statements."""
    doc = {"Version": "2012-10-17", "Statement": list(stmts)}
    pairs = [("direct", s) for s in statements(doc, "inline:test")]
    found = connect_grants(ROLE, pairs, RESOURCES)
    return {(g.target or g.resource_id, g.db_user, g.statement) for g in found}


# Each case: the statements, and the (target, db user, statement) grants expected.
CASES: list[tuple[str, list[dict[str, Any]], set[tuple[str | None, str, str]]]] = [
    (
        "exact cluster and user",
        [allow(arn(CLUSTER.resource_id, "pgmonitor"))],
        {("orders-writer", "pgmonitor", "#0")},
    ),
    (
        "instance resource id (DbiResourceId)",
        [allow(arn(INSTANCE.resource_id, "app"))],
        {("orders-1", "app", "#0")},
    ),
    (
        "RDS Proxy resource id",
        [allow(arn(PROXY.resource_id, "app"))],
        {("orders-proxy", "app", "#0")},
    ),
    (
        "cluster id does not grant its instances",
        [allow(arn(CLUSTER.resource_id, "app"))],
        {("orders-writer", "app", "#0")},
    ),
    (
        "action wildcard rds-db:*",
        [allow(arn(CLUSTER.resource_id, "pgmonitor"), "rds-db:*")],
        {("orders-writer", "pgmonitor", "#0")},
    ),
    (
        "action * and Resource * (AdministratorAccess)",
        [allow("*", "*")],
        {
            ("orders-writer", "*", "#0"),
            ("orders-1", "*", "#0"),
            ("orders-proxy", "*", "#0"),
            ("eu-reporting", "*", "#0"),
            ("*", "*", "#0"),
        },
    ),
    (
        "action prefix rds-db:conn* in another case",
        [allow(arn(CLUSTER.resource_id, "pgmonitor"), ["s3:GetObject", "RDS-DB:Conn*"])],
        {("orders-writer", "pgmonitor", "#0")},
    ),
    (
        "action that is not connect",
        [allow(arn(CLUSTER.resource_id, "pgmonitor"), ["rds:Describe*", "rds-db:connectx"])],
        set(),
    ),
    (
        "user wildcard * and ? in resource id",
        [allow(arn("cluster-ABCDEFGHIJKLMNOPQRSTU?", "*"))],
        {("orders-writer", "*", "#0"), ("cluster-ABCDEFGHIJKLMNOPQRSTU?", "*", "#0")},
    ),
    (
        "region in the ARN must match",
        [allow(arn("*", "reporter", region="eu-west-1"))],
        {("eu-reporting", "reporter", "#0"), ("*", "reporter", "#0")},
    ),
    (
        "user prefix pattern",
        [allow(arn(CLUSTER.resource_id, "app_*"))],
        {("orders-writer", "app_*", "#0")},
    ),
    (
        "database pgwarden does not monitor",
        [allow(arn("cluster-UNKNOWN", "x"))],
        {("cluster-UNKNOWN", "x", "#0")},
    ),
    (
        "explicit Deny of the same user wins (eu-west-1 is outside the Allow's region)",
        [allow(arn("*", "*")), deny(arn(CLUSTER.resource_id, "*"))],
        {("orders-1", "*", "#0"), ("orders-proxy", "*", "#0"), ("*", "*", "#0")},
    ),
    (
        "Deny of one user leaves the others",
        [allow(arn(CLUSTER.resource_id, "*")), deny(arn(CLUSTER.resource_id, "admin"))],
        {("orders-writer", "*", "#0")},
    ),
    (
        "Deny on another action changes nothing",
        [allow(arn(CLUSTER.resource_id, "app")), deny("*", "rds:DeleteDBCluster")],
        {("orders-writer", "app", "#0")},
    ),
    (
        "conditional Deny is recorded, not applied",
        [
            allow(arn(CLUSTER.resource_id, "app"), Sid="AppConnect"),
            deny("*", Condition={"Bool": {"aws:SecureTransport": "false"}}),
        ],
        {("orders-writer", "app", "AppConnect")},
    ),
    (
        "NotResource allows everything except what it names",
        [
            {
                "Effect": "Allow",
                "Action": "rds-db:connect",
                "NotResource": [arn(CLUSTER.resource_id, "*"), arn(PROXY.resource_id, "*")],
            }
        ],
        {("orders-1", "*", "#0"), ("eu-reporting", "*", "#0"), ("*", "*", "#0")},
    ),
    (
        "NotAction without connect grants connect",
        [{"Effect": "Allow", "NotAction": "iam:*", "Resource": arn(PROXY.resource_id, "*")}],
        {("orders-proxy", "*", "#0")},
    ),
    (
        "NotAction naming connect grants nothing",
        [{"Effect": "Allow", "NotAction": "rds-db:*", "Resource": "*"}],
        set(),
    ),
    (
        "Deny with NotResource protects only the named resource",
        [
            allow(arn("*", "app")),
            {"Effect": "Deny", "Action": "rds-db:*", "NotResource": arn(INSTANCE.resource_id, "*")},
        ],
        {("orders-1", "app", "#0")},
    ),
]


@pytest.mark.parametrize(("stmts", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_policy_connect_grants(
    stmts: list[dict[str, Any]], expected: set[tuple[str | None, str, str]]
) -> None:
    assert grants_for(*stmts) == expected


def test_policy_conditions_recorded_on_the_grant() -> None:
    condition = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    doc = {"Statement": [allow(arn(CLUSTER.resource_id, "app"), Condition=condition)]}
    [grant] = connect_grants(ROLE, [("direct", s) for s in statements(doc, "p")], [CLUSTER])
    assert grant.conditions == condition
    assert grant.resource_pattern == arn(CLUSTER.resource_id, "app")


def test_policy_conditional_deny_noted() -> None:
    doc = {
        "Statement": [
            allow(arn(CLUSTER.resource_id, "app")),
            deny("*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}}, Sid="MFA"),
        ]
    }
    [grant] = connect_grants(ROLE, [("direct", s) for s in statements(doc, "p")], [CLUSTER])
    assert grant.notes == ("Deny p MFA applies under conditions (not evaluated)",)


def test_policy_deny_in_another_policy_of_the_same_principal_applies() -> None:
    allows = statements({"Statement": [allow("*", "rds-db:connect")]}, "arn:policy/a")
    denies = statements({"Statement": [deny("*", "rds-db:*")]}, "inline:guard")
    pairs = [("group:dbas", s) for s in allows] + [("direct", s) for s in denies]
    assert connect_grants(ROLE, pairs, RESOURCES) == []


def test_policy_group_grant_keeps_the_group_name() -> None:
    pairs = [("group:dbas", s) for s in statements({"Statement": [allow("*")]}, "inline:g")]
    grants = connect_grants(ROLE, pairs, [CLUSTER])
    assert {g.via for g in grants} == {"group:dbas"}


def test_policy_document_url_encoded_as_iam_returns_it() -> None:
    doc = json.dumps({"Statement": allow(arn(CLUSTER.resource_id, "a"))})
    [stmt] = statements(urllib.parse.quote(doc), "p")
    assert stmt.resources == (arn(CLUSTER.resource_id, "a"),)


@pytest.mark.parametrize("doc", ["not json", "[1]", '{"Statement": [1]}', '{"Statement": [{}]}'])
def test_policy_bad_document_raises(doc: str) -> None:
    with pytest.raises(PolicyError):
        statements(doc, "p")


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("rds-db:*", "rds-db:connect", True),
        ("rds-db:?onnect", "rds-db:connect", True),
        ("rds-db:connect?", "rds-db:connect", False),
        ("*", "anything:at/all", True),
        ("a.b", "axb", False),
    ],
)
def test_glob_match(pattern: str, value: str, expected: bool) -> None:
    assert glob_match(pattern, value) is expected


def test_covers_action_with_neither_action_nor_notaction_is_false() -> None:
    assert not covers_action(Statement("p", 0, None, "Allow"))


TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {
                "AWS": ["arn:aws:iam::111111111111:role/pgwarden-runner", "333333333333"]
            },
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "s3cr3t-external-id"}},
        },
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        },
        {
            "Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::222222222222:saml-provider/corp"},
            "Action": "sts:AssumeRoleWithSAML",
        },
        {"Effect": "Allow", "Principal": "*", "Action": "sts:*"},
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject"},
    ],
}


def test_trusted_principals_lists_who_may_assume() -> None:
    found = trusted_principals(TRUST, "arn:aws:iam::222222222222:role/pg-monitor-role")
    summary = [(t.kind, t.principal, t.account_id, t.external_id_required) for t in found]
    assert summary == [
        ("AWS", "arn:aws:iam::111111111111:role/pgwarden-runner", "111111111111", True),
        ("AWS", "333333333333", "333333333333", True),
        ("Service", "ecs-tasks.amazonaws.com", None, False),
        ("Federated", "arn:aws:iam::222222222222:saml-provider/corp", None, False),
        ("*", "*", None, False),
    ]


def test_trust_external_id_is_never_kept() -> None:
    redacted = redact_external_ids(json.dumps(TRUST))
    assert "s3cr3t-external-id" not in json.dumps(redacted)
    assert redacted["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] == REDACTED
    found = trusted_principals(TRUST, "r")
    assert "s3cr3t-external-id" not in repr(found)
