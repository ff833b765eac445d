"""Who may `rds-db:connect` as which database user: IAM policy evaluation. Pure.

What is evaluated, following the IAM policy evaluation logic for identity policies:

* Action and NotAction, with IAM's wildcards (`*`, `?`), case-insensitively
  (`rds-db:*`, `*`, `rds-db:conn*`, `RDS-DB:Connect`);
* Resource and NotResource against
  `arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/DB_USER`, where the resource id is a
  DbClusterResourceId (`cluster-...`), a DbiResourceId (`db-...`) or an RDS Proxy id
  (`prx-...`), with `*` and `?` wildcards;
* an explicit Deny without conditions removes what it covers; a Deny with conditions only
  adds a note, because conditions are recorded, never evaluated;
* inline and managed policies of users, roles and the groups a user is in.

Not evaluated (each is noted on the grant where it applies): conditions, permissions
boundaries, SCPs and session policies. A grant here means "an Allow exists and no
unconditional Deny in the same principal's policies removes it".
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

CONNECT = "rds-db:connect"
_ASSUME_ACTIONS = ("sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity")
REDACTED = "<redacted>"

_DBUSER_ARN = re.compile(r"arn:([^:]*):rds-db:([^:]*):([^:]*):dbuser:([^/]*)/(.*)")
_ACCOUNT_IN_ARN = re.compile(r"arn:[^:]*:[^:]*:[^:]*:([0-9]{12}):")


class PolicyError(ValueError):
    """A policy document that is not JSON, or not shaped like an IAM policy."""


@dataclass(frozen=True)
class Statement:
    policy: str  # managed policy ARN, or "inline:<name>"
    index: int
    sid: str | None
    effect: str  # "Allow" or "Deny"
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    not_resources: tuple[str, ...] | None = None
    conditions: Mapping[str, object] | None = None
    principal: object = None

    @property
    def label(self) -> str:
        return self.sid or f"#{self.index}"


@dataclass(frozen=True)
class DbResource:
    """Something a database user can be reached through: a cluster, instance or proxy."""

    resource_id: str
    region: str
    account_id: str
    target: str | None = None


@dataclass(frozen=True)
class Principal:
    arn: str
    type: str  # "user" or "role"
    account_id: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnectGrant:
    principal_arn: str
    principal_type: str
    via: str
    target: str | None
    resource_id: str
    db_user: str
    policy: str
    statement: str
    resource_pattern: str
    conditions: Mapping[str, object] | None
    notes: tuple[str, ...] = field(default=())


def load_document(document: str | Mapping[str, object]) -> Mapping[str, object]:
    """A policy document as a mapping; IAM's API returns them URL-encoded JSON."""
    if isinstance(document, Mapping):
        return document
    text = document.strip()
    if text.startswith("%7B") or text.startswith("%7b"):
        text = urllib.parse.unquote(text)
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"policy document is not JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise PolicyError("policy document is not a JSON object")
    return loaded


def statements(document: str | Mapping[str, object], policy: str) -> list[Statement]:
    """The statements of one policy document, with single values made tuples."""
    raw = load_document(document).get("Statement", [])
    items = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(items, list):
        raise PolicyError(f"{policy}: Statement is neither an object nor a list")
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise PolicyError(f"{policy}: statement {index} is not an object")
        effect = str(item.get("Effect", ""))
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"{policy}: statement {index} has Effect {effect!r}")
        out.append(
            Statement(
                policy=policy,
                index=index,
                sid=item.get("Sid") or None,
                effect=effect,
                actions=_strings(item.get("Action")),
                not_actions=_strings(item.get("NotAction")),
                resources=_strings(item.get("Resource")),
                not_resources=_strings(item.get("NotResource")),
                conditions=item.get("Condition") or None,
                principal=item.get("Principal") or item.get("NotPrincipal"),
            )
        )
    return out


def _strings(value: str | Iterable[object] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


@cache
def _glob(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    # IAM knows only * (any run of characters, colons included) and ? (one character).
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if case_insensitive else re.DOTALL)


def glob_match(pattern: str, value: str, *, case_insensitive: bool = False) -> bool:
    return _glob(pattern, case_insensitive).fullmatch(value) is not None


def covers_action(statement: Statement, action: str = CONNECT) -> bool:
    """Does the statement's Action (or NotAction) include `action`? Actions ignore case."""
    if statement.actions is not None:
        return any(glob_match(p, action, case_insensitive=True) for p in statement.actions)
    if statement.not_actions is not None:
        return not any(glob_match(p, action, case_insensitive=True) for p in statement.not_actions)
    return False


def matching_resource(statement: Statement, arn: str) -> str | None:
    """The Resource entry that matches `arn` ("NotResource: ..." when by exclusion), or None."""
    if statement.resources is not None:
        for pattern in statement.resources:
            if glob_match(pattern, arn):
                return pattern
        return None
    if statement.not_resources is not None:
        if any(glob_match(p, arn) for p in statement.not_resources):
            return None
        return "NotResource: " + ", ".join(statement.not_resources)
    return None


def dbuser_arn(resource: DbResource, db_user: str, partition: str = "aws") -> str:
    return (
        f"arn:{partition}:rds-db:{resource.region}:{resource.account_id}:dbuser:"
        f"{resource.resource_id}/{db_user}"
    )


def connect_grants(
    principal: Principal,
    attached: Sequence[tuple[str, Statement]],
    resources: Sequence[DbResource],
) -> list[ConnectGrant]:
    """Every way `principal` may connect, given its statements as (via, statement) pairs.

    Each Allow that covers rds-db:connect gives one grant per known resource it matches,
    with the database user as the statement writes it (a name, or a pattern such as `*`).
    A resource id in the statement that is no known resource (a pattern, or a database
    pgwarden does not monitor) gives one grant with no target.
    """
    connect = [(via, s) for via, s in attached if covers_action(s)]
    allows = [(via, s) for via, s in connect if s.effect == "Allow"]
    denies = [s for _, s in connect if s.effect == "Deny"]
    known_ids = {r.resource_id for r in resources}
    out: list[ConnectGrant] = []
    seen: set[tuple[str | None, ...]] = set()
    for via, allow in allows:
        for resource, db_user in _candidates(allow, resources, known_ids, principal):
            arn = dbuser_arn(resource, db_user)
            pattern = matching_resource(allow, arn)
            if pattern is None:
                continue
            key = (via, resource.target, resource.resource_id, db_user, allow.policy, allow.label)
            blocked, notes = _denied(denies, resource, db_user)
            if blocked or key in seen:
                continue
            seen.add(key)
            out.append(
                ConnectGrant(
                    principal_arn=principal.arn,
                    principal_type=principal.type,
                    via=via,
                    target=resource.target,
                    resource_id=resource.resource_id,
                    db_user=db_user,
                    policy=allow.policy,
                    statement=allow.label,
                    resource_pattern=pattern,
                    conditions=allow.conditions,
                    notes=principal.notes + notes,
                )
            )
    return out


def _candidates(
    allow: Statement, resources: Sequence[DbResource], known_ids: set[str], principal: Principal
) -> Iterable[tuple[DbResource, str]]:
    """(resource, db user) pairs worth testing against one Allow statement."""
    patterns = allow.resources if allow.resources is not None else ("*",)
    for pattern in patterns:
        parsed = _DBUSER_ARN.fullmatch(pattern)
        if parsed:
            _, region, account, resource_id, user = parsed.groups()
        elif pattern == "*" or allow.not_resources is not None:
            region, account, resource_id, user = "*", principal.account_id, "*", "*"
        else:
            continue
        for resource in resources:
            yield resource, user
        if resource_id not in known_ids:
            yield DbResource(resource_id, region, account), user


def _denied(
    denies: Sequence[Statement], resource: DbResource, db_user: str
) -> tuple[bool, tuple[str, ...]]:
    """Whether an unconditional Deny removes (resource, db_user), and notes on the others."""
    notes: list[str] = []
    arn = dbuser_arn(resource, db_user)
    for deny in denies:
        name = f"Deny {deny.policy} {deny.label}"
        if matching_resource(deny, arn) is not None:
            if not deny.conditions:
                return True, ()
            notes.append(f"{name} applies under conditions (not evaluated)")
        elif _touches(deny, resource):
            notes.append(f"{name} excludes some users on this resource")
    return False, tuple(notes)


def _touches(deny: Statement, resource: DbResource) -> bool:
    """Does a Deny name some (not all) users on this resource?"""
    for pattern in deny.resources or ():
        parsed = _DBUSER_ARN.fullmatch(pattern)
        if parsed and glob_match(parsed.group(4), resource.resource_id):
            return True
    return False


@dataclass(frozen=True)
class TrustedPrincipal:
    """One principal a role's trust policy lets assume it."""

    kind: str  # "AWS", "Service", "Federated", "CanonicalUser" or "*" (anyone)
    principal: str
    account_id: str | None
    effect: str
    actions: tuple[str, ...]
    conditions: Mapping[str, object] | None
    external_id_required: bool


def redact_external_ids(document: str | Mapping[str, object]) -> dict[str, object]:
    """The document with every sts:ExternalId condition value replaced by "<redacted>".

    The ExternalId is a shared secret between the role's owner and the caller: pgwarden
    stores and prints only whether one is required.
    """
    return _redact_mapping(load_document(document), False)


def _redact_mapping(node: Mapping[str, object], in_condition: bool) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in node.items():
        if in_condition and key.lower() == "sts:externalid":
            out[key] = REDACTED
        else:
            out[key] = _redact(value, in_condition or key == "Condition")
    return out


def _redact(node: object, in_condition: bool) -> object:
    if isinstance(node, Mapping):
        return _redact_mapping(node, in_condition)
    if isinstance(node, list):
        return [_redact(v, in_condition) for v in node]
    return node


def trusted_principals(
    document: str | Mapping[str, object], role_arn: str
) -> list[TrustedPrincipal]:
    """Who the trust policy lets call sts:AssumeRole* on the role, conditions redacted."""
    doc = redact_external_ids(document)
    out = []
    for statement in statements(doc, role_arn):
        actions = statement.actions or ()
        if not any(covers_action(statement, a) for a in _ASSUME_ACTIONS):
            continue
        external_id = any(
            isinstance(block, Mapping) and any(k.lower() == "sts:externalid" for k in block)
            for block in (statement.conditions or {}).values()
        )
        for kind, name in _principal_entries(statement.principal):
            out.append(
                TrustedPrincipal(
                    kind=kind,
                    principal=name,
                    account_id=_account_of(name) if kind == "AWS" else None,
                    effect=statement.effect,
                    actions=actions,
                    conditions=statement.conditions,
                    external_id_required=external_id and statement.effect == "Allow",
                )
            )
    return out


def _principal_entries(principal: object) -> list[tuple[str, str]]:
    if principal == "*":
        return [("*", "*")]
    if not isinstance(principal, Mapping):
        return []
    entries = []
    for kind, value in principal.items():
        for name in _strings(value) or ():
            entries.append((str(kind), name))
    return entries


def _account_of(name: str) -> str | None:
    if re.fullmatch(r"[0-9]{12}", name):
        return name
    match = _ACCOUNT_IN_ARN.match(name)
    return match.group(1) if match else None
