"""What each control-plane request does (monitor/parsing/access_change.py), beyond the
fixture's records: resets, proxies created and deleted, GuardDuty off, rows from before
the request was stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.parsing.access_change import changes
from monitor.parsing.cloudtrail import AccessChangeEvent, redact_request


def event(name: str, request: dict[str, Any] | None, **fields: Any) -> AccessChangeEvent:
    values: dict[str, Any] = {
        "event_id": "e",
        "event_time": datetime(2026, 11, 5, tzinfo=UTC),
        "event_source": "rds.amazonaws.com",
        "event_name": name,
        "recipient_account": "222222222222",
        "aws_region": "us-east-1",
        "principal_arn": None,
        "source_ip": None,
        "user_agent": None,
        "subject": None,
        "iam_auth": None,
        "policy_arn": None,
        "error_code": None,
        "error_message": None,
        "request": None if request is None else redact_request(json.dumps(request)),
    }
    return AccessChangeEvent(**{**values, **fields})


@pytest.mark.parametrize(
    ("name", "params", "kind", "effect"),
    [
        (
            "ResetDBClusterParameterGroup",
            {"resetAllParameters": True},
            "logging-parameter",
            "blinds",
        ),
        (
            "ResetDBParameterGroup",
            {"parameters": [{"parameterName": "log_disconnections", "applyMethod": "immediate"}]},
            "logging-parameter",
            "blinds",
        ),
        (
            "ModifyDBParameterGroup",
            {"parameters": [{"parameterName": "log_connections", "parameterValue": "1"}]},
            "logging-parameter",
            "minor",
        ),
        (
            "ModifyDBParameterGroup",
            {"parameters": [{"parameterName": "log_line_prefix", "parameterValue": "%m:"}]},
            "logging-parameter",
            "blinds",
        ),
        ("CreateDBProxy", {"auth": [{"iAMAuth": "DISABLED"}]}, "proxy-created", "opens"),
        ("CreateDBProxy", {"auth": [{"iAMAuth": "REQUIRED"}]}, "proxy-created", "changes"),
        ("ModifyDBProxy", {"requireTLS": False}, "proxy-auth", "opens"),
        ("DeleteDBProxy", {"dBProxyName": "p"}, "proxy-deleted", "changes"),
        ("ModifyDBCluster", {"enableIAMDatabaseAuthentication": True}, "iam-auth-on", "minor"),
        ("StopLogging", {"name": "management-events"}, "trail-stopped", "blinds"),
        ("DeleteTrail", {"name": "management-events"}, "trail-deleted", "blinds"),
        ("DeleteLogGroup", {"logGroupName": "/aws/rds/proxy/p"}, "log-group-deleted", "blinds"),
    ],
)
def test_access_change_kinds(name: str, params: dict[str, Any], kind: str, effect: str) -> None:
    [change] = changes(event(name, params))
    assert (change.kind, change.effect) == (kind, effect)


@pytest.mark.parametrize(
    ("name", "params", "summary"),
    [
        ("DeleteDetector", {"detectorId": "d"}, "GuardDuty detector deleted"),
        ("UpdateDetector", {"detectorId": "d", "enable": False}, "GuardDuty detector suspended"),
        (
            "UpdateMemberDetectors",
            {"accountIds": ["3"], "features": [{"name": "RDS_LOGIN_EVENTS", "status": "DISABLED"}]},
            "GuardDuty RDS Protection turned off",
        ),
    ],
)
def test_access_change_guardduty_blinds(name: str, params: dict[str, Any], summary: str) -> None:
    [change] = changes(event(name, params, event_source="guardduty.amazonaws.com"))
    assert change.effect == "blinds" and change.summary.startswith(summary)


def test_access_change_nothing_watched_is_no_change() -> None:
    enabled = {"features": [{"name": "RDS_LOGIN_EVENTS", "status": "ENABLED"}]}
    assert changes(event("UpdateDetector", enabled)) == []
    assert changes(event("ModifyDBCluster", {"backupRetentionPeriod": 7})) == []
    assert changes(event("DescribeDBClusters", {})) == []


def test_access_change_policy_version_not_default_is_minor() -> None:
    document = json.dumps({"Statement": {"Effect": "Allow", "Action": "rds-db:*", "Resource": "*"}})
    request = {"policyArn": "arn:aws:iam::2:policy/p", "policyDocument": document}
    [grant] = changes(event("CreatePolicyVersion", {**request, "setAsDefault": False}))
    assert (grant.kind, grant.effect) == ("connect-grant", "minor")
    deny = json.dumps(
        {"Statement": {"Effect": "Deny", "Action": "rds-db:connect", "Resource": "*"}}
    )
    [mention] = changes(event("PutUserPolicy", {"userName": "u", "policyDocument": deny}))
    assert (mention.kind, mention.effect) == ("connect-policy", "minor")


def test_access_change_row_stored_before_requests_were_kept() -> None:
    [change] = changes(event("ModifyDBCluster", None, iam_auth=False))
    assert change.kind == "iam-auth-off"


def test_redact_request_never_keeps_a_password() -> None:
    text = redact_request(
        json.dumps({"masterUserPassword": "pw", "tdeCredentialPassword": "x", "port": 5432})
    )
    assert json.loads(text or "") == {
        "masterUserPassword": "<redacted>",
        "port": 5432,
        "tdeCredentialPassword": "<redacted>",
    }
    assert redact_request("not json") == '{"unreadable": "requestParameters is not JSON"}'


def test_a_deleted_log_group_that_is_not_rds_is_no_access_change() -> None:
    assert changes(event("DeleteLogGroup", {"logGroupName": "/aws/lambda/thumbnailer"})) == []
    assert changes(event("DeleteLogGroup", {"logGroupName": ["/aws/rds/x"]})) == []
