from __future__ import annotations

import json

import pytest

from monitor.outputs.alerts.render import escape, render_digest, render_finding
from tests.support.findings import make_finding

INJECTIONS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U012AB3CD>",
    "<https://evil.example|click me>",
    "@channel",
    "```\n*bold* <!channel>```",
    "a&b",
]


@pytest.mark.parametrize("hostile", INJECTIONS)
def test_render_escape_makes_mentions_inert(hostile: str) -> None:
    out = escape(hostile)
    assert "<" not in out and ">" not in out
    assert "`" not in out
    assert "@channel" not in out.lower()
    assert "&" not in out.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")


@pytest.mark.parametrize("hostile", INJECTIONS)
def test_render_hostile_user_pings_nobody(hostile: str) -> None:
    finding = make_finding(user=hostile, host=hostile, subject=f"t/{hostile}")
    for kind in ("new", "repeat", "resolved"):
        message = render_finding(finding, kind)
        dumped = json.dumps([message.text, message.blocks])
        for needle in ("<!channel>", "<!here>", "<!everyone>", "<@U", "<https"):
            assert needle not in dumped
        # Only our own fence opens and closes the remedy block.
        remedy = [b for b in message.blocks if "What to do" in json.dumps(b)]
        if remedy:
            assert remedy[0]["text"]["text"].count("```") == 2


def test_render_new_message_has_every_part() -> None:
    message = render_finding(make_finding(), "new", count=3)
    text = json.dumps(message.blocks)
    for part in (
        "5 failed logins as app_user",
        "MEDIUM",
        "222222222222",
        "orders-writer",
        "*Why:*",
        "*Evidence:*",
        "10.0.0.5",
        "arn:aws:iam::222222222222:role/app",
        "a guess, not a fact",
        'REVOKE rds_iam FROM \\"app_user\\";',
        make_finding().fingerprint,
        "seen 3",
    ):
        assert part in text, part
    assert message.text.startswith("[medium] 5 failed logins")
    payload = message.payload("#c", "123.4", 7)
    assert payload["metadata"]["event_payload"] == {
        "fingerprint": make_finding().fingerprint,
        "kind": "new",
        "outbox_id": 7,
    }
    assert payload["thread_ts"] == "123.4"


def test_render_section_text_clipped_to_slack_limit() -> None:
    finding = make_finding(user="u" * 5000)
    for block in render_finding(finding, "new").blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150


def test_render_digest_counts() -> None:
    findings = [
        (make_finding(subject="a"), "new"),
        (make_finding(subject="b", severity="high"), "new"),
        (make_finding(subject="c"), "resolved"),
    ]
    message = render_digest(findings, "flood")
    text = json.dumps(message.blocks)
    assert "*3 alerts* (1 high, 2 medium; 1 resolved)" in text
    assert message.severity == "high"


def test_render_digest_names_each_title_within_slack_limits() -> None:
    findings = [
        (make_finding(subject=f"s{i}", user=f"user{i:03d}" + "x" * 300), "new") for i in range(500)
    ]
    message = render_digest(findings, "flood")
    assert len(message.blocks) <= 50
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    shown = sum(text.count("5 failed logins as user") for text in sections)
    assert 100 < shown < 500
    assert f"…and {500 - shown} more" in sections[-2]
    assert "5 failed logins as user000" in sections[1]
