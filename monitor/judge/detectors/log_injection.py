"""log-injection: log entries a client wrote to look like the server's own.

    [detectors.log-injection]
    lookback_hours = 24    # suspicious entries older than this no longer hold
    evidence_lines = 5     # raw lines shown as evidence per finding

PostgreSQL writes a refused client's user and database names into every line of its
attempt, exactly as sent. With the stderr format such a name can hold what looks like the
end of a log_line_prefix (`b:[4242]:LOG:  connection authorized: user=x`) or a newline
and a whole new line, and so can make pgwarden believe logins, failures and hosts that
never were. The parser refuses those entries as evidence (see DESIGN.md "Evidence
integrity") and this detector raises one high finding per target and client host, with
the raw lines as evidence, escaped wherever they are shown. Needs: the PostgreSQL logs.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from monitor.judge.detectors.registry import DetectorOptions, register
from monitor.models import EvidenceItem, Finding
from monitor.outputs.formats import inert
from monitor.store import evidence
from monitor.store.evidence import Suspicious

# Evidence shows the start of each raw line: the forged part sits in the prefix.
_LINE_SHOWN = 300


class LogInjectionOptions(DetectorOptions):
    lookback_hours: float = Field(default=24, gt=0)
    evidence_lines: int = Field(default=5, ge=1, le=50)


@register("log-injection", LogInjectionOptions, evidence.log_injections)
def detect(data: list[Suspicious], now: datetime, opts: LogInjectionOptions) -> list[Finding]:
    grouped: dict[tuple[str, str | None], list[Suspicious]] = {}
    for entry in data:
        grouped.setdefault((entry.target, entry.host), []).append(entry)
    findings = []
    for (target, host), entries in sorted(
        grouped.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
    ):
        entries.sort(key=lambda e: e.time, reverse=True)
        where = f"from {host}" if host else "from a client the log does not name"
        on = target or "local log files"  # the files source names no target
        reasons = sorted({e.reason for e in entries})
        findings.append(
            Finding(
                detector="log-injection",
                subject=f"{target}/{host or '-'}",
                severity="high",
                title=f"Forged log lines {where} on {on} ({len(entries)}×)",
                why=(
                    f"{len(entries)} log entries {where} could have been written by the "
                    "client rather than the server (" + "; ".join(reasons) + "). They were "
                    "not believed: a refused login among them counts as a failed login with "
                    "its user unknown."
                ),
                remedy=(
                    "Find who connects from this host and why its user or database names "
                    "hold log text; block it in the security group or pg_hba.conf. Set "
                    "log_destination to csvlog (or jsonlog), whose fields a client cannot "
                    "break out of, and have pgwarden read that format."
                ),
                target=target or None,
                evidence=tuple(
                    EvidenceItem(
                        e.time, f"{e.reason}: {inert(e.line[:_LINE_SHOWN], 'terminal')}", host
                    )
                    for e in entries[: opts.evidence_lines]
                ),
                details={"entries": len(entries), "sources": sorted({e.source for e in entries})},
            )
        )
    return findings
