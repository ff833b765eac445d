"""Attacker-chosen text through every renderer: the one `inert` function per medium, and
each way out that uses it (Slack messages, the terminal table, the doctor table, the log)."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import sys

import pytest

from monitor.doctor.checks import CheckResult
from monitor.doctor.render import render_table
from monitor.logs import JsonFormatter, SafeMessages
from monitor.outputs.alerts.render import render_digest, render_finding
from monitor.outputs.formats import csv_value, inert, write_csv, write_table
from tests.support.findings import make_finding

INJECTIONS = {
    "newline": "nl1\nnl2 *Why:* forged",
    "bold": "*bold* _it_ ~strike~",
    "bare-url": "http://evil.test/login",
    "osc8": "\x1b]8;;http://evil.test/\x07click me\x1b]8;;\x07",
    "clear": "\x1b[2J\x1b[H",
    "formula": '=HYPERLINK("http://evil.test","click")',
    "10kB": "A" * 10_000 + "\x1b[2J",
}
CASES = pytest.mark.parametrize("hostile", INJECTIONS.values(), ids=INJECTIONS.keys())
# mrkdwn markup that could act: a marker next to a non-word character.
ACTIVE_MARKUP = re.compile(r"(?<![0-9A-Za-z])[*_~]|[*_~](?![0-9A-Za-z])")


def controls(text: str) -> list[str]:
    return [ch for ch in text if not ch.isprintable()]


@CASES
def test_inert_terminal_shows_control_characters_escaped(hostile: str) -> None:
    out = inert(hostile, "terminal")
    assert controls(out) == []
    if "\x1b" in hostile:
        assert "\\x1b" in out
    assert len(inert(hostile, "terminal", limit=100)) < 150


@CASES
def test_inert_slack_leaves_no_markup_link_or_newline(hostile: str) -> None:
    out = inert(hostile, "slack")
    assert controls(out) == []
    assert "\n" not in out and "://" not in out and "<" not in out
    assert not ACTIVE_MARKUP.search(out), out
    if "\n" in hostile:
        assert "⏎" in out


@CASES
def test_inert_csv_quotes_formulas_and_round_trips(hostile: str) -> None:
    out = io.StringIO()
    write_csv([{"v": hostile}], ["v"], out)
    (cell,) = list(csv.reader(io.StringIO(out.getvalue())))[1]
    assert not cell.startswith(("=", "+", "-", "@"))
    assert csv_value(cell) == hostile  # the record itself is kept exact


@CASES
def test_inert_html_escapes_markup_and_controls(hostile: str) -> None:
    out = inert(hostile, "html")
    assert controls(out) == [] and "<" not in out and '"' not in out


@CASES
def test_inert_every_slack_message_part_is_inert(hostile: str) -> None:
    finding = make_finding(user=hostile, host=hostile, subject=f"t/{hostile[:50]}")
    for message in (
        render_finding(finding, "new"),
        render_digest([(finding, "new")], f"spike from {hostile}"),
    ):
        texts = [message.text]
        for block in message.blocks:
            inner = block.get("text") or {}
            texts.append(inner.get("text", ""))
            texts.extend(e["text"] for e in block.get("elements", []))
        for text in texts:
            assert len(text) <= 3000
            assert "://" not in text and "<" not in text, text[:200]
            assert "nl1\nnl2" not in text and controls(text.replace("\n", "")) == []
            assert "*Why:* forged" not in text and "*bold*" not in text


@CASES
def test_inert_terminal_table_and_doctor_table(hostile: str) -> None:
    out = io.StringIO()
    write_table([{"user": hostile}], ["user"], out)
    assert controls(out.getvalue().replace("\n", "")) == []
    result = CheckResult("database", hostile, "login", "fail", f"refused {hostile}", "retry")
    lines = render_table([result], 100)
    assert all(controls(line) == [] for line in lines)


@CASES
def test_inert_log_messages_escaped(hostile: str) -> None:
    record = logging.makeLogRecord(
        {"name": "monitor.x", "msg": "login failed for %s", "args": (hostile,)}
    )
    assert SafeMessages().filter(record)
    text = logging.Formatter("%(message)s").format(record)
    assert controls(text) == []
    entry = json.loads(JsonFormatter().format(record))
    assert controls(entry["message"]) == []


def test_inert_log_cuts_secret_urls_from_http_client_loggers() -> None:
    hook = "https://hooks.slack.com/services/T000/B000/SECRETsecret"
    request_line = 'https://hooks.slack.com:443 "POST /services/T0/B0/SECRET HTTP/1.1" 200'
    for name, msg, kept in (
        ("slack_sdk.webhook.client", f"Sending a request - url: {hook}, body: {{}}", "hooks"),
        ("urllib3.connectionpool", request_line, "POST /…"),
        ("monitor.outputs.alerts", "token xoxb-1234-5678-SECRET leaked", "xoxb-…"),
    ):
        record = logging.makeLogRecord({"name": name, "msg": msg})
        SafeMessages().filter(record)
        assert "SECRET" not in record.getMessage(), record.getMessage()
        assert kept in record.getMessage()


def test_inert_log_traceback_lines_escaped() -> None:
    from monitor.logs import TextFormatter

    def fail() -> None:
        raise ValueError("bad user \x1b]8;;http://evil.test/\x07x")

    record = logging.makeLogRecord({"name": "monitor.x", "msg": "failed"})
    try:
        fail()
    except ValueError:
        record.exc_info = sys.exc_info()
    for formatter in (TextFormatter("%(message)s"), JsonFormatter()):
        text = formatter.format(record)
        assert "\x1b" not in text and "\x07" not in text
        assert "Traceback" in text
