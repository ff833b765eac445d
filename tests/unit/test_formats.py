from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from monitor.outputs.formats import csv_cell, write_csv, write_table


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://evil.example")', '\'=HYPERLINK("http://evil.example")'),
        ("+1-555", "'+1-555"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("alice", "alice"),
        ("a=b", "a=b"),
        (None, ""),
        (True, "true"),
        (-5, "-5"),
        (["x"], '["x"]'),
        (datetime(2026, 1, 2, tzinfo=UTC), "2026-01-02T00:00:00+00:00"),
    ],
)
def test_csv_cell_escapes_formulas(value: object, expected: str) -> None:
    assert csv_cell(value) == expected


def test_write_csv_round_trips_through_a_reader() -> None:
    out = io.StringIO()
    write_csv([{"a": "=cmd", "b": 'x,"y"\nz'}], ["a", "b"], out)
    assert out.getvalue().startswith("a,b\r\n")
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [["a", "b"], ["'=cmd", 'x,"y"\nz']]


def test_write_table_shows_control_characters_escaped() -> None:
    out = io.StringIO()
    write_table([{"a": "x\x1b[2Jy"}], ["a"], out)
    assert "\x1b" not in out.getvalue()
    assert "x\\x1b[2Jy" in out.getvalue()
