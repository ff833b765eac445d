"""RDS Proxy log lines for the sandbox, in the only wording the public record shows.

Each template is a line of tests/fixtures/rdsproxy/ (cited in tests/fixtures/SOURCES.md)
with its time, client connection id, address and user made fields; nothing else is
pgwarden's. tests/unit/test_proxy_lines.py rebuilds each fixture line from its template.
"""

from __future__ import annotations

from datetime import UTC, datetime

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
