"""The grants inventory: who may rds-db:connect as which database user, per account.

For each account the stage reads `get_account_authorization_details` (every page), works
out each user's and role's connect grants with `monitor.parsing.policy`, maps them onto
the targets' resource ids, and records the trust policy (who may assume the role) and
`RoleLastUsed` of every role that grants connect, and of the monitor roles.

Grants are stored with the time they were observed: a grant seen again keeps its
`first_observed`; one no longer seen gets `removed_at`. Both kinds of change are returned
so the caller can report them.

IAM actions: iam:GetAccountAuthorizationDetails, iam:GetRole.

Example config: nothing of its own; it uses [[accounts]] and the targets' resource ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.clock import Clock
from monitor.config import Config
from monitor.errors import AwsError
from monitor.parsing.policy import (
    ConnectGrant,
    DbResource,
    Principal,
    Statement,
    TrustedPrincipal,
    connect_grants,
    glob_match,
    redact_external_ids,
    statements,
    trusted_principals,
)
from monitor.store import grants as stored_grants
from monitor.store.grants import GrantRow
from monitor.store.sqlite import Store

log = logging.getLogger(__name__)

GRANT_COLUMNS = (
    "target",
    "db_user",
    "principal_arn",
    "principal_type",
    "via",
    "policy",
    "statement",
    "resource_id",
    "resource_pattern",
    "conditions",
    "notes",
    "account_id",
    "first_observed",
    "observed_at",
)


@dataclass(frozen=True)
class RoleTrust:
    role_arn: str
    account_id: str
    trust_policy: Mapping[str, Any]  # ExternalId values redacted
    trusted: tuple[TrustedPrincipal, ...]
    last_used_at: datetime | None
    last_used_region: str | None


@dataclass
class Inventory:
    account_id: str
    grants: list[ConnectGrant] = field(default_factory=list)
    trust: list[RoleTrust] = field(default_factory=list)
    principals: int = 0


@dataclass
class GrantChanges:
    account_id: str
    current: int = 0
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def authorization_details(
    iam: Any, page_size: int | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Every page of get_account_authorization_details, merged."""
    merged: dict[str, list[dict[str, Any]]] = {
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": [],
        "Policies": [],
    }
    config = {"PageSize": page_size} if page_size else {}
    paginator = iam.get_paginator("get_account_authorization_details")
    for page in paginator.paginate(PaginationConfig=config):
        for key, items in merged.items():
            items.extend(page.get(key, []))
    return merged


def inventory(
    iam: Any,
    account_id: str,
    resources: Sequence[DbResource],
    monitor_roles: Sequence[str] = (),
    page_size: int | None = None,
) -> Inventory:
    """The connect grants and the trust of the granting roles in one account."""
    details = authorization_details(iam, page_size)
    managed = {p["Arn"]: _default_version(p) for p in details["Policies"]}
    groups = {
        g["GroupName"]: _attached(g.get("GroupPolicyList", []), g, managed)
        for g in details["GroupDetailList"]
    }
    result = Inventory(account_id)
    principals: list[tuple[Principal, list[tuple[str, Statement]]]] = []
    for user in details["UserDetailList"]:
        pairs = [("direct", s) for s in _attached(user.get("UserPolicyList", []), user, managed)]
        for group in user.get("GroupList", []):
            pairs.extend((f"group:{group}", s) for s in groups.get(group, []))
        principals.append((_principal(user, "user", account_id), pairs))
    for role in details["RoleDetailList"]:
        pairs = [("direct", s) for s in _attached(role.get("RolePolicyList", []), role, managed)]
        principals.append((_principal(role, "role", account_id), pairs))
    for principal, pairs in principals:
        result.grants.extend(connect_grants(principal, pairs, resources))
    result.principals = len(principals)
    granting = {g.principal_arn for g in result.grants if g.principal_type == "role"}
    granting.update(r for r in monitor_roles if f":{account_id}:" in r)
    for role in details["RoleDetailList"]:
        if role["Arn"] in granting:
            result.trust.append(_trust(iam, role, account_id))
    return result


def _default_version(policy: Mapping[str, Any]) -> list[Statement]:
    for version in policy.get("PolicyVersionList", []):
        if version.get("IsDefaultVersion"):
            return statements(version["Document"], policy["Arn"])
    return []


def _attached(
    inline: Iterable[Mapping[str, Any]], entity: Mapping[str, Any], managed: Mapping[str, Any]
) -> list[Statement]:
    out: list[Statement] = []
    for item in inline:
        out.extend(statements(item["PolicyDocument"], f"inline:{item['PolicyName']}"))
    for item in entity.get("AttachedManagedPolicies", []):
        arn = item["PolicyArn"]
        if arn not in managed:
            # AWS managed policies appear in the details only when attached somewhere; an
            # absent one cannot be evaluated, so say so rather than guess.
            log.warning("managed policy %s not in the authorization details", arn)
            continue
        out.extend(managed[arn])
    return out


def _principal(entity: Mapping[str, Any], kind: str, account_id: str) -> Principal:
    notes = []
    boundary = entity.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
    if boundary:
        notes.append(f"permissions boundary {boundary} not evaluated")
    return Principal(arn=entity["Arn"], type=kind, account_id=account_id, notes=tuple(notes))


def _trust(iam: Any, role: Mapping[str, Any], account_id: str) -> RoleTrust:
    document = role.get("AssumeRolePolicyDocument") or {"Statement": []}
    # RoleLastUsed is only in GetRole's answer, not in the authorization details.
    last_used = iam.get_role(RoleName=role["RoleName"])["Role"].get("RoleLastUsed", {})
    return RoleTrust(
        role_arn=role["Arn"],
        account_id=account_id,
        trust_policy=redact_external_ids(document),
        trusted=tuple(trusted_principals(document, role["Arn"])),
        last_used_at=last_used.get("LastUsedDate"),
        last_used_region=last_used.get("Region"),
    )


def store_inventory(store: Store, found: Inventory, now: datetime) -> GrantChanges:
    """Upsert the account's grants and trust; mark grants not seen now as removed."""
    changes = GrantChanges(found.account_id, current=len(found.grants))
    added, gone = stored_grants.save_inventory(
        store, found.account_id, found.grants, found.trust, now
    )
    changes.added.extend(_describe(g) for g in added)
    changes.removed.extend(f"{p} -> {t or r} as {u} via {pol}" for p, t, r, u, pol in gone)
    for line in changes.added:
        log.info("new connect grant: %s", line, extra={"account": found.account_id})
    for line in changes.removed:
        log.warning("connect grant withdrawn: %s", line, extra={"account": found.account_id})
    return changes


def _describe(grant: ConnectGrant) -> str:
    return (
        f"{grant.principal_arn} -> {grant.target or grant.resource_id} as {grant.db_user}"
        f" via {grant.policy}"
    )


@dataclass
class AccountInventory:
    """One account's inventory run: what changed, or why it could not be read."""

    account_id: str
    principals: int = 0
    grants: int = 0
    changes: GrantChanges | None = None
    error: str | None = None


def ingest(
    store: Store, config: Config, client_for: Callable[[str], Any], clock: Clock
) -> list[AccountInventory]:
    """Inventory every configured account; `client_for(account_id)` gives its IAM client.

    One account's refusal leaves the others, and its own stored grants, as they were.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    resources = stored_grants.resources(store)
    monitor_roles = [a.role_arn for a in config.accounts if a.role_arn]
    results = []
    for account in config.accounts:
        try:
            found = inventory(client_for(account.id), account.id, resources, monitor_roles)
        except (AwsError, ClientError, BotoCoreError) as exc:
            reason = " ".join(str(exc).split())[:200]
            log.warning("grants of account %s not read: %s", account.id, reason)
            results.append(AccountInventory(account.id, error=reason))
            continue
        changes = store_inventory(store, found, clock.now())
        log.info(
            "iam %s: %s principals, %s connect grants, %s new, %s withdrawn",
            account.id,
            found.principals,
            len(found.grants),
            len(changes.added),
            len(changes.removed),
            extra={"account": account.id},
        )
        results.append(AccountInventory(account.id, found.principals, len(found.grants), changes))
    return results


def current_grants(
    store: Store, *, target: str | None = None, db_user: str | None = None
) -> list[GrantRow]:
    """Grants not withdrawn, optionally only those letting someone in as `db_user` on `target`.

    A grant whose db_user is a pattern (`*`, `pg*`) matches every user it covers.
    """
    rows = stored_grants.current_grants(store, target)
    if db_user is not None:
        rows = [r for r in rows if glob_match(r["db_user"], db_user)]
    return rows
