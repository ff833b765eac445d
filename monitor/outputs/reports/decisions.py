"""`pgwarden report apply-decisions`: what reviewers wrote in the access-review CSV, read back.

Either CSV works: the users CSV (a decision per target and db user) or the principals CSV
(a decision per IAM principal). Every row is checked before anything is applied. A row with
a bad value is reported with its line number and nothing is taken from it; the other rows
are applied, in one transaction. A blank decision is no decision.

- `keep`: the subject's unused findings are suppressed for `[reports].keep_days`, with the
  reviewer's name in the suppression's reason (`unused-db-user` for a db user;
  `unused-iam-grant` and `unused-role` for a principal).
- `revoke`: remembered; detector `revoked-access-present` flags it if the access is still
  there after its grace period.

Each decision is stored (table review_decisions) with the reviewer, notes and the file and
line it came from; a later decision on the same subject replaces it.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, TextIO

from monitor.errors import PgwardenError
from monitor.judge.findings import subject_glob
from monitor.outputs.formats import csv_value
from monitor.store import findings, reports
from monitor.store.sqlite import Store

Kind = Literal["db_user", "principal"]
DECISIONS = ("keep", "revoke")
_PRINCIPAL_ARN = re.compile(r"arn:aws[a-z-]*:(iam|sts)::\d{12}:[\w+=,.@/:-]+")
# Which findings a keep mutes, per kind of subject; the glob takes the escaped subject.
KEEP_SUPPRESSES: dict[Kind, tuple[tuple[str, str], ...]] = {
    "db_user": (("unused-db-user", "{subject}"),),
    "principal": (("unused-iam-grant", "{subject}/*"), ("unused-role", "{subject}")),
}


@dataclass(frozen=True)
class Decision:
    line: int
    kind: Kind
    target: str
    db_user: str
    principal_arn: str
    decision: str
    reviewer: str
    notes: str

    @property
    def subject(self) -> str:
        return f"{self.target}/{self.db_user}" if self.kind == "db_user" else self.principal_arn


@dataclass
class Outcome:
    decisions: list[Decision] = field(default_factory=list)
    blank: int = 0
    problems: list[str] = field(default_factory=list)
    muted: int = 0  # recorded findings a keep suppressed


def read(path: Path) -> Outcome:
    """Parse and check every row; the file itself must be an access-review CSV."""
    try:
        # utf-8-sig: spreadsheets often save CSV with a byte-order mark.
        with open(path, encoding="utf-8-sig", newline="") as f:
            return _read(f, path.name)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PgwardenError(f"{path}: cannot read the decisions CSV: {exc}") from None


def _read(stream: TextIO, name: str) -> Outcome:
    reader = csv.reader(stream)
    header = next(reader, [])
    if "decision" not in header or "reviewer" not in header:
        raise PgwardenError(
            f"{name}: not an access-review CSV: it needs decision and reviewer columns"
        )
    if "target" in header and "db_user" in header:
        kind: Kind = "db_user"
    elif "principal_arn" in header:
        kind = "principal"
    else:
        raise PgwardenError(
            f"{name}: not an access-review CSV: it needs target and db_user, or principal_arn"
        )
    out = Outcome()
    end = reader.line_num
    for values in reader:
        # The line the row starts on: a quoted cell may span lines.
        line, end = end + 1, reader.line_num
        if not any(v.strip() for v in values):
            continue  # an empty line a spreadsheet left at the end
        if len(values) != len(header):
            out.problems.append(f"line {line}: {len(values)} fields, expected {len(header)}")
            continue
        cells = {k: csv_value(v).strip() for k, v in zip(header, values, strict=True)}
        decision = cells["decision"].lower()
        if not decision:
            out.blank += 1
            continue
        found = _check(cells, decision, kind)
        if found:
            out.problems.append(f"line {line}: {found}")
            continue
        out.decisions.append(
            Decision(
                line,
                kind,
                cells.get("target", ""),
                cells.get("db_user", ""),
                cells.get("principal_arn", ""),
                decision,
                cells["reviewer"],
                cells.get("notes", ""),
            )
        )
    return out


def _check(cells: dict[str, str], decision: str, kind: Kind) -> str | None:
    """The first problem with a row, or None."""
    if decision not in DECISIONS:
        return f'decision: "{cells["decision"]}" is not keep or revoke (or blank)'
    if not cells["reviewer"]:
        return "reviewer: required with a decision"
    if kind == "db_user":
        for column in ("target", "db_user"):
            if not cells[column]:
                return f"{column}: empty"
    elif not _PRINCIPAL_ARN.fullmatch(cells["principal_arn"]):
        return f'principal_arn: not an IAM principal ARN: "{cells["principal_arn"][:80]}"'
    return None


def apply(store: Store, path: Path, keep_days: int, now: datetime) -> Outcome:
    """Check every row against the store too, then apply the good ones in one transaction."""
    out = read(path)
    good = []
    for d in out.decisions:
        problem = _unknown(store, d)
        if problem:
            out.problems.append(f"line {d.line}: {problem}")
        else:
            good.append(d)
    out.decisions = good
    until = now + timedelta(days=keep_days)
    with store.transaction() as tx:
        for d in good:
            source = f"{path.name}:{d.line}"
            subject = (d.kind, d.target, d.db_user, d.principal_arn, d.decision, d.reviewer)
            keep = until if d.decision == "keep" else None
            reports.save_decision(tx, (*subject, d.notes), source, now, keep)
            if d.decision != "keep":
                continue
            reason = f"access review: kept by {d.reviewer} ({source})" + (
                f": {d.notes}" if d.notes else ""
            )
            for detector, glob in KEEP_SUPPRESSES[d.kind]:
                pattern = glob.format(subject=subject_glob(d.subject))
                out.muted += findings.add_suppression(tx, detector, pattern, until, reason, now)
    return out


def _unknown(store: Store, d: Decision) -> str | None:
    if d.kind == "db_user":
        known = reports.target_known(store, d.target)
        return None if known else f'target: "{d.target[:80]}" is not a known target'
    known = reports.principal_known(store, d.principal_arn)
    return None if known else f"principal_arn: {d.principal_arn} is not in the grants inventory"
