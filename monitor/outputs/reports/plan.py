"""The revocation plan: SQL to take rds_iam away, and the IAM statements to remove.

pgwarden never runs either file: a person reads it, changes what needs changing, and runs
it. User names, target names and reasons come from the databases, so they are written so
that they cannot leave a comment or a quoted identifier: identifiers through quote_ident,
comments on one line with control characters escaped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TextIO, TypedDict

from monitor.judge.remedy import quote_ident
from monitor.outputs.formats import inert
from monitor.outputs.reports.period import Period

NEVER_RUN = "pgwarden never runs this file: review it, then apply what you agree with."


def comment(text: str) -> str:
    """Text safe inside a `--` comment: one line, control characters shown escaped."""
    return inert(text, "terminal")


class RevokeSql:
    """`REVOKE rds_iam FROM "user";` per revoke recommendation, grouped by target.

    Rows must arrive grouped by target (the users CSV order), so the file is written as
    they come and never held in memory.
    """

    def __init__(self, out: TextIO, period: Period, generated: datetime) -> None:
        self.out = out
        self.target: str | None = None
        self.statements = 0
        out.write(
            f"-- pgwarden access review {comment(period.label)}: revocation plan, generated "
            f"{generated.isoformat(timespec='seconds')}\n-- {NEVER_RUN}\n"
            "-- Run each block on its target, connected as a user allowed to manage roles.\n"
        )

    def add(self, row: Mapping[str, Any]) -> None:
        if row["target"] != self.target:
            self.target = row["target"]
            where = ", ".join(
                comment(str(row[k])) for k in ("account_name", "account_id", "region") if row[k]
            )
            self.out.write(
                f"\n-- target {comment(row['target'])}" + (f" ({where})\n" if where else "\n")
            )
        self.out.write(
            f"-- {comment(row['db_user'])}: {comment(row['reason'])}\n"
            f"REVOKE rds_iam FROM {quote_ident(row['db_user'])};\n"
        )
        self.statements += 1

    def close(self) -> None:
        if not self.statements:
            self.out.write("\n-- Nothing to revoke in this period.\n")


class _Removal(TypedDict):
    """One entry of the IAM plan: a policy statement and the grants it gives."""

    account_id: str
    principal_arn: str
    principal_type: str
    via: str
    policy: str
    statement: str
    resources: list[dict[str, str]]
    grants: list[str]
    because: list[str]


def write_iam_plan(
    rows: Iterable[Mapping[str, Any]], period: Period, generated: datetime, out: TextIO
) -> int:
    """The grants to remove, one entry per policy statement; returns how many entries.

    `rows` come from queries/store/report_plan_grants.sql, ordered so that a statement's
    grants are consecutive. A Resource entry with a wildcard also lets others in: narrow
    it rather than delete it.
    """
    head = {
        "report": period.label,
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "generated": generated.isoformat(timespec="seconds"),
        "note": NEVER_RUN,
    }
    out.write(json.dumps(head, indent=2)[:-2] + ',\n  "removals": [')
    entries = 0
    current: _Removal | None = None
    key: tuple[str, ...] | None = None

    def flush() -> None:
        nonlocal entries
        if current is not None:
            out.write(("," if entries else "") + "\n    " + json.dumps(current, sort_keys=True))
            entries += 1

    for row in rows:
        this = tuple(row[k] for k in ("account_id", "principal_arn", "via", "policy", "statement"))
        if this != key:
            flush()
            key = this
            current = {
                "account_id": row["account_id"],
                "principal_arn": row["principal_arn"],
                "principal_type": row["principal_type"],
                "via": row["via"],
                "policy": row["policy"],
                "statement": row["statement"],
                "resources": [],
                "grants": [],
                "because": [],
            }
        assert current is not None
        pattern = row["resource_pattern"]
        action = "narrow" if any(c in pattern for c in "*?") else "remove"
        resource = {"resource": pattern, "action": action}
        if resource not in current["resources"]:
            current["resources"].append(resource)
        current["grants"].append(f"{row['target'] or row['resource_id']}/{row['db_user']}")
        for why in (
            row["principal_reason"] and f"principal: {row['principal_reason']}",
            row["user_reason"] and f"{row['target']}/{row['db_user']}: {row['user_reason']}",
        ):
            if why and why not in current["because"]:
                current["because"].append(why)
    flush()
    out.write(("\n  " if entries else "") + "]\n}\n")
    return entries
