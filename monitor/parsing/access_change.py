"""What one access change does: the control-plane changes that open a way in to the
databases or blind the monitor, read from the request CloudTrail recorded. Pure.

CloudTrail writes requestParameters with the API's parameter names, first letter in lower
case: `enableIAMDatabaseAuthentication`, `cloudwatchLogsExportConfiguration.disableLogTypes`,
`parameters[].parameterName`, `auth[].iAMAuth`, `features[].name` (tests/fixtures/SOURCES.md
cites the API reference for each). `effect` says what a change does to the monitor:

* blinds: the monitor stops seeing logins (IAM auth off, so its own IAM login fails; a log
  type no longer exported; logging parameters off or changed under the parser; GuardDuty
  RDS Protection or Database Activity Streams stopped; a CloudTrail trail stopped or
  deleted; an RDS log group deleted);
* opens: a way in beside IAM (a master password set, a proxy that accepts passwords,
  rds.force_ssl off);
* changes: a new or wider way in through IAM, or a change to a watched role;
* minor: a change that closes a way or is not in effect yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from monitor.parsing.cloudtrail import AccessChangeEvent
from monitor.parsing.policy import CONNECT, PolicyError, covers_action, statements

Effect = Literal["blinds", "opens", "changes", "minor"]
WATCHED_PARAMETERS = (
    "log_connections",
    "log_disconnections",
    "log_line_prefix",
    "log_destination",
    "rds.force_ssl",
)
WATCHED_LOG_TYPES = ("postgresql", "iam-db-auth-error")
_SWITCHES = ("log_connections", "log_disconnections", "rds.force_ssl")
_OFF = frozenset({"0", "off", "false", "no"})


@dataclass(frozen=True)
class Change:
    kind: str
    effect: Effect
    summary: str
    # The request fields that make this change, exactly as recorded (secrets redacted).
    fields: Mapping[str, object] = field(default_factory=dict, hash=False, compare=False)


class _Granting(TypedDict):
    Sid: str | None
    Resource: list[str]


def _list(value: object) -> list[object]:
    """A JSON array of the request, or [] for anything else (absent, null, a scalar)."""
    return value if isinstance(value, list) else []


def changes(event: AccessChangeEvent) -> list[Change]:
    """Every change the event made (or tried to make); [] when it touched nothing watched."""
    request = event.request_fields()
    handler = _HANDLERS.get(event.event_name)
    return handler(event, request) if handler else []


def _modify_database(event: AccessChangeEvent, request: dict[str, object]) -> list[Change]:
    out = []
    iam = request.get("enableIAMDatabaseAuthentication", event.iam_auth)
    if iam is False:
        out.append(
            Change(
                "iam-auth-off",
                "blinds",
                "IAM database authentication turned off",
                {"enableIAMDatabaseAuthentication": False},
            )
        )
    elif iam is True:
        out.append(
            Change(
                "iam-auth-on",
                "minor",
                "IAM database authentication turned on",
                {"enableIAMDatabaseAuthentication": True},
            )
        )
    exports = request.get("cloudwatchLogsExportConfiguration") or {}
    disabled = exports.get("disableLogTypes") if isinstance(exports, dict) else None
    removed = [t for t in _list(disabled) if t in WATCHED_LOG_TYPES]
    if removed:
        out.append(
            Change(
                "log-export-removed",
                "blinds",
                f"{' and '.join(removed)} no longer exported to CloudWatch Logs",
                {"cloudwatchLogsExportConfiguration": exports},
            )
        )
    if "masterUserPassword" in request:
        keep = ("masterUserPassword", "applyImmediately")
        out.append(
            Change(
                "master-password",
                "opens",
                "master user password set",
                {k: request[k] for k in keep if k in request},
            )
        )
    return out


def _parameter_group(event: AccessChangeEvent, request: dict[str, object]) -> list[Change]:
    group = {k: v for k, v in request.items() if k.endswith("ParameterGroupName")}
    if request.get("resetAllParameters") is True:
        return [
            Change(
                "logging-parameter",
                "blinds",
                "every parameter reset to its default, the logging ones included",
                {**group, "resetAllParameters": True},
            )
        ]
    watched = [
        p
        for p in _list(request.get("parameters"))
        if isinstance(p, dict) and p.get("parameterName") in WATCHED_PARAMETERS
    ]
    if not watched:
        return []
    effect: Effect = "minor"
    said = []
    for p in watched:
        name, value = p["parameterName"], p.get("parameterValue")
        reset = event.event_name.startswith("Reset")
        said.append(f"{name} reset" if reset else f"{name} = {value}")
        if name == "rds.force_ssl" and (reset or str(value).lower() in _OFF):
            effect = "opens" if effect != "blinds" else effect
        elif name not in _SWITCHES or reset or str(value).lower() in _OFF:
            # A new prefix or destination breaks the parser as surely as logging off.
            effect = "blinds"
    return [
        Change(
            "logging-parameter",
            effect,
            "parameter group: " + ", ".join(said),
            {**group, "parameters": watched},
        )
    ]


def _proxy(event: AccessChangeEvent, request: dict[str, object]) -> list[Change]:
    auth = [a for a in _list(request.get("auth")) if isinstance(a, dict)]
    keys: tuple[str, ...] = ("auth", "requireTLS", "defaultAuthScheme")
    fields = {k: request[k] for k in keys if k in request}
    passwords = any(str(a.get("iAMAuth", "")).upper() == "DISABLED" for a in auth)
    no_tls = request.get("requireTLS") is False
    if event.event_name == "DeleteDBProxy":
        return [Change("proxy-deleted", "changes", "RDS Proxy deleted")]
    if event.event_name == "CreateDBProxy":
        if passwords:
            return [
                Change(
                    "proxy-created",
                    "opens",
                    "RDS Proxy created that takes passwords (IAMAuth DISABLED)",
                    fields,
                )
            ]
        return [Change("proxy-created", "changes", "RDS Proxy created", fields)]
    if passwords or no_tls:
        what = "IAM authentication no longer required" if passwords else "TLS no longer required"
        return [Change("proxy-auth", "opens", f"RDS Proxy: {what}", fields)]
    if fields:
        return [Change("proxy-auth", "changes", "RDS Proxy authentication changed", fields)]
    return [Change("proxy-modified", "minor", "RDS Proxy settings changed", request)]


def _activity_stream(event: AccessChangeEvent, request: dict[str, object]) -> list[Change]:
    return [
        Change("activity-stream-stopped", "blinds", "Database Activity Streams stopped", request)
    ]


def _guardduty(event: AccessChangeEvent, request: dict[str, object]) -> list[Change]:
    if event.event_name == "DeleteDetector":
        return [
            Change(
                "protection-stopped",
                "blinds",
                "GuardDuty detector deleted, and RDS Protection with it",
                request,
            )
        ]
    if request.get("enable") is False:
        return [
            Change(
                "protection-stopped",
                "blinds",
                "GuardDuty detector suspended, and RDS Protection with it",
                request,
            )
        ]
    rds = [
        f
        for f in _list(request.get("features"))
        if isinstance(f, dict) and f.get("name") == "RDS_LOGIN_EVENTS"
    ]
    if any(str(f.get("status", "")).upper() == "DISABLED" for f in rds):
        keep = {k: v for k, v in request.items() if k in ("detectorId", "accountIds")}
        return [
            Change(
                "protection-stopped",
                "blinds",
                "GuardDuty RDS Protection turned off",
                {**keep, "features": rds},
            )
        ]
    return []


def _iam(event: AccessChangeEvent, request: dict[str, object]) -> list[Change]:
    names = ("roleName", "userName", "groupName", "policyName", "policyArn", "setAsDefault")
    where = {k: request[k] for k in names if k in request}
    document = request.get("policyDocument")
    role = request.get("roleName")
    if event.event_name == "UpdateAssumeRolePolicy":
        return [
            Change(
                "watched-role",
                "changes",
                f"trust policy of role {role} replaced",
                {**where, "policyDocument": document},
            )
        ]
    if isinstance(document, str):
        granting = _connect_statements(document)
        if granting:
            fields = {**where, "statements": granting}
            if request.get("setAsDefault") is False:
                return [
                    Change(
                        "connect-grant",
                        "minor",
                        "new policy version grants rds-db:connect but is not the default",
                        fields,
                    )
                ]
            return [
                Change(
                    "connect-grant",
                    "changes",
                    "policy grants rds-db:connect on "
                    + ", ".join(r for s in granting for r in s["Resource"]),
                    fields,
                )
            ]
    if role:
        return [Change("watched-role", "changes", f"{event.event_name} on role {role}", where)]
    return [
        Change("connect-policy", "minor", "policy mentions rds-db: but grants no connect", where)
    ]


def _connect_statements(document: str) -> list[_Granting]:
    """The Allow statements that cover rds-db:connect, as Sid and Resource."""
    try:
        found = statements(document, "request")
    except PolicyError:
        return []
    return [
        {"Sid": s.sid, "Resource": list(s.resources or ("NotResource",))}
        for s in found
        if s.effect == "Allow" and covers_action(s, CONNECT)
    ]


def _trail(event: AccessChangeEvent, request: dict[str, object]) -> list[Change]:
    """A trail stopped or deleted: from then on it records no role assumption and no change
    here, so CloudTrail's silence would read as nothing happening."""
    stopped = event.event_name == "StopLogging"
    kind, done = ("trail-stopped", "logging stopped") if stopped else ("trail-deleted", "deleted")
    return [Change(kind, "blinds", f"CloudTrail trail {done}", {"name": request.get("name")})]


def _log_group(event: AccessChangeEvent, request: dict[str, object]) -> list[Change]:
    """An RDS log group deleted: the database's (or proxy's) exported log, and the events in it."""
    name = request.get("logGroupName")
    if not (isinstance(name, str) and name.startswith("/aws/rds/")):
        return []
    return [Change("log-group-deleted", "blinds", "RDS log group deleted", {"logGroupName": name})]


_Handler = Callable[[AccessChangeEvent, dict[str, object]], list[Change]]
_HANDLERS: dict[str, _Handler] = {
    "ModifyDBCluster": _modify_database,
    "ModifyDBInstance": _modify_database,
    "ModifyDBClusterParameterGroup": _parameter_group,
    "ModifyDBParameterGroup": _parameter_group,
    "ResetDBClusterParameterGroup": _parameter_group,
    "ResetDBParameterGroup": _parameter_group,
    "CreateDBProxy": _proxy,
    "ModifyDBProxy": _proxy,
    "DeleteDBProxy": _proxy,
    "StopActivityStream": _activity_stream,
    "DeleteDetector": _guardduty,
    "UpdateDetector": _guardduty,
    "UpdateMemberDetectors": _guardduty,
    "StopLogging": _trail,
    "DeleteTrail": _trail,
    "DeleteLogGroup": _log_group,
    **dict.fromkeys(
        (
            "PutRolePolicy",
            "PutUserPolicy",
            "PutGroupPolicy",
            "CreatePolicyVersion",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "DeleteRolePolicy",
            "UpdateAssumeRolePolicy",
        ),
        _iam,
    ),
}
