"""athena: PostgreSQL logs in S3 (CloudWatch Logs -> Firehose -> S3) through Athena. Edge
code.

The SQL is `queries/athena/pglogs_auth_lines.sql`, in Athena's dialect. It filters to the
auth and connection lines inside Athena and prunes by the hourly `dt` partition. Each
target's log groups are queried apart, so every event carries the target it came from.

Two engines, as for CloudTrail (`[pglogs.athena] engine`):
- `athena`: pyathena in the configured workgroup, results in `output_location`, each query
  under `query_deadline_s`, and the CloudTrail engine's error types (`AthenaQueryFailed`,
  `AthenaQueryTimeout`, `AthenaRequestFailed`); it runs with pgwarden's own role.
- `local`, the embedded default: sqlglot transpiles the same text for DuckDB, which reads a
  local copy in Firehose's layout (`<local_dir>/YYYY/MM/DD/HH/*.gz`, newline-delimited JSON).

Example:
    [pglogs]
    sources = ["athena"]

    [pglogs.athena]
    engine = "athena"
    database = "default"
    table = "pgwarden_rds_logs"
    workgroup = "primary"
    output_location = "s3://pgwarden-athena-results/pglogs/"
    logs_location = "s3://org-rds-logs/firehose/"

IAM with the athena engine (management role, `registry.ATHENA_ACTIONS`): Athena on the
workgroup, Glue on the table, S3 read on `logs_location` and read/write on the results
location. The local engine needs none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from monitor.config.fields import SECTION, Region, S3Uri
from monitor.errors import PgwardenError
from monitor.registry import ATHENA_ACTIONS, Access
from monitor.sources.pglogs.ingest import (
    LOG_SOURCES,
    LogQuery,
    LogSource,
    ReadResult,
    RecordWindow,
    SourceRun,
    store_records,
)
from monitor.sql import load
from monitor.store.sqlite import Store

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

    from monitor.config import AwsConfig
    from monitor.sources.pglogs import PgLogsConfig
    from monitor.sources.targets import Target
    from monitor.sources.trail_athena import AthenaTrail

TABLE = "pgwarden_rds_logs"
CURSOR = "pglogs.athena"
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")


class PgLogsAthenaConfig(BaseModel):
    """`[pglogs.athena]`: Firehose-delivered logs in S3, read through Athena, or DuckDB over
    a local copy of them (`engine = "local"`, the embedded default)."""

    model_config = SECTION

    engine: Literal["local", "athena"] = "local"
    local_dir: Path | None = None
    database: str = "default"
    table: str = "pgwarden_rds_logs"
    workgroup: str = "primary"
    output_location: S3Uri | None = None
    # Where Firehose delivers the logs (the table's LOCATION): the policy grants reading it.
    logs_location: S3Uri | None = None
    region: Region | None = None
    query_deadline_s: float = Field(default=300, gt=0)


class AthenaOptions(BaseModel):
    """`[pglogs]` keys of the athena source."""

    model_config = SECTION

    athena: PgLogsAthenaConfig = PgLogsAthenaConfig()


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


@contextmanager
def open_log_query(
    opts: PgLogsAthenaConfig, aws: AwsConfig, **connect_kwargs: Any
) -> Iterator[LogQuery]:
    """The auth-lines query on the configured engine, open for one stage run.

    `connect_kwargs` go to pyathena (a sandbox's `endpoint_url`, a `profile_name`)."""
    if opts.engine == "local":
        import duckdb

        if opts.local_dir is None:  # config validation requires it; say so if bypassed
            raise PgwardenError("pglogs.athena.local_dir: required when engine is local")
        with duckdb.connect() as con:
            create_duckdb_table(con, opts.local_dir)
            yield duckdb_query(con, auth_lines_sql("duckdb"))
        return
    from monitor.sources.trail_athena import AthenaSettings, AthenaTrail

    if opts.output_location is None:
        raise PgwardenError("pglogs.athena.output_location: required when engine is athena")
    settings = AthenaSettings(
        output_location=opts.output_location,
        workgroup=opts.workgroup,
        database=opts.database,
        table=opts.table,
        region=opts.region or aws.region,
        deadline_s=opts.query_deadline_s,
        # Reuse could hand back a result older than lines that arrived since.
        result_reuse_minutes=0,
        deadline_setting="pglogs.athena.query_deadline_s",
    )
    yield athena_query(
        AthenaTrail(settings, **connect_kwargs), auth_lines_sql("athena", opts.table)
    )


def duckdb_query(con: DuckDBPyConnection, sql: str) -> LogQuery:
    def run(params: Sequence[str | int]) -> list[tuple[str, int, str]]:
        # fetchall, not fetchone: duckdb 2.0 can leave a half-read result blocking `con`.
        rows = con.execute(sql, list(params)).fetchall()
        return [(str(ident), int(ts), str(message)) for ident, ts, message in rows]

    return run


def athena_query(engine: AthenaTrail, sql: str) -> LogQuery:
    """Parameters become Athena execution parameters, which Athena takes as SQL literals."""

    def literal(value: str | int) -> str:
        if isinstance(value, int):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    def run(params: Sequence[str | int]) -> list[tuple[str, int, str]]:
        result = engine.execute("pglogs_auth_lines", sql, [literal(p) for p in params])
        ident, ts, message = result.columns
        return [(str(row[ident]), int(str(row[ts])), str(row[message])) for row in result.rows]

    return run


def create_duckdb_table(con: DuckDBPyConnection, root: Path) -> None:
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
    store: Store, query: LogQuery, target: Target, opts: PgLogsConfig, now: datetime
) -> list[ReadResult]:
    """Each of the target's log groups' auth lines since its cursor (apart from CloudWatch's)."""
    results = []
    for group in target.log_groups:
        key = f"{target.name}:{group}"
        window = RecordWindow.load(store, CURSOR, key)
        start_ms = window.start_ms(now, opts.initial_lookback_hours)
        last_hour = _hour(int((now + timedelta(hours=1)).timestamp() * 1000))
        rows = query([_hour(start_ms), last_hour, group, start_ms])
        fresh = window.take(rows)
        results.append(
            store_records(
                store, target, group, f"athena:{group}", (CURSOR, key, window), fresh, opts, now
            )
        )
    return results


def _read(run: SourceRun, target: Target) -> list[ReadResult]:
    if run.athena is None:
        return [ReadResult("athena", target.name, problem="no Athena engine open")]
    return read_athena(run.store, run.athena, target, run.opts, run.now)


def _needs(opts: PgLogsConfig) -> Access:
    return Access(management=ATHENA_ACTIONS) if opts.athena.engine == "athena" else Access()


SOURCE = LOG_SOURCES.add(
    LogSource("athena", AthenaOptions, _read, Access(management=ATHENA_ACTIONS), _needs)
)
