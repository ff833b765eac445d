"""CSV that is safe to open in a spreadsheet: RFC 4180, and no cell starts a formula.

User names, application_name, hosts and role session names are chosen by whoever connects.
A cell starting with `=`, `+`, `-`, `@`, tab or CR would be run as a formula by Excel or
Sheets (OWASP "CSV injection"), so such a cell gets a leading apostrophe.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TextIO

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(stream: TextIO, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    writer = csv.writer(stream, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(v) for v in row])
