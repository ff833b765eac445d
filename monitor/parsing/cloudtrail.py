"""CloudTrail query rows to events. Pure: no I/O, no clock.

Both engines hand rows over as mappings of column name to value, and they differ in small
ways: Athena gives every column as text ('true', '' for an empty string), DuckDB gives
Python booleans and None. `parse_*` folds both into the same frozen event, so the two
paths compare equal field by field.

CloudTrail writes HIDDEN_DUE_TO_SECURITY_REASONS in place of values the caller's account
may not see (for example the identity behind a refused cross-account call). Such a value
becomes None, and the field's name is listed in `hidden`, so nobody mistakes the marker
for a principal name.

An access change keeps its request (`request`, canonical JSON) with every password value
replaced by "<redacted>" and every sts:ExternalId condition in a trust policy too: a
trail may hold a master password in clear, and pgwarden never passes it on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from monitor.errors import PgwardenError
from monitor.parsing.policy import REDACTED, PolicyError, redact_external_ids

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"


class TrailRowError(PgwardenError, ValueError):
    """A query row lacks what every CloudTrail record has (eventID, eventTime, eventName).

    The sources count such a row against its file and go on; it is a PgwardenError so that
    one that escapes anyway ends as a one-line message, not a traceback.
    """


@dataclass(frozen=True)
class AssumeRoleEvent:
    event_id: str
    event_time: datetime
    event_name: str
    recipient_account: str | None
    source_account: str | None
    principal_arn: str | None
    principal_type: str | None
    session_issuer_arn: str | None
    source_ip: str | None
    user_agent: str | None
    vpc_endpoint_id: str | None
    role_arn: str | None
    role_session_name: str | None
    external_id_present: bool
    error_code: str | None
    error_message: str | None
    hidden: tuple[str, ...] = ()

    @property
    def cross_account(self) -> bool:
        """True when the caller's account is known and differs from the role's account."""
        role_account = _arn_account(self.role_arn)
        return bool(self.source_account and role_account and self.source_account != role_account)

    def as_dict(self) -> dict[str, object]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["event_time"] = format_time(self.event_time)
        out["hidden"] = list(self.hidden)
        return out


@dataclass(frozen=True)
class AccessChangeEvent:
    event_id: str
    event_time: datetime
    event_source: str
    event_name: str
    recipient_account: str | None
    aws_region: str | None
    principal_arn: str | None
    source_ip: str | None
    user_agent: str | None
    subject: str | None
    iam_auth: bool | None
    policy_arn: str | None
    error_code: str | None
    error_message: str | None
    request: str | None = None  # requestParameters as canonical JSON, secrets redacted
    hidden: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["event_time"] = format_time(self.event_time)
        out["hidden"] = list(self.hidden)
        return out

    def request_fields(self) -> dict[str, object]:
        """The (redacted) request as a mapping; {} when the record carried none."""
        loaded = json.loads(self.request) if self.request else {}
        return loaded if isinstance(loaded, dict) else {}


ASSUME_ROLE_COLUMNS = tuple(f.name for f in fields(AssumeRoleEvent) if f.name != "hidden")
ACCESS_CHANGE_COLUMNS = tuple(f.name for f in fields(AccessChangeEvent) if f.name != "hidden")
_BOOLEAN_COLUMNS = frozenset({"external_id_present", "iam_auth"})


def parse_assume_role(row: Mapping[str, object]) -> AssumeRoleEvent:
    """One row of assume_role.sql, from either engine."""
    values, hidden = _clean(row, ASSUME_ROLE_COLUMNS)
    return AssumeRoleEvent(
        **{k: v for k, v in values.items() if k != "external_id_present"},
        external_id_present=bool(values["external_id_present"]),
        hidden=hidden,
    )


def parse_access_change(row: Mapping[str, object]) -> AccessChangeEvent:
    """One row of access_changes.sql, from either engine."""
    values, hidden = _clean(row, ACCESS_CHANGE_COLUMNS)
    values["request"] = redact_request(values["request"])
    return AccessChangeEvent(**values, hidden=hidden)


def redact_request(text: object) -> str | None:
    """requestParameters as canonical JSON with passwords and ExternalIds redacted.

    Both engines then give the same text (Athena keeps the record's own spelling, DuckDB
    re-serialises it). A request that is not JSON is kept only as the fact that it was not.
    """
    if text is None:
        return None
    try:
        loaded = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError:
        return json.dumps({"unreadable": "requestParameters is not JSON"})
    if loaded is None:
        return None
    return json.dumps(_redact(loaded, None), sort_keys=True, ensure_ascii=False)


def _redact(node: object, key: str | None) -> object:
    if isinstance(node, dict):
        return {k: _redact(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_redact(v, key) for v in node]
    if isinstance(node, str) and key is not None:
        if "password" in key.lower():
            return REDACTED
        if key == "policyDocument":
            # A trust policy's sts:ExternalId condition is a shared secret.
            try:
                return json.dumps(redact_external_ids(node), sort_keys=True)
            except PolicyError:
                return node
    return node


def parse_time(text: str) -> datetime:
    """CloudTrail's eventTime ('2026-11-01T08:15:02Z') as an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """The inverse of `parse_time`: the fixed form CloudTrail writes and queries compare."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean(
    row: Mapping[str, object], columns: tuple[str, ...]
) -> tuple[dict[str, Any], tuple[str, ...]]:
    values: dict[str, Any] = {}
    hidden: list[str] = []
    for column in columns:
        value = row.get(column)
        if isinstance(value, str):
            value = value.strip()
            if value == HIDDEN:
                hidden.append(column)
                value = None
            elif value == "":
                value = None
        if column in _BOOLEAN_COLUMNS and value is not None:
            value = _boolean(column, value)
        values[column] = value
    for required in ("event_id", "event_time", "event_name"):
        if not values.get(required):
            raise TrailRowError(f"CloudTrail row without {required}: {dict(row)!r:.200}")
    values["event_time"] = parse_time(str(values["event_time"]))
    return values, tuple(hidden)


def _boolean(column: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise TrailRowError(f"CloudTrail row: {column} is not a boolean: {value!r:.40}")


def _arn_account(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4] else None
