"""The sandbox's RDS Proxy: its record in moto, in front of a cluster, and its own log lines
in the only wording the public record shows.

Each line template is a line of tests/fixtures/rdsproxy/ (cited in
tests/fixtures/SOURCES.md) with its time, client connection id, address and user made
fields; nothing else is pgwarden's. tests/unit/test_sandbox_proxy.py rebuilds each fixture
line from its template.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.sandbox.aws import Account, Cluster, SandboxProxy

_PREFIX = "{time} [{level}] [proxyEndpoint={endpoint}] [clientConnection={conn}] "
# mysqljl_iam_failed.log, line 1 and line 2.
CONNECTED = _PREFIX + "A new client connected from {address}:{port}."
IAM_FAILED = _PREFIX + (
    'Proxy authentication with IAM authentication failed for user "{user}" with TLS on.'
    " Reason: Invalid credentials. If you provide an IAM token, make sure to either use the"
    " correct password or enable IAM authentication."
)
# smily_pinned.log.
PINNED = _PREFIX + (
    "The client session was pinned to the database connection [dbConnection={db}] for the"
    " remainder of the session. The proxy can't reuse this connection until the session"
    " ends. Reason: The connection ran a SQL query which exceeded the 16384 byte limit."
)


def stamp(moment: datetime) -> str:
    """The proxy's time: UTC, milliseconds, `Z`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def proxy_line(
    template: str, moment: datetime, conn: int, *, level: str = "INFO", **values: object
) -> str:
    return template.format(time=stamp(moment), level=level, endpoint="default", conn=conn, **values)


def create_proxy(account: Account, cluster: Cluster, name: str) -> SandboxProxy:
    """The demo's RDS Proxy for PostgreSQL in front of `cluster`: IAM auth required, TLS
    required, debug logging on, in two subnets of a VPC of its own."""
    return account.create_proxy(cluster, name, debug_logging=True)


def ship_proxy_logs(account: Account, name: str, user: str, client: str, burst: int) -> int:
    """The proxy's log as RDS Proxy writes it to CloudWatch Logs: `client` connects and is
    refused an IAM login `burst` times, a second apart, ending now."""
    logs = account.logs()
    group = f"/aws/rds/proxy/{name}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    stream = f"{name}-{int(time.time())}"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    end = datetime.now(UTC).replace(microsecond=0)
    lines = []
    for i in range(burst):
        at, conn = end - timedelta(seconds=burst - i), 3_000_000 + 17 * i
        lines.append((at, proxy_line(CONNECTED, at, conn, address=client, port=50100 + i)))
        at += timedelta(milliseconds=120)
        lines.append((at, proxy_line(IAM_FAILED, at, conn, user=user)))
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": int(t.timestamp() * 1000), "message": m} for t, m in lines],
    )
    return len(lines)
