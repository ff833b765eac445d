"""Only the store layer touches the store: no module outside monitor/store/ imports sqlite3
or holds SQL on the store's tables (DESIGN, Layout; STYLE rule 6)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MONITOR = REPO / "monitor"
# The sandbox builds its own PostgreSQL and talks to it; it is no part of the store.
OUTSIDE = sorted(
    p
    for p in MONITOR.rglob("*.py")
    if not p.is_relative_to(MONITOR / "store") and not p.is_relative_to(MONITOR / "sandbox")
)
_CREATED = re.compile(
    r"CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?(?:TABLE|VIEW)\s+(?:IF NOT EXISTS\s+)?(\w+)"
)


def _store_tables() -> set[str]:
    sql = [
        *(MONITOR / "store" / "migrations").glob("*.sql"),
        *(REPO / "queries" / "store").glob("*.sql"),
    ]
    return {m.group(1) for path in sql for m in _CREATED.finditer(path.read_text(), re.IGNORECASE)}


TABLES = _store_tables()
# A statement reading or writing one of the store's tables (keywords in capitals, as
# pgwarden writes SQL; prose such as "table findings" is no statement).
STORE_SQL = re.compile(rf"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+(?:{'|'.join(sorted(TABLES))})\b")


def _strings(tree: ast.AST) -> list[str]:
    """Every string literal, an f-string's literal parts joined."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            found.append(
                "".join(
                    v.value
                    for v in node.values
                    if isinstance(v, ast.Constant) and isinstance(v.value, str)
                )
            )
    return found


def test_store_layer_knows_the_store_tables() -> None:
    assert {"findings", "outbox", "sessions", "targets", "cursors", "grants"} <= TABLES


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: str(p.relative_to(REPO)))
def test_store_layer_only_store_touches_sqlite(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] != "sqlite3" for a in node.names), "imports sqlite3"
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] != "sqlite3", "imports from sqlite3"
        elif isinstance(node, ast.Name):
            assert node.id != "sqlite3", f"line {node.lineno}: uses sqlite3"
    held = [s for s in _strings(tree) if STORE_SQL.search(s)]
    assert not held, f"SQL on the store's tables belongs in queries/store/: {held}"
