from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from monitor.csvsafe import cell, write_csv


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("app_user", "app_user"),
        (-5, "-5"),
        (None, ""),
        (True, "true"),
        (datetime(2026, 1, 2, tzinfo=UTC), "2026-01-02T00:00:00+00:00"),
    ],
)
def test_csvsafe_cell(value: object, expected: str) -> None:
    assert cell(value) == expected


def test_csvsafe_rfc4180_round_trip() -> None:
    out = io.StringIO()
    write_csv(out, ["a", "b"], [['x,"y"\nz', "=1"]])
    assert out.getvalue().endswith("\r\n")
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["a", "b"], ['x,"y"\nz', "'=1"]]
