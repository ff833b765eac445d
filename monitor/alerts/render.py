"""Findings as Slack Block Kit messages. Pure: data in, payload out.

Everything an attacker can choose (user names, application_name, hosts, role session
names) goes through `escape` before it reaches mrkdwn, so a database user named
`<!channel>` shows as text and pings nobody.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from monitor.models import Finding

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
# Bare mentions Slack may still expand when link_names is on: @channel, @here, @everyone.
_BARE_MENTION = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Message:
    """What a sink sends: the fallback text, the blocks, and where in a thread it goes."""

    text: str
    blocks: list[dict[str, Any]]
    severity: str
    fingerprint: str
    kind: str

    def payload(
        self, channel: str | None, thread_ts: str | None, outbox_id: int, claim: str | None = None
    ) -> dict[str, Any]:
        """The exact chat.postMessage arguments: what the console sink prints."""
        event: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "kind": self.kind,
            "outbox_id": outbox_id,
        }
        if claim is not None:
            event["claim"] = claim
        body: dict[str, Any] = {
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
    """Make an attacker-chosen string inert in mrkdwn.

    `&`, `<` and `>` are the three characters Slack asks to be escaped: without `<` no
    `<!channel>`, `<!here>`, `<@U123>` or link can form. Bare `@channel` gets a zero-width
    joiner, and backticks become a look-alike so no code fence can be opened or closed.
    """
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _BARE_MENTION.sub(lambda m: "@\u2060" + m.group(1), text)
    return text.replace("`", "\u02cb")


def _plain_text(value: str, limit: int) -> dict[str, Any]:
    """A plain_text object: Slack expands no mentions there, but keep the angle brackets out
    anyway so no client, log viewer or copy-paste can turn them into one."""
    text = value.replace("<", "\u2039").replace(">", "\u203a")
    return {"type": "plain_text", "text": _clip(text, limit)}


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}}


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
        f"*{label}:* {escape(value)}"
        for label, value in (
            ("account", finding.account),
            ("target", finding.target),
            ("user", finding.db_user),
        )
        if value
    )
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": _plain_text(f"{prefix}: {finding.title}", 150),
        },
        _section(f"{icon} *{finding.severity.upper()}* · seen {count}×\n{where}".rstrip()),
        _section(f"*Why:* {escape(finding.why)}"),
    ]
    if finding.evidence:
        lines = [
            f"• {e.time:%Y-%m-%d %H:%M:%S}Z · {escape(e.what)}"
            + (f" · from `{escape(e.host)}`" if e.host else "")
            + (f" · ×{e.count}" if e.count > 1 else "")
            for e in finding.evidence[:EVIDENCE_SHOWN]
        ]
        more = len(finding.evidence) - EVIDENCE_SHOWN
        if more > 0:
            lines.append(f"…and {more} more (pgwarden findings show)")
        blocks.append(_section("*Evidence:*\n" + "\n".join(lines)))
    if finding.principals:
        lines = [
            f"• `{escape(p.arn)}` ({p.confidence} confidence: {escape(p.why)})"
            for p in finding.principals[:PRINCIPALS_SHOWN]
        ]
        blocks.append(_section("*Probably behind it (a guess, not a fact):*\n" + "\n".join(lines)))
    blocks.append(_section(f"*What to do:*\n```{escape(finding.remedy)}```"))
    blocks.append(_context(finding))
    return Message(_plain(text), blocks, finding.severity, finding.fingerprint, kind)


def _context(finding: Finding) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": f"pgwarden · {escape(finding.detector)} · fingerprint "
                f"`{escape(finding.fingerprint)}`",
            }
        ],
    }


def _plain(text: str) -> str:
    # The fallback text shows in notifications, where mrkdwn still applies: escape it too.
    return _clip(escape(text), 1000)


def render_digest(findings: list[tuple[Finding, str]], reason: str) -> Message:
    """One message with counts, in place of a flood."""
    by_severity = Counter(f.severity for f, _ in findings)
    by_detector = Counter(f.detector for f, _ in findings)
    resolved = sum(1 for _, kind in findings if kind == "resolved")
    severity_text = ", ".join(f"{n} {s}" for s, n in sorted(by_severity.items()))
    detector_lines = "\n".join(f"• {escape(d)}: {n}" for d, n in by_detector.most_common(10))
    text = f"pgwarden digest: {len(findings)} alerts ({severity_text})"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "pgwarden digest"}},
        _section(
            f"*{len(findings)} alerts* ({severity_text}; {resolved} resolved). "
            f"{escape(reason)}\n{detector_lines}"
        ),
        _section("Run `pgwarden findings list --status open` for the full list."),
    ]
    worst = min(by_severity, key=lambda s: list(SEVERITY_ICON).index(s)) if by_severity else "info"
    return Message(_plain(text), blocks, worst, "digest", "digest")


def render_test(severity: str, channel: str) -> Message:
    """`pgwarden alerts test`: proves the token, the channel and the bot's membership."""
    text = f"pgwarden test message for {channel} ({severity} alerts go here)"
    blocks = [_section(f":white_check_mark: {escape(text)}. No action needed.")]
    return Message(text, blocks, severity, "test", "test")
