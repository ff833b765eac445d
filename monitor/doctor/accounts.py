"""Account checks: the monitor role can be assumed with the configured ExternalId, and
`sts:GetCallerIdentity` then answers from the expected account.

IAM: `sts:AssumeRole` on each monitor role (source credentials); GetCallerIdentity needs no
permission.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence

from monitor.config import AccountConfig
from monitor.doctor.checks import DoctorContext, Outcome, fail, group, ok
from monitor.errors import AssumeRoleDenied, SecretError

CHECKS = ("assume-role", "caller-identity")
EXTERNAL_ID_PLACEHOLDER = "EXTERNAL_ID_FROM_THE_ROLE_TRUST_POLICY"
_ASSUMED = re.compile(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.*")


def account_key(account_id: str) -> str:
    """The blocker key of an account whose credentials cannot be had."""
    return f"account:{account_id}"


@group("accounts", CHECKS)
def check_accounts(ctx: DoctorContext) -> None:
    for account in ctx.accounts():
        identity: dict[str, object] = {}

        def assume(
            account: AccountConfig = account, identity: dict[str, object] = identity
        ) -> Outcome:
            return assume_role(ctx, account, identity)

        if ctx.attempt("accounts", account.name, "assume-role", assume).status == "fail":
            key = account_key(account.id)
            where = f"the accounts {account.name} assume-role row"
            ctx.block(key, f"account {account.name} has no credentials", where)
            ctx.skip_if_blocked("accounts", account.name, ["caller-identity"], key)
            continue
        ctx.record("accounts", account.name, "caller-identity", caller_identity(account, identity))


def assume_role(ctx: DoctorContext, account: AccountConfig, identity: dict[str, object]) -> Outcome:
    """One GetCallerIdentity through the account's session: it assumes the role first."""
    if account.external_id:
        try:
            ctx.aws.resolve_secret(account.external_id)
        except SecretError as exc:
            return fail(
                f"{exc}: the ExternalId must match the role's trust policy",
                secret_fix(account.external_id, EXTERNAL_ID_PLACEHOLDER),
            )
    try:
        identity.update(ctx.aws.sts(account.id).get_caller_identity())
    except AssumeRoleDenied as exc:
        where = f"run the fix in account {account.id}"
        if account.external_id:
            where += f"; EXTERNAL_ID is the value of {account.external_id}"
        return fail(
            f"{exc} ({where})",
            trust_policy_fix(account, source_principal(ctx)),
        )
    if account.profile:
        return ok(f"profile {account.profile}")
    if not account.role_arn:
        return ok("no role_arn: the source credentials are used as they are")
    how = f"with ExternalId from {account.external_id}" if account.external_id else "no ExternalId"
    return ok(f"assumed {account.role_arn} ({how})")


def caller_identity(account: AccountConfig, identity: dict[str, object]) -> Outcome:
    found = str(identity.get("Account", ""))
    arn = str(identity.get("Arn", ""))
    if found == account.id:
        return ok(f"account {found} as {arn}")
    role = account.role_arn or f"arn:aws:iam::{account.id}:role/pg-monitor-role"
    return fail(
        f"the credentials are in account {found} ({arn}), not {account.id}",
        f'role_arn = "{role}"  # in the [[accounts]] table of {account.name}',
    )


def source_principal(ctx: DoctorContext) -> str:
    """Who the source credentials are, as a trust policy names them."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        arn = ctx.aws.sts().get_caller_identity()["Arn"]
    except (BotoCoreError, ClientError):  # it only fills in a fix: a placeholder will do
        return "arn:aws:iam::MANAGEMENT_ACCOUNT_ID:role/PGWARDEN_ROLE"
    return principal_arn(arn)


def principal_arn(caller_arn: str) -> str:
    """An assumed-role session ARN names its role; a trust policy needs the role's ARN."""
    match = _ASSUMED.fullmatch(caller_arn)
    if match:
        partition, account, role = match.groups()
        return f"arn:{partition}:iam::{account}:role/{role}"
    return caller_arn


def role_name(role_arn: str | None) -> str:
    return role_arn.rsplit("/", 1)[-1] if role_arn else "pg-monitor-role"


def trust_policy_fix(account: AccountConfig, principal: str) -> str:
    statement: dict[str, object] = {
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "sts:AssumeRole",
    }
    if account.external_id:
        # Never the value itself: the doctor's output is pasted into tickets.
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": "EXTERNAL_ID"}}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]}, separators=(",", ":"))
    return (
        f"aws iam update-assume-role-policy --role-name {role_name(account.role_arn)} "
        f"--policy-document {shlex.quote(policy)}"
    )


def role_policy_fix(role_arn: str | None, name: str, actions: Sequence[str], resource: str) -> str:
    """Allow `actions` on `resource` to a monitor role (by default pg-monitor-role)."""
    statement = {"Effect": "Allow", "Action": list(actions), "Resource": resource}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]}, separators=(",", ":"))
    return (
        f"aws iam put-role-policy --role-name {role_name(role_arn)} --policy-name {name} "
        f"--policy-document {shlex.quote(policy)}"
    )


def secret_fix(ref: str, placeholder: str) -> str:
    """Put a value behind a secret reference (never printing the value)."""
    if ref.startswith("env:"):
        return f"export {ref[4:]}={placeholder}"
    return f"aws secretsmanager put-secret-value --secret-id {ref} --secret-string {placeholder}"
