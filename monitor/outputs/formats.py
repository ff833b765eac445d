"""Attacker-chosen text made inert for each medium, and rows written as JSON Lines, JSON,
CSV or a text table. Pure apart from the stream.

User names, application_name, client host names, principal and session names are chosen by
whoever connects or makes the call. `inert` is the one place that turns such a value into
text for a terminal, Slack mrkdwn, a CSV cell or HTML; every way out goes through it.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal, TextIO

Medium = Literal["terminal", "slack", "csv", "html"]

# A CSV cell a spreadsheet would run as a formula (starting with = + - @, or a tab or
# carriage return that some spreadsheets strip first) gets a leading single quote, as
# OWASP's "CSV Injection" advice says.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Bare mentions Slack may still expand when link_names is on: @channel, @here, @everyone.
_BARE_MENTION = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
# mrkdwn emphasis (`*bold*`, `_italic_`, `~strike~`) only opens or closes next to a
# non-word character, so only a marker there can act: it becomes a look-alike Slack does not
# parse. Inside a word (`rds_iam`) it stays, and a name or a remedy still copies exactly.
_SLACK_MARKUP = re.compile(r"(?<![0-9A-Za-z])[*_~]|[*_~](?![0-9A-Za-z])")
_SLACK_LOOKALIKE = {"*": "\u2217", "_": "\u02cd", "~": "\u223c"}


def inert(value: object, medium: Medium, *, limit: int | None = None) -> str:
    """`value` as text that cannot act in `medium`; cut to `limit` characters, saying so.

    - terminal: control and format characters (newline, ESC, OSC-8 hyperlinks, bidi
      overrides) shown as Python escapes, so nothing moves the cursor or makes a link.
    - slack: the above, a newline shown as ⏎, `&<>` escaped (no `<!channel>` or link can
      form), bare `@channel` broken, `*_~` and backticks as look-alikes, and `://` defused
      so Slack makes no link of a bare URL.
    - csv: a formula start quoted; the rest kept exact, as a CSV is the record.
    - html: escaped for element text and quoted attributes, control characters shown.
    """
    text = "" if value is None else str(value)
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… ({len(text) - limit} more characters)"
    if medium == "csv":
        return "'" + text if text.startswith(_FORMULA_START) else text
    if medium == "slack":
        text = text.replace("\r\n", "\n").replace("\n", "⏎")
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    if medium == "html":
        return html.escape(text, quote=True)
    if medium == "slack":
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        text = _BARE_MENTION.sub(lambda m: "@\u2060" + m.group(1), text)
        text = _SLACK_MARKUP.sub(lambda m: _SLACK_LOOKALIKE[m.group()], text)
        # A backtick would open or close a code span: a look-alike, everywhere.
        return text.replace("`", "\u02cb").replace("://", "[:]//")
    return text


def csv_cell(value: object) -> str:
    """One CSV cell, safe to open in a spreadsheet."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, dict)):
        value = json.dumps(value, sort_keys=True)
    return inert(value, "csv") if isinstance(value, str) else str(value)


def csv_value(cell: str) -> str:
    """What csv_cell wrote, read back: the quote added before a formula is taken off."""
    if cell.startswith("'") and cell[1:].startswith(_FORMULA_START):
        return cell[1:]
    return cell


def write_csv(rows: Iterable[Mapping[str, object]], columns: Sequence[str], out: TextIO) -> None:
    """RFC 4180: comma-separated, CRLF line ends, quoted where needed."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])


def write_jsonl(rows: Iterable[Mapping[str, object]], columns: Sequence[str], out: TextIO) -> None:
    for row in rows:
        out.write(json.dumps({c: row.get(c) for c in columns}, default=str) + "\n")


def write_json(rows: Iterable[Mapping[str, object]], columns: Sequence[str], out: TextIO) -> None:
    json.dump([{c: row.get(c) for c in columns} for row in rows], out, indent=2, default=str)
    out.write("\n")


def write_table(
    rows: Iterable[Mapping[str, object]], columns: Sequence[str], out: TextIO, width: int = 60
) -> None:
    """Aligned columns for a terminal; long cells are cut to `width` characters."""

    def cell(value: object) -> str:
        if value is None:
            text = ""
        elif isinstance(value, (bool, list, tuple, dict)):
            text = csv_cell(value)
        else:
            text = inert(value, "terminal")
        return text if len(text) <= width else text[: width - 1] + "…"

    table = [list(columns)] + [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    for line in table:
        out.write("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n")


WRITERS = {"csv": write_csv, "jsonl": write_jsonl, "json": write_json, "table": write_table}


def write(
    fmt: str, rows: Iterable[Mapping[str, object]], columns: Sequence[str], out: TextIO
) -> None:
    WRITERS[fmt](rows, columns, out)
