"""Pieces of the concrete remedies findings suggest."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, quoted as `quote_ident` would, for SQL a person copies.

    A name with control characters (a newline...) is written as a Unicode-escaped
    identifier, `U&"a\\000ab"`, so the statement stays on one line and a name cannot make
    a line of its own in a script (PostgreSQL: "Identifiers and Key Words").
    """
    if name.isprintable():
        return '"' + name.replace('"', '""') + '"'
    escaped = "".join(
        ch if ch.isprintable() and ch != "\\" else f"\\{ord(ch):04x}" if ord(ch) < 0x10000
        else f"\\+{ord(ch):06x}"
        for ch in name.replace('"', '""')
    )  # fmt: skip
    return 'U&"' + escaped + '"'


def quote_literal(value: str) -> str:
    """A PostgreSQL string literal, as `quote_literal` would, for SQL a person copies."""
    return "'" + value.replace("'", "''") + "'"
