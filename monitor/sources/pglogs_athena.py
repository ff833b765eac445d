"""PostgreSQL logs in S3 (CloudWatch Logs -> Firehose -> S3) through Athena. Edge code.

The SQL is `queries/athena/pglogs_auth_lines.sql`, in Athena's dialect. It filters to the
auth and connection lines inside Athena and prunes by the hourly `dt` partition. Locally,
and in tests, sqlglot transpiles the same text for DuckDB, which reads the same files from
a directory in Firehose's layout (`<root>/YYYY/MM/DD/HH/*.gz`, newline-delimited JSON).

Needs `athena:StartQueryExecution`, `athena:GetQueryExecution`, `athena:GetQueryResults`,
`glue:GetTable`, and S3 read on the log bucket and write on the results location.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config import PgLogsConfig, TargetConfig
from monitor.errors import PgwardenError
from monitor.sources.pglogs import ReadResult, RecordWindow, log_groups, store_records
from monitor.sql import load
from monitor.store.sqlite import Store

TABLE = "pgwarden_rds_logs"
CURSOR = "pglogs.athena"
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")

# (sql, parameters) -> rows. Athena through pyathena, or DuckDB locally.
QueryRunner = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


class AthenaTableError(PgwardenError):
    """pglogs.athena_table is not a plain [database.]table name."""


def auth_lines_sql(dialect: str, table: str | None = None) -> str:
    """The query, for `athena` or `duckdb`, reading `table` (default: pgwarden_rds_logs)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(load("athena/pglogs_auth_lines"), read="athena")
    if table and table != TABLE:
        if not _TABLE_NAME.fullmatch(table):
            raise AthenaTableError(f"pglogs.athena_table: not a [database.]table name: {table!r}")
        db, _, name = table.rpartition(".")

        def swap(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Table) and node.name == TABLE:
                return exp.table_(name, db=db or None, alias=node.alias or None)
            return node

        tree = tree.transform(swap)
    return str(tree.sql(dialect=dialect))


def duckdb_runner(con: Any) -> QueryRunner:
    def run(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        # fetchall, not fetchone: duckdb 2.0 can leave a half-read result blocking `con`.
        return list(con.execute(sql, list(params)).fetchall())

    return run


def athena_runner(cursor: Any) -> QueryRunner:
    """A pyathena cursor; parameters become Athena execution parameters (literals)."""

    def literal(value: Any) -> str:
        if isinstance(value, int):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    def run(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cursor.execute(sql, [literal(p) for p in params], paramstyle="qmark")
        return list(cursor.fetchall())

    return run


def create_duckdb_table(con: Any, root: Path) -> None:
    """A DuckDB view named like the Athena table over Firehose files under `root`.

    The hourly partition comes from the file path, as Athena's projection takes it from
    the S3 prefix. Keys are declared in the JSON's camelCase (lower case reads as NULL).
    """
    pattern = str(root / "**" / "*.gz").replace("'", "''")
    con.execute(
        f"""
        CREATE OR REPLACE VIEW {TABLE} AS
        SELECT messageType AS messagetype, owner, logGroup AS loggroup,
               logStream AS logstream, logEvents AS logevents,
               regexp_extract(filename, '(\\d{{4}}/\\d{{2}}/\\d{{2}}/\\d{{2}})/[^/]*$', 1) AS dt
        FROM read_json('{pattern}', format = 'newline_delimited', filename = true,
            columns = {{'messageType': 'VARCHAR', 'owner': 'VARCHAR', 'logGroup': 'VARCHAR',
                        'logStream': 'VARCHAR',
                        'logEvents': 'STRUCT(id VARCHAR, "timestamp" BIGINT, message VARCHAR)[]'}})
        """  # noqa: S608 - a local path, quoted; DuckDB cannot bind a table function's glob
    )


def _hour(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y/%m/%d/%H")


def read_athena(
    store: Store,
    run: QueryRunner,
    target: TargetConfig,
    opts: PgLogsConfig,
    now: datetime,
    dialect: str = "athena",
) -> list[ReadResult]:
    """Each log group's auth lines since its cursor (kept apart from CloudWatch's).

    On DuckDB the table is always the local view, whatever `athena_table` says.
    """
    sql = auth_lines_sql(dialect, opts.athena_table if dialect == "athena" else None)
    results = []
    for group in log_groups(target):
        key = f"{target.name}:{group}"
        window = RecordWindow.load(store, CURSOR, key)
        start_ms = window.start_ms(now, opts.initial_lookback_hours)
        last_hour = _hour(int((now + timedelta(hours=1)).timestamp() * 1000))
        rows = run(sql, [_hour(start_ms), last_hour, group, start_ms])
        fresh = window.take((str(r[0]), int(r[1]), str(r[2])) for r in rows)
        results.append(
            store_records(
                store, target, group, f"athena:{group}", (CURSOR, key, window), fresh, opts, now
            )
        )
    return results
