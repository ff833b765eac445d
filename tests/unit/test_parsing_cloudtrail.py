from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.parsing.cloudtrail import (
    HIDDEN,
    TrailRowError,
    format_time,
    parse_access_change,
    parse_assume_role,
    parse_time,
)

ATHENA_ROW = {
    # Athena gives text for everything, "" for an empty string and None for NULL.
    "event_id": "e6-denied",
    "event_time": "2026-11-01T23:51:00Z",
    "event_name": "AssumeRole",
    "recipient_account": "222222222222",
    "source_account": "444444444444",
    "principal_arn": HIDDEN,
    "principal_type": "AWSAccount",
    "session_issuer_arn": None,
    "source_ip": "192.0.2.66",
    "user_agent": "",
    "vpc_endpoint_id": None,
    "role_arn": "arn:aws:iam::222222222222:role/pg-monitor-role",
    "role_session_name": None,
    "external_id_present": "false",
    "error_code": "AccessDenied",
    "error_message": "not authorized",
}


def test_parse_assume_role_hidden_value_becomes_none_and_is_listed() -> None:
    event = parse_assume_role(ATHENA_ROW)
    assert event.principal_arn is None
    assert event.hidden == ("principal_arn",)
    assert event.user_agent is None
    assert event.external_id_present is False
    assert event.event_time == datetime(2026, 11, 1, 23, 51, tzinfo=UTC)
    assert event.cross_account


def test_parse_assume_role_same_event_from_both_engines_is_equal() -> None:
    duck = {**ATHENA_ROW, "external_id_present": False, "user_agent": None}
    assert parse_assume_role(duck) == parse_assume_role(ATHENA_ROW)


def test_parse_assume_role_same_account_is_not_cross_account() -> None:
    row = {**ATHENA_ROW, "source_account": "222222222222", "external_id_present": True}
    event = parse_assume_role(row)
    assert not event.cross_account
    assert event.external_id_present is True


@pytest.mark.parametrize("missing", ["event_id", "event_time", "event_name"])
def test_parse_assume_role_without_required_column_raises(missing: str) -> None:
    with pytest.raises(TrailRowError, match=missing):
        parse_assume_role({**ATHENA_ROW, missing: None})


def test_parse_assume_role_rejects_a_non_boolean() -> None:
    with pytest.raises(TrailRowError, match="external_id_present"):
        parse_assume_role({**ATHENA_ROW, "external_id_present": "maybe"})


def test_parse_access_change_iam_auth_text_and_boolean() -> None:
    row = {
        "event_id": "c1",
        "event_time": "2026-11-02T10:00:00Z",
        "event_source": "rds.amazonaws.com",
        "event_name": "ModifyDBCluster",
        "subject": "orders",
        "iam_auth": "false",
    }
    assert parse_access_change(row).iam_auth is False
    assert parse_access_change({**row, "iam_auth": True}).iam_auth is True
    assert parse_access_change({**row, "iam_auth": None}).iam_auth is None


def test_event_time_round_trip() -> None:
    moment = parse_time("2026-11-01T00:03:12Z")
    assert moment.tzinfo is not None
    assert format_time(moment) == "2026-11-01T00:03:12Z"
    assert parse_time("2026-11-01T01:03:12+01:00") == moment


def test_as_dict_never_has_the_external_id() -> None:
    event = parse_assume_role({**ATHENA_ROW, "external_id_present": "true"})
    assert event.as_dict()["external_id_present"] is True
    assert "external_id" not in event.as_dict()
