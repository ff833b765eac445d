"""The Athena CloudTrail engine: pyathena against the organisation trail table.

Every query runs in the configured workgroup, writes to the configured output location,
may reuse a recent identical result (Athena's query result reuse), and has a deadline:
past it the query is cancelled and `AthenaQueryTimeout` raised. A query that ends FAILED or
CANCELLED raises `AthenaQueryFailed` with Athena's state-change reason.

Bytes scanned and the cost (Athena bills per TB scanned, at least 10 MB per query) are
logged with every query and returned for the metrics. As a guard against a query that
would scan the whole trail, set the workgroup's `BytesScannedCutoffPerQuery` (Athena then
cancels the query and the reason says so); see README.md.

IAM actions: athena:StartQueryExecution, athena:GetQueryExecution, athena:GetQueryResults,
athena:StopQueryExecution; s3:GetObject/PutObject on the output location; s3:GetObject and
s3:ListBucket on the trail bucket; glue:GetTable on the table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.errors import PgwardenError
from monitor.sources.trail_local import TrailResult
from monitor.sources.trailsql import ParamValue, render

if TYPE_CHECKING:
    from pyathena.async_cursor import AsyncCursor

log = logging.getLogger(__name__)

# Athena's on-demand price in most regions, USD per TB (10^12 bytes) scanned, with a
# 10 MB minimum per query (https://aws.amazon.com/athena/pricing/).
PRICE_PER_TB_USD = 5.0
MIN_BYTES_BILLED = 10 * 1024 * 1024


class AthenaQueryFailed(PgwardenError):
    """An Athena query ended FAILED or CANCELLED."""

    def __init__(self, query_id: str, state: str, reason: str | None) -> None:
        self.query_id, self.state, self.reason = query_id, state, reason
        super().__init__(f"Athena query {query_id} {state}: {reason or 'no reason given'}")


class AthenaRequestFailed(PgwardenError):
    """Athena refused to start or report on a query (no such workgroup, access denied...)."""


class AthenaQueryTimeout(PgwardenError):
    """An Athena query passed its deadline and was cancelled."""

    def __init__(
        self, query_id: str, deadline_s: float, setting: str = "cloudtrail.query_deadline_s"
    ) -> None:
        self.query_id, self.deadline_s = query_id, deadline_s
        super().__init__(
            f"Athena query {query_id} still running after {deadline_s:g} s; cancelled "
            f"(raise {setting}, or narrow the window)"
        )


@dataclass(frozen=True)
class AthenaSettings:
    output_location: str
    workgroup: str = "primary"
    database: str = "default"
    table: str = "cloudtrail"
    region: str = "us-east-1"
    deadline_s: float = 600
    result_reuse_minutes: int = 60
    poll_interval_s: float = 1.0
    deadline_setting: str = "cloudtrail.query_deadline_s"  # named when the deadline passes


def cost_usd(bytes_scanned: int | None) -> float:
    """What Athena charges for a query that scanned `bytes_scanned`."""
    if bytes_scanned is None:
        return 0.0
    return max(bytes_scanned, MIN_BYTES_BILLED) / 1e12 * PRICE_PER_TB_USD


class AthenaTrail:
    """Runs the Athena queries through pyathena.

    `connect_kwargs` go to `pyathena.connect` as they are: credentials, a boto3 `session`,
    or `endpoint_url` for a sandbox. They come from monitor/aws.py in production.
    """

    def __init__(self, settings: AthenaSettings, **connect_kwargs: object) -> None:
        self.settings = settings
        self._connect_kwargs = connect_kwargs

    def close(self) -> None:
        """Nothing to release: each query opens and closes its own connection."""

    def query(self, name: str, params: Mapping[str, ParamValue]) -> TrailResult:
        s = self.settings
        text, _ = render(name, params, "athena", database=s.database, table=s.table)
        return self.execute(name, text)

    def execute(self, name: str, text: str, parameters: list[str] | None = None) -> TrailResult:
        """Run `text` (with Athena execution parameters for its `?`), `name` in the logs."""
        from pyathena import connect
        from pyathena.async_cursor import AsyncCursor
        from pyathena.error import Error as PyAthenaError

        # pyathena logs a traceback before it raises; the error below already says it all
        # in one line, so keep its logger for DEBUG runs.
        if not log.isEnabledFor(logging.DEBUG):
            logging.getLogger("pyathena").setLevel(logging.CRITICAL)
        s = self.settings
        conn = connect(
            s3_staging_dir=s.output_location,
            work_group=s.workgroup,
            region_name=s.region,
            schema_name=s.database,
            poll_interval=s.poll_interval_s,
            cursor_class=AsyncCursor,
            **self._connect_kwargs,
        )
        cursor = conn.cursor()
        try:
            return self._run(cursor, name, text, parameters)
        except PyAthenaError as exc:
            raise AthenaRequestFailed(
                f"Athena query ({name}) in workgroup {s.workgroup} failed: {exc}"
            ) from exc
        finally:
            cursor.close(wait=False)
            conn.close()

    def _run(
        self, cursor: AsyncCursor, name: str, text: str, parameters: list[str] | None
    ) -> TrailResult:
        s = self.settings
        reuse = s.result_reuse_minutes > 0
        query_id, future = cursor.execute(
            text,
            parameters,
            paramstyle="qmark" if parameters else None,
            result_reuse_enable=reuse,
            result_reuse_minutes=s.result_reuse_minutes if reuse else None,
        )
        try:
            result = future.result(timeout=s.deadline_s)
        except FutureTimeout:
            # The poll thread stops by itself once it sees the CANCELLED state.
            cursor.cancel(query_id).result(timeout=30)
            raise AthenaQueryTimeout(query_id, s.deadline_s, s.deadline_setting) from None
        if result.state != "SUCCEEDED":
            raise AthenaQueryFailed(query_id, str(result.state), result.state_change_reason)
        columns = [d[0] for d in result.description or []]
        rows = [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
        scanned = result.data_scanned_in_bytes
        cost = cost_usd(scanned)
        log.info(
            "athena query %s (%s): %s rows, %s bytes scanned, $%.6f",
            query_id,
            name,
            len(rows),
            scanned,
            cost,
            extra={
                "query_id": query_id,
                "query": name,
                "bytes_scanned": scanned,
                "cost_usd": cost,
                "reused": bool(getattr(result, "reused_previous_result", False)),
            },
        )
        return TrailResult(
            columns=columns,
            rows=rows,
            bytes_scanned=scanned,
            cost_usd=cost,
            query_id=query_id,
        )
