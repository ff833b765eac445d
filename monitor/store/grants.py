"""The grants inventory: who may rds-db:connect as which db user, and each role's trust."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from monitor import sql
from monitor.parsing.policy import ConnectGrant, DbResource
from monitor.store.sqlite import Conn, Store, to_text

if TYPE_CHECKING:
    from monitor.sources.iam import RoleTrust

# A withdrawn grant: principal ARN, target, resource id, db user, policy.
Withdrawn = tuple[str, str | None, str, str, str]


def save_inventory(
    store: Store,
    account_id: str,
    grants: Sequence[ConnectGrant],
    trust: Sequence[RoleTrust],
    now: datetime,
) -> tuple[list[ConnectGrant], list[Withdrawn]]:
    """Upsert an account's grants and trust in one transaction; grants not seen now are
    withdrawn. Returns the grants seen for the first time, and those withdrawn."""
    observed = to_text(now)
    upsert, first_observed = sql.load("store/upsert_grant"), sql.load("store/grant_first_observed")
    added = []
    with store.transaction() as conn:
        for grant in grants:
            row = _grant_row(grant, account_id, observed)
            conn.execute(upsert, row)
            if conn.execute(first_observed, row).fetchall()[0][0] == observed:
                added.append(grant)
        gone = conn.execute(
            sql.load("store/grants_withdraw"), {"now": observed, "account": account_id}
        ).fetchall()
        for role in trust:
            conn.execute(sql.load("store/upsert_role_trust"), _trust_row(role, observed))
    return added, [tuple(g) for g in gone]


def _grant_row(grant: ConnectGrant, account_id: str, observed: str) -> dict[str, object]:
    return {
        "account_id": account_id,
        "principal_arn": grant.principal_arn,
        "principal_type": grant.principal_type,
        "via": grant.via,
        "target": grant.target,
        "resource_id": grant.resource_id,
        "db_user": grant.db_user,
        "policy": grant.policy,
        "statement": grant.statement,
        "resource_pattern": grant.resource_pattern,
        "conditions": json.dumps(grant.conditions, sort_keys=True) if grant.conditions else None,
        "notes": json.dumps(list(grant.notes)),
        "observed_at": observed,
    }


def _trust_row(trust: RoleTrust, observed: str) -> dict[str, object]:
    trusted = [
        {
            "kind": t.kind,
            "principal": t.principal,
            "account_id": t.account_id,
            "effect": t.effect,
            "external_id_required": t.external_id_required,
            "conditions": t.conditions,
        }
        for t in trust.trusted
    ]
    return {
        "role_arn": trust.role_arn,
        "account_id": trust.account_id,
        "trust_policy": json.dumps(trust.trust_policy, sort_keys=True),
        "trusted_principals": json.dumps(trusted, sort_keys=True),
        "last_used_at": to_text(trust.last_used_at) if trust.last_used_at else None,
        "last_used_region": trust.last_used_region,
        "observed_at": observed,
    }


class GrantRow(TypedDict):
    """A grant as stored, its JSON columns decoded."""

    id: int
    account_id: str
    principal_arn: str
    principal_type: str
    via: str
    target: str | None
    resource_id: str
    db_user: str
    policy: str
    statement: str
    resource_pattern: str
    conditions: dict[str, object] | None
    notes: list[str]
    first_observed: str
    observed_at: str
    removed_at: str | None


def current_grants(store: Store, target: str | None = None) -> list[GrantRow]:
    """Grants not withdrawn (on `target`, if given)."""
    cursor = store.conn.execute(sql.load("store/grants_current"), {"target": target})
    return [
        GrantRow(
            id=r[0], account_id=r[1], principal_arn=r[2], principal_type=r[3], via=r[4],
            target=r[5], resource_id=r[6], db_user=r[7], policy=r[8], statement=r[9],
            resource_pattern=r[10], conditions=json.loads(r[11]) if r[11] else None,
            notes=json.loads(r[12]), first_observed=r[13], observed_at=r[14], removed_at=r[15],
        )
        for r in cursor.fetchall()
    ]  # fmt: skip


def resources(store: Store) -> list[DbResource]:
    """The targets whose resource id is known (discovery fills `resource_id`)."""
    rows = store.conn.execute(sql.load("store/target_resources")).fetchall()
    return [DbResource(r[0], r[1], r[2], r[3]) for r in rows]


def granting_roles(conn: Conn) -> set[str]:
    """Roles that may rds-db:connect somewhere, by the grants not withdrawn."""
    return {r for (r,) in conn.execute(sql.load("store/granting_roles"))}
