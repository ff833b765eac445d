from __future__ import annotations

import pytest

from monitor.sources.trailsql import render

BASE = {
    "day_from": "2026/11/01",
    "day_to": "2026/11/02",
    "since": "2026-11-01T00:00:00Z",
    "until": "2026-11-03T00:00:00Z",
    "accounts": None,
    "regions": None,
    "roles": ["arn:aws:iam::222222222222:role/pg-monitor-role"],
}


def test_render_duckdb_keeps_parameters_bound() -> None:
    text, bound = render("assume_role", BASE, "duckdb")
    assert "$since" in text
    assert "2026-11-01T00:00:00Z" not in text
    assert bound["since"] == "2026-11-01T00:00:00Z"
    assert bound["roles_0"] == BASE["roles"][0]  # type: ignore[index]


def test_render_unknown_partition_list_becomes_true() -> None:
    text, bound = render("assume_role", BASE, "duckdb")
    assert "account IN" not in text
    assert "region IN" not in text
    assert not any(k.startswith(("accounts", "regions")) for k in bound)


def test_render_partition_list_is_one_placeholder_per_value() -> None:
    params = {**BASE, "accounts": ["222222222222", "333333333333"]}
    text, bound = render("assume_role", params, "duckdb")
    assert "account IN ($accounts_0, $accounts_1)" in text
    assert bound["accounts_1"] == "333333333333"


def test_render_empty_role_list_selects_nothing() -> None:
    text, _ = render("assume_role", {**BASE, "roles": []}, "duckdb")
    assert "FALSE" in text.upper()
    assert "$roles" not in text


def test_render_athena_escapes_literals_and_names_the_table() -> None:
    params = {**BASE, "roles": ["arn:aws:iam::1:role/x' OR '1'='1"]}
    text, bound = render("assume_role", params, "athena", database="audit", table="org_trail")
    assert bound == {}
    assert "'arn:aws:iam::1:role/x'' OR ''1''=''1'" in text
    assert "FROM audit.org_trail" in text
    assert "\"timestamp\" BETWEEN '2026/11/01' AND '2026/11/02'" in text


@pytest.mark.parametrize("bad", ["trail; DROP TABLE x", "a.b", "", "x y"])
def test_render_athena_rejects_a_bad_table_name(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid Athena name"):
        render("assume_role", BASE, "athena", database="default", table=bad)


def test_render_missing_parameter_is_named() -> None:
    params = {k: v for k, v in BASE.items() if k != "until"}
    with pytest.raises(ValueError, match="until"):
        render("assume_role", params, "duckdb")


def test_render_list_where_one_value_belongs_is_refused() -> None:
    with pytest.raises(ValueError, match="since"):
        render("assume_role", {**BASE, "since": ["a", "b"]}, "duckdb")
