"""Rows to the terminal or a pipe: a table for people, JSON Lines or CSV for programs."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, Literal

from monitor.csvsafe import write_csv

Format = Literal["table", "json", "csv"]


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str, title: str = "") -> None:
    """Print `rows` (dicts keyed by `columns`) in one of the formats every list command offers."""
    if fmt == "json":
        for row in rows:
            sys.stdout.write(json.dumps({c: row.get(c) for c in columns}, default=str) + "\n")
    elif fmt == "csv":
        write_csv(sys.stdout, columns, ([row.get(c) for c in columns] for row in rows))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title or None, show_lines=False)
        for column in columns:
            table.add_column(column)
        for row in rows:
            # markup=False: user names and hosts are data, never rich markup.
            table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
        # Piped, rich would squeeze the table into 80 columns: give it room instead.
        width = None if sys.stdout.isatty() else 250
        Console(markup=False, highlight=False, width=width).print(table)
