"""SQL lives in `queries/` and is loaded by name; parameters are always bound, never formatted."""

from __future__ import annotations

from functools import cache
from pathlib import Path

QUERIES = Path(__file__).resolve().parent.parent / "queries"


@cache
def load(name: str) -> str:
    """The text of `queries/<name>.sql`, e.g. `load("activity/sessions")`."""
    path = (QUERIES / f"{name}.sql").resolve()
    if QUERIES not in path.parents:
        raise ValueError(f"query name escapes queries/: {name}")
    return path.read_text(encoding="utf-8")
