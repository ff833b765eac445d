"""One Athena SQL text, two engines: bind parameters through sqlglot's syntax tree.

The queries in `queries/athena/` are written in Athena's dialect with named placeholders
(`:since`). A placeholder alone inside `IN (...)` takes a list:

* `None` turns the whole predicate into TRUE (a partition we cannot narrow: scan all);
* an empty list turns it into FALSE (nothing is watched);
* otherwise one placeholder per element.

For DuckDB the placeholders stay bound (`$since`). For Athena they become literals that
sqlglot generates and escapes; pyathena's own `%(name)s` binding is client-side too, so
this is no weaker, and it keeps identical queries identical for Athena's result reuse.
Nothing here pastes text into SQL: identifiers (database and table names) are checked
against a strict pattern first and then built as AST nodes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal

import sqlglot
from sqlglot import exp

from monitor import sql

Dialect = Literal["athena", "duckdb"]
ParamValue = str | int | bool | Sequence[str] | None

# Athena (Glue) names: lower-case letters, digits and underscores.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
# The name the queries use for the trail table; replaced by the configured one.
QUERY_TABLE = "cloudtrail"


def check_identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(f'{what}: not a valid Athena name: "{value}"')
    return value


def render(
    name: str,
    params: Mapping[str, ParamValue],
    dialect: Dialect,
    *,
    database: str | None = None,
    table: str | None = None,
) -> tuple[str, dict[str, object]]:
    """The query `queries/athena/<name>.sql` for `dialect`, and the parameters to bind."""
    tree = sqlglot.parse_one(sql.load(f"athena/{name}"), read="athena")
    bound: dict[str, object] = {}
    missing = sorted({p.name for p in tree.find_all(exp.Placeholder)} - set(params), key=str.lower)
    if missing:
        raise ValueError(f"{name}: no value for parameter(s) {', '.join(missing)}")
    for node in list(tree.find_all(exp.Placeholder)):
        value = params[node.name]
        parent = node.parent
        if isinstance(parent, exp.In) and parent.expressions == [node]:
            _bind_list(parent, node.name, value, dialect, bound)
        elif isinstance(value, (list, tuple)):
            raise ValueError(f"{name}: parameter {node.name} takes one value, not a list")
        elif dialect == "athena":
            node.replace(_literal(value))
        else:
            bound[node.name] = value
    if dialect == "athena" and table is not None:
        for found in tree.find_all(exp.Table):
            if found.name == QUERY_TABLE:
                found.replace(
                    exp.table_(
                        check_identifier(table, "cloudtrail.athena_table"),
                        db=check_identifier(database, "cloudtrail.athena_database")
                        if database
                        else None,
                    )
                )
    return tree.sql(dialect=dialect, comments=False), bound


def _bind_list(
    node: exp.In, name: str, value: ParamValue, dialect: Dialect, bound: dict[str, object]
) -> None:
    if value is None:
        node.replace(exp.true())
        return
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"parameter {name} takes a list of values")
    if not value:
        node.replace(exp.false())
        return
    items: list[exp.Expression] = []
    for i, item in enumerate(value):
        if dialect == "athena":
            items.append(_literal(item))
        else:
            key = f"{name}_{i}"
            bound[key] = item
            items.append(exp.Placeholder(this=key))
    node.set("expressions", items)


def _literal(value: object) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise ValueError(f"cannot bind a {type(value).__name__} into Athena SQL")
