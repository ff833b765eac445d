"""Writing rows out as JSON Lines, JSON, CSV or a text table. Pure apart from the stream.

Principal names, session names and user agents are chosen by whoever makes the call, so a
CSV cell that a spreadsheet would run as a formula (starting with = + - @, or a tab or
carriage return that some spreadsheets strip first) is prefixed with a single quote, as
OWASP's "CSV Injection" advice says.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def printable(text: str) -> str:
    """Control characters as escapes (`\\n`, `\\x1b`), so no cursor moves and no line breaks."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def csv_cell(value: Any) -> str:
    """One CSV cell, safe to open in a spreadsheet."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, dict)):
        value = json.dumps(value, sort_keys=True)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_value(cell: str) -> str:
    """What csv_cell wrote, read back: the quote added before a formula is taken off."""
    if cell.startswith("'") and cell[1:].startswith(_FORMULA_START):
        return cell[1:]
    return cell


def write_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    """RFC 4180: comma-separated, CRLF line ends, quoted where needed."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])


def write_jsonl(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    for row in rows:
        out.write(json.dumps({c: row.get(c) for c in columns}, default=str) + "\n")


def write_json(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    json.dump([{c: row.get(c) for c in columns} for row in rows], out, indent=2, default=str)
    out.write("\n")


def write_table(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], out: TextIO, width: int = 60
) -> None:
    """Aligned columns for a terminal; long cells are cut to `width` characters."""

    def cell(value: Any) -> str:
        if value is None:
            text = ""
        elif isinstance(value, (bool, list, tuple, dict)):
            text = csv_cell(value)
        else:
            text = str(value).replace("\n", " ")
        # Control characters could move a terminal's cursor: show them escaped.
        text = printable(text)
        return text if len(text) <= width else text[: width - 1] + "…"

    table = [list(columns)] + [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    for line in table:
        out.write("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n")


WRITERS = {"csv": write_csv, "jsonl": write_jsonl, "json": write_json, "table": write_table}


def write(fmt: str, rows: Iterable[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    WRITERS[fmt](rows, columns, out)
