"""Pieces of the concrete remedies findings suggest."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, quoted as `quote_ident` would, for SQL a person copies."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A PostgreSQL string literal, as `quote_literal` would, for SQL a person copies."""
    return "'" + value.replace("'", "''") + "'"
