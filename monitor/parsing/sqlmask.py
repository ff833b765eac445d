"""Replace the literals in SQL text with `?`, so query text can be kept without its data.

Pure and forgiving: it never parses SQL, it only scans for quoted strings, dollar-quoted
bodies and numbers. An unterminated literal masks everything after its opening quote, so a
truncated query (pg_stat_activity cuts at track_activity_query_size) leaks nothing.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""
      (?P<ident>"(?:[^"]|"")*"?)                        # quoted identifier: keep
    | (?P<string>[Ee]'(?:[^'\\]|''|\\.)*(?:'|$)        # E'..' (backslash escapes)
      |[BbXxNn]?'(?:[^']|'')*(?:'|$))                   # '..', B'..', X'..', N'..'
    | (?P<dollar>\$(?P<tag>[A-Za-z_]\w*)?\$)             # $tag$ ... $tag$
    | (?P<word>[A-Za-z_][\w$]*)                          # identifiers and keywords: keep
    | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)   # numeric literal
    | (?P<param>\$\d+)                                   # bind parameter: keep
    """,
    re.VERBOSE | re.DOTALL,
)


def mask_literals(sql: str) -> str:
    """`WHERE a = 'x' AND b > 10` -> `WHERE a = ? AND b > ?`."""
    out: list[str] = []
    pos = 0
    while pos < len(sql):
        match = _TOKEN.search(sql, pos)
        if match is None:
            out.append(sql[pos:])
            break
        out.append(sql[pos : match.start()])
        kind = match.lastgroup if match.lastgroup != "tag" else "dollar"
        if match.group("dollar") is not None:
            closing = sql.find(match.group("dollar"), match.end())
            out.append("?")
            pos = len(sql) if closing < 0 else closing + len(match.group("dollar"))
            continue
        if kind in ("string", "number"):
            out.append("?")
        else:
            out.append(match.group(0))
        pos = match.end()
    return "".join(out)
