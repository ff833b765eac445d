"""One CSV row from a raw record of the report's SQL: the facts, the advice, the cells. Pure."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from monitor.judge.detectors.unused_db_user import UnusedDbUserOptions
from monitor.judge.detectors.unused_iam_grant import UnusedIamGrantOptions
from monitor.outputs.reports.recommend import (
    GrantFacts,
    Kept,
    PrincipalFacts,
    UserFacts,
    advise_principal,
    advise_user,
)
from monitor.store.sqlite import from_text

USER_COLUMNS = (
    "account_id", "account_name", "region", "target", "db_user",
    "rds_iam", "db_roles", "superuser",
    "iam_principals_with_connect",
    "roles_assumed_in_period", "sessions_in_period",
    "distinct_client_hosts", "distinct_applications",
    "first_seen", "last_seen", "days_since_last_seen",
    "auth_failures_in_period", "open_findings",
    "recommendation", "reason",
    "reviewer", "decision", "notes",
)  # fmt: skip
PRINCIPAL_COLUMNS = (
    "principal_arn", "type", "account", "can_connect_as", "last_assumed", "last_login_as_user",
    "failed_logins", "recommendation", "reason", "reviewer", "decision",
)  # fmt: skip


def user_row(
    raw: Mapping[str, Any], accounts: Mapping[str, str], end: datetime, opts: UnusedDbUserOptions
) -> dict[str, Any]:
    principals = _split(raw["arns"])
    last = report_time(raw["last"])
    rds_iam = None if raw["rds_iam"] is None else bool(raw["rds_iam"])
    superuser = bool(raw["superuser"] or raw["rds_superuser"])
    facts = UserFacts(
        target=raw["target"],
        db_user=raw["db_user"],
        rds_iam=rds_iam,
        superuser=superuser,
        principals=len(principals),
        sessions=int(raw["sessions"]),
        auth_failures=int(raw["failures"]),
        open_findings=int(raw["open_findings"]),
        last_used=last,
        role_first_seen=report_time(raw["role_first_seen"]),
        watched_since=report_time(raw["watched_since"]),
        kept=_kept(raw),
    )
    advice = advise_user(facts, end, opts)
    return {
        "account_id": raw["account_id"],
        "account_name": accounts.get(raw["account_id"] or ""),
        "region": raw["region"],
        "target": raw["target"],
        "db_user": raw["db_user"],
        "rds_iam": rds_iam,
        "db_roles": ";".join(json.loads(raw["member_of"])) if raw["member_of"] else None,
        "superuser": superuser if rds_iam is not None else None,
        "iam_principals_with_connect": ";".join(principals),
        "roles_assumed_in_period": ";".join(_split(raw["assumed"])),
        "sessions_in_period": facts.sessions,
        "distinct_client_hosts": int(raw["hosts"]),
        "distinct_applications": int(raw["apps"]),
        "first_seen": report_time(raw["first"]),
        "last_seen": last,
        "days_since_last_seen": (end - last).days if last else None,
        "auth_failures_in_period": facts.auth_failures,
        "open_findings": facts.open_findings,
        "recommendation": advice.recommendation,
        "reason": advice.reason,
    }


def principal_row(
    group: list[dict[str, Any]],
    end: datetime,
    history: datetime | None,
    opts: UnusedIamGrantOptions,
    failed: Mapping[tuple[str, str, str], int] | None = None,
) -> dict[str, Any]:
    """One principal's row; `failed` counts failed logins by `principal_key` of the caller
    the database's own log names."""
    first = group[0]
    grants = tuple(
        GrantFacts(
            g["target"],
            g["resource_id"],
            g["db_user"],
            report_time(g["first_observed"]) or end,
            report_time(g["last_login"]),
        )
        for g in group
    )
    last_assumed = report_time(first["last_assumed"])
    facts = PrincipalFacts(
        first["principal_arn"],
        first["principal_type"],
        first["account_id"],
        grants,
        last_assumed,
        _kept(first),
    )
    advice = advise_principal(facts, end, history, opts)
    logins = [g.last_login for g in grants if g.last_login]
    return {
        "principal_arn": facts.arn,
        "type": facts.type,
        "account": facts.account,
        "can_connect_as": ";".join(sorted({g.label for g in grants})),
        "last_assumed": last_assumed,
        "last_login_as_user": max(logins, default=None),
        "failed_logins": (failed or {}).get(principal_key(facts.arn) or ("", "", ""), 0),
        "recommendation": advice.recommendation,
        "reason": advice.reason,
    }


def principal_key(arn: str) -> tuple[str, str, str] | None:
    """(account, user|role, name) of an IAM user or role ARN, or of an assumed-role session
    ARN (the caller an iam-db-auth-error line names), so a session counts for its role.

    A role or user name is unique in its account whatever its path, and the session ARN
    has no path: the name is the last part of the ARN.
    """
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    service, account, resource = parts[2], parts[4], parts[5].split("/")
    if service == "sts" and resource[0] == "assumed-role" and len(resource) == 3:
        return account, "role", resource[1]
    if service == "iam" and resource[0] in ("role", "user") and len(resource) >= 2:
        return account, resource[0], resource[-1]
    return None


def failed_by_principal(by_caller: Mapping[str, int]) -> dict[tuple[str, str, str], int]:
    """Failed logins per principal key, from the counts per caller ARN."""
    out: dict[tuple[str, str, str], int] = {}
    for arn, n in by_caller.items():
        key = principal_key(arn)
        if key is not None:
            out[key] = out.get(key, 0) + n
    return out


def _kept(raw: Mapping[str, Any]) -> Kept | None:
    until = report_time(raw["kept_until"])
    return Kept(raw["kept_by"], until) if raw["kept_by"] and until else None


def _split(joined: object) -> list[str]:
    return sorted(set(joined.split("\n"))) if isinstance(joined, str) and joined else []


def report_time(value: object) -> datetime | None:
    """A stored time as UTC to the second (the CSVs' ISO-8601), or None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    moment = from_text(str(value))
    return moment.astimezone(UTC).replace(microsecond=0) if moment else None
