"""PostgreSQL logs into `auth_events`: one module per log source, each registered under
its name in `[pglogs] sources` with its options, its reader and its access.

- cloudwatch.py: CloudWatch Logs (`filter_log_events`)
- rds_api.py: the RDS API's log files
- athena.py: Firehose-delivered logs in S3, through Athena or DuckDB
- files.py: local files, each tied to a target
- proxy.py: each RDS Proxy's own log in CloudWatch Logs (`rds-proxy`), for proxy targets
- ingest.py: what they share (results, cursors, storing events) and one pass over them

`PgLogsConfig` is the `[pglogs]` section: the keys every source shares, and each source's
own options under the same keys as ever.

Example:
    [pglogs]
    sources = ["cloudwatch", "rds-api", "files"]
    log_line_prefix = "%t:%r:%u@%d:[%p]:"
    interval_s = 60

    [[pglogs.files]]
    target = "orders"
    paths = ["/var/log/postgresql"]
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

# isort: off
# Registration order is the order a target's sources are read in.
from monitor.sources.pglogs.cloudwatch import CloudWatchOptions
from monitor.sources.pglogs.rds_api import RdsApiOptions
from monitor.sources.pglogs.athena import AthenaOptions
from monitor.sources.pglogs.files import FilesOptions
from monitor.sources.pglogs.proxy import ProxyLogOptions
from monitor.sources.pglogs.ingest import LOG_SOURCES
# isort: on

DEFAULT_LOG_LINE_PREFIX = "%t:%r:%u@%d:[%p]:"


def _registered(name: str) -> str:
    if name not in LOG_SOURCES:
        raise ValueError(LOG_SOURCES.unknown(name, f'"{name}"'))
    return name


LogSourceName = Annotated[str, AfterValidator(_registered)]


class PgLogsConfig(CloudWatchOptions, RdsApiOptions, AthenaOptions, FilesOptions, ProxyLogOptions):
    enabled: bool = True
    interval_s: float = Field(default=60, gt=0)
    sources: list[LogSourceName] = Field(default=["cloudwatch"])
    log_line_prefix: str = DEFAULT_LOG_LINE_PREFIX
    format: Literal["auto", "stderr", "csvlog", "jsonlog", "iam-db-auth-error"] = "auto"
    initial_lookback_hours: int = Field(default=24, ge=1)
