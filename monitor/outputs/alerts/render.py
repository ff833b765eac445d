"""Findings as Slack Block Kit messages. Pure: data in, payload out.

Everything an attacker can choose (user names, application_name, hosts, role session
names) goes through `escape` before it reaches mrkdwn, so a database user named
`<!channel>` shows as text and pings nobody.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import NotRequired, TypedDict

from monitor.models import Finding
from monitor.outputs.formats import inert

SEVERITY_ICON = {
    "critical": ":red_circle:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":large_blue_circle:",
    "info": ":white_circle:",
}
METADATA_EVENT = "pgwarden_alert"
EVIDENCE_SHOWN = 5
PRINCIPALS_SHOWN = 5
# Slack rejects a section text over 3000 characters.
SECTION_LIMIT = 2900
# A digest names each finding it folds, in sections of up to SECTION_LIMIT characters; Slack
# takes at most 50 blocks in a message, and the header and footer need a few.
DIGEST_SECTIONS = 40
TITLE_LIMIT = 200


class PostMessage(TypedDict):
    """chat.postMessage's arguments, as a sink passes them."""

    text: str
    blocks: list[dict[str, object]]
    metadata: dict[str, object]
    unfurl_links: bool
    unfurl_media: bool
    channel: NotRequired[str]
    thread_ts: NotRequired[str]


@dataclass(frozen=True)
class Message:
    """What a sink sends: the fallback text, the blocks, and where in a thread it goes."""

    text: str
    blocks: list[dict[str, object]]
    severity: str
    fingerprint: str
    kind: str
    channel: str | None = None  # where it must go; None: the channel for its severity

    def to(self, channel: str) -> Message:
        return replace(self, channel=channel)

    def payload(
        self, channel: str | None, thread_ts: str | None, outbox_id: int, claim: str | None = None
    ) -> PostMessage:
        """The exact chat.postMessage arguments: what the console sink prints."""
        event: dict[str, object] = {
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "outbox_id": outbox_id,
        }
        if claim is not None:
            event["claim"] = claim
        body: PostMessage = {
            "text": self.text,
            "blocks": self.blocks,
            # The fingerprint, outbox id and claim travel with the message: after a timeout
            # or a crash between post and mark, the outbox finds it in the channel's history.
            "metadata": {"event_type": METADATA_EVENT, "event_payload": event},
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if channel is not None:
            body["channel"] = channel
        if thread_ts is not None:
            body["thread_ts"] = thread_ts
        return body


def escape(value: object) -> str:
    """An attacker-chosen value inside mrkdwn prose (see `monitor.outputs.formats.inert`)."""
    return inert(value, "slack")


def code(value: object) -> str:
    """An attacker-chosen value as inline code: shown verbatim, never read as markup."""
    return f"`{inert(value, 'slack')}`"


def _header(text: str) -> dict[str, object]:
    """A header holds only pgwarden's own words: attacker-chosen text goes in mrkdwn
    sections, through `inert`, where Slack's own escaping applies."""
    return {"type": "header", "text": {"type": "plain_text", "text": _clip(text, 150)}}


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, object]:
    # verbatim: Slack makes no links of URLs and no mentions of names in this text.
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text), "verbatim": True}}


def render_finding(finding: Finding, kind: str, count: int = 1) -> Message:
    """One finding as a message: new, repeat (in its thread) or resolved (in its thread)."""
    icon = SEVERITY_ICON.get(finding.severity, "")
    title = escape(finding.title)
    if kind == "resolved":
        text = f"Resolved: {finding.title}"
        resolved = [
            _section(f":white_check_mark: *Resolved:* {title}\nThe condition no longer holds."),
            _context(finding),
        ]
        return Message(_plain(text), resolved, finding.severity, finding.fingerprint, kind)
    prefix = "Still happening" if kind == "repeat" else finding.severity.upper()
    text = (
        f"[{finding.severity}] {finding.title}" if kind == "new" else f"{prefix}: {finding.title}"
    )
    where = " · ".join(
        f"*{label}:* {code(value)}"
        for label, value in (
            ("account", finding.account),
            ("target", finding.target),
            ("user", finding.db_user),
        )
        if value
    )
    blocks: list[dict[str, object]] = [
        _header(f"{prefix}: {finding.detector}"),
        _section(
            f"*{title}*\n{icon} *{finding.severity.upper()}* · seen {count}×\n{where}".rstrip()
        ),
        _section(f"*Why:* {escape(finding.why)}"),
    ]
    if finding.evidence:
        lines = [
            f"• {e.time:%Y-%m-%d %H:%M:%S}Z · {escape(e.what)}"
            + (f" · from {code(e.host)}" if e.host else "")
            + (f" · ×{e.count}" if e.count > 1 else "")
            for e in finding.evidence[:EVIDENCE_SHOWN]
        ]
        more = len(finding.evidence) - EVIDENCE_SHOWN
        if more > 0:
            lines.append(f"…and {more} more (pgwarden findings show)")
        blocks.append(_section("*Evidence:*\n" + "\n".join(lines)))
    if finding.stated:
        lines = [f"• {code(p.arn)} ({escape(p.why)})" for p in finding.stated[:PRINCIPALS_SHOWN]]
        blocks.append(_section("*Named by the database's own log (a fact):*\n" + "\n".join(lines)))
    if finding.principals:
        lines = [
            f"• {code(p.arn)} ({p.confidence} confidence: {escape(p.why)})"
            for p in finding.principals[:PRINCIPALS_SHOWN]
        ]
        blocks.append(_section("*Probably behind it (a guess, not a fact):*\n" + "\n".join(lines)))
    blocks.append(_section(f"*What to do:*\n```{escape(finding.remedy)}```"))
    blocks.append(_context(finding))
    return Message(_plain(text), blocks, finding.severity, finding.fingerprint, kind)


def _context(finding: Finding) -> dict[str, object]:
    return {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": f"pgwarden · {escape(finding.detector)} · fingerprint "
                f"{code(finding.fingerprint)}",
                "verbatim": True,
            }
        ],
    }


def _plain(text: str) -> str:
    # The fallback text shows in notifications, where mrkdwn still applies: escape it too.
    return _clip(escape(text), 1000)


def render_digest(
    findings: list[tuple[Finding, str]], reason: str, title: str = "pgwarden digest"
) -> Message:
    """One message in place of a flood: counts, then each folded finding's title.

    `title` is pgwarden's own text (it becomes the header); `reason` may quote a host."""
    by_severity = Counter(f.severity for f, _ in findings)
    resolved = sum(1 for _, kind in findings if kind == "resolved")
    severity_text = ", ".join(f"{n} {s}" for s, n in sorted(by_severity.items()))
    text = f"{title}: {len(findings)} alerts ({severity_text}). {reason}"
    blocks = [
        _header(title),
        _section(
            f"*{len(findings)} alerts* ({severity_text}; {resolved} resolved). {escape(reason)}"
        ),
        *_title_sections(findings),
        _section("Run `pgwarden findings list --status open` for the full list."),
    ]
    worst = min(by_severity, key=lambda s: list(SEVERITY_ICON).index(s)) if by_severity else "info"
    return Message(_plain(text), blocks, worst, "digest", "digest")


def _title_sections(findings: list[tuple[Finding, str]]) -> list[dict[str, object]]:
    """Each finding's title, packed into sections up to Slack's limits, then how many more."""
    sections: list[str] = []
    current = ""
    shown = 0
    for finding, kind in findings:
        line = (
            f"• {SEVERITY_ICON.get(finding.severity, '')} {escape(finding.detector)}: "
            f"{inert(finding.title, 'slack', limit=TITLE_LIMIT)}"
            + (" (resolved)" if kind == "resolved" else "")
        )
        if current and len(current) + 1 + len(line) > SECTION_LIMIT - 100:
            if len(sections) + 1 == DIGEST_SECTIONS:
                break
            sections.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
        shown += 1
    sections.append(current)
    if shown < len(findings):
        sections[-1] += f"\n…and {len(findings) - shown} more"
    return [_section(body) for body in sections if body]


def render_parked(channel: str, error: str, waiting: int, retry: str) -> Message:
    """Said once, through a channel that works: alerts for `channel` wait until it is fixed."""
    text = f"pgwarden: Slack channel {channel} is parked ({error})"
    blocks = [
        _header("pgwarden: a Slack channel is parked"),
        _section(
            f":warning: Slack refused {code(channel)} with {code(error)}, which retrying cannot"
            f" fix. {waiting} alerts for it wait in the outbox; every other channel keeps"
            " delivering."
        ),
        _section(
            "*What to do:* fix the channel (invite the bot, unarchive it, or set another"
            f" channel), then run {code(retry)}."
        ),
    ]
    return Message(_plain(text), blocks, "high", f"parked:{channel}", "parked")


def render_test(severity: str, channel: str) -> Message:
    """`pgwarden alerts test`: proves the token, the channel and the bot's membership."""
    text = f"pgwarden test message for {channel} ({severity} alerts go here)"
    blocks = [_section(f":white_check_mark: {escape(text)}. No action needed.")]
    return Message(text, blocks, severity, "test", "test")
