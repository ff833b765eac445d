"""One finding as text (`pgwarden findings show`): why, the evidence, the linked principals
and what to do. Pure: the lines are returned, the caller prints them.

Every value may hold what a client chose (user names, host names, application_name), so each
is shown with control characters escaped and cut at `SHOW_LIMIT` characters, saying so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from monitor.models import Finding
from monitor.outputs.formats import inert

# A value is shown up to this many characters, then how many more there are.
SHOW_LIMIT = 2000


def finding_json(lifecycle: Mapping[str, object], finding: Finding) -> str:
    """The lifecycle columns and the finding, as one indented JSON object."""
    return json.dumps({**lifecycle, "finding": finding.to_json()}, default=str, indent=2)


def finding_lines(lifecycle: Mapping[str, object], finding: Finding) -> list[str]:
    """The lifecycle columns, then the finding's subject, reasons, evidence and remedy."""
    lines = [f"{key:12} {_show(value)}" for key, value in lifecycle.items()]
    for label, value in (
        ("account", finding.account),
        ("target", finding.target),
        ("db user", finding.db_user),
    ):
        if value:
            lines.append(f"{label:12} {_show(value)}")
    lines.append(f"\nwhy: {_show(finding.why)}\n\nevidence:")
    for e in finding.evidence:
        host = f" from {_show(e.host)}" if e.host else ""
        lines.append(f"  {e.time.isoformat()}  {_show(e.what)}{host}  x{e.count}")
    if finding.stated:
        lines.append("\nnamed by the database's own log (a fact):")
        lines += [f"  {_show(p.arn)}  {_show(p.why)}" for p in finding.stated]
    if finding.principals:
        lines.append("\nprobably behind it (a guess, not a fact):")
        lines += [f"  {_show(p.arn)}  [{p.confidence}] {_show(p.why)}" for p in finding.principals]
    lines.append(f"\nwhat to do:\n  {_show(finding.remedy)}")
    return lines


def _show(value: object) -> str:
    return inert(value, "terminal", limit=SHOW_LIMIT)
