"""Feeding query results to moto's Athena, as Athena itself would send them."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from monitor.sources.trail_local import TrailResult
from tests.conftest import MotoServer

# The types Athena reports for the queries' columns; everything else is varchar.
ATHENA_TYPES = {"external_id_present": "boolean"}


def post(moto: MotoServer, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{moto.url}{path}", data=json.dumps(body).encode(), method="POST"
    )
    urllib.request.urlopen(request, timeout=10).close()


def queue_athena_result(moto: MotoServer, result: TrailResult) -> None:
    """Queue `result` in moto as Athena's GetQueryResults would send it: all text, a
    header row first, NULL as a cell without VarCharValue."""

    def cell(value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if isinstance(value, bool):
            return {"VarCharValue": "true" if value else "false"}
        return {"VarCharValue": str(value)}

    header = {"Data": [{"VarCharValue": c} for c in result.columns]}
    rows = [header] + [{"Data": [cell(r[c]) for c in result.columns]} for r in result.rows]
    info = [
        {
            "CatalogName": "hive",
            "SchemaName": "",
            "TableName": "",
            "Name": c,
            "Label": c,
            "Type": ATHENA_TYPES.get(c, "varchar"),
            "Precision": 0,
            "Scale": 0,
            "Nullable": "UNKNOWN",
            "CaseSensitive": True,
        }
        for c in result.columns
    ]
    post(
        moto,
        "/moto-api/static/athena/query-results",
        {"results": [{"rows": rows, "column_info": info}]},
    )
