"""dashboards/pgwarden.json: every PromQL expression parses and names only pgwarden's metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import SystemClock
from monitor.outputs.metrics import Metrics
from monitor.store.sqlite import Store

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "pgwarden.json"
FUNCTIONS = {
    "abs", "avg", "avg_over_time", "bottomk", "ceil", "changes", "clamp_max", "clamp_min",
    "count", "delta", "deriv", "floor", "histogram_quantile", "increase", "irate", "max",
    "max_over_time", "min", "min_over_time", "rate", "resets", "round", "sort", "sort_desc",
    "sum", "time", "timestamp", "topk", "vector",
}  # fmt: skip
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(\s*[\w\s,]*\)")
TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_:][\w:]*)|(?P<number>\d+(?:\.\d+)?)"
    r"|(?P<op>==|!=|>=|<=|[-+*/%^<>(),]))"
)


def expressions(panels: list[dict[str, Any]]) -> list[str]:
    out = []
    for panel in panels:
        out += [t["expr"] for t in panel.get("targets", [])]
        out += expressions(panel.get("panels", []))
    return out


def metric_names(expr: str) -> set[str]:
    """A small PromQL reader: the metric names in `expr`; AssertionError if it won't parse."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    text = re.sub(r"\{\s*(\w+\s*(=~|!~|!=|=)\s*\"\"\s*,?\s*)*\}", "", text)  # label matchers
    text = re.sub(r"\[\d+[smhdwy]\]", "", text)  # range selectors
    text = GROUPING.sub(r"\1", text)  # label lists of aggregations and joins
    names, depth, pos = set(), 0, 0
    tokens = []
    while pos < len(text.rstrip()):
        match = TOKEN.match(text, pos)
        assert match, f"cannot read {expr!r} at {text[pos:]!r}"
        tokens.append(match)
        pos = match.end()
    for i, token in enumerate(tokens):
        if token["op"] == "(":
            depth += 1
        elif token["op"] == ")":
            depth -= 1
            assert depth >= 0, f"unbalanced ) in {expr!r}"
        name = token["name"]
        if not name or name in KEYWORDS:
            continue
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        # A call: `f(`, or an aggregation with its grouping first, `sum by (le) (`.
        calls = after is not None and (after["op"] == "(" or after["name"] in {"by", "without"})
        if calls:
            assert name in FUNCTIONS, f"unknown PromQL function {name} in {expr!r}"
        else:
            names.add(name)
    assert depth == 0, f"unbalanced ( in {expr!r}"
    return names


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Family name -> the series names the real registry exposes for it."""
    path = tmp_path_factory.mktemp("store") / "p.db"
    Store.open(path).close()  # with a store, its collector reports every family
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    return {
        family.name: {family.name + s for s in suffixes.get(family.type, ("",))}
        for family in Metrics(path, SystemClock()).registry.collect()
    }


def test_dashboard_queries_use_only_exported_metrics(exported: dict[str, set[str]]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = expressions(dashboard["panels"])
    assert len(exprs) >= 10
    known = set().union(*exported.values())
    used: set[str] = set()
    for expr in exprs:
        names = metric_names(expr)
        assert names, f"{expr!r} reads no metric"
        assert names <= known, f"{expr!r}: not exported by pgwarden: {names - known}"
        used |= names
    unused = {family for family, series in exported.items() if not series & used}
    assert not unused, f"metrics the dashboard never shows: {unused}"


def test_dashboard_reader_catches_mistakes() -> None:
    assert metric_names('sum by (le) (rate(a_bucket{x="y"}[5m])) / b') == {"a_bucket", "b"}
    assert metric_names("time() - max without (job) (c)") == {"c"}
    with pytest.raises(AssertionError, match="unknown PromQL function"):
        metric_names("rat(a[5m])")
    with pytest.raises(AssertionError, match="unknown PromQL function"):
        metric_names("summ by (x) (a)")
    with pytest.raises(AssertionError, match="unbalanced"):
        metric_names("sum(a")
    with pytest.raises(AssertionError, match="cannot read"):
        metric_names("a{x=y}")


def test_dashboard_uses_a_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    (variable,) = dashboard["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
