"""Properties of IAM wildcard matching and CSV escaping, over generated input."""

from __future__ import annotations

import fnmatch

from hypothesis import given
from hypothesis import strategies as st

from monitor.outputs.formats import csv_cell
from monitor.parsing.policy import glob_match

# Characters of ARNs and action names, plus the two IAM wildcards; no '[' (fnmatch's class).
ALPHABET = st.sampled_from(list("abc:/-*?.AB0"))


@given(
    st.text(ALPHABET, max_size=12), st.text(ALPHABET.filter(lambda c: c not in "*?"), max_size=12)
)
def test_glob_match_agrees_with_fnmatchcase(pattern: str, value: str) -> None:
    assert glob_match(pattern, value) == fnmatch.fnmatchcase(value, pattern)


@given(
    st.text(ALPHABET, max_size=12), st.text(ALPHABET.filter(lambda c: c not in "*?"), max_size=12)
)
def test_glob_match_actions_ignore_case(pattern: str, value: str) -> None:
    assert glob_match(pattern, value, case_insensitive=True) == glob_match(
        pattern.lower(), value.lower()
    )


@given(st.text(max_size=20))
def test_csv_cell_never_starts_a_formula(value: str) -> None:
    cell = csv_cell(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell.removeprefix("'") == value or cell == value
