"""How the activity source logs in to a target: verify-full TLS, an RDS IAM token as the
password, and session settings that make `pg_stat_activity` readable and comparable.

`pgwarden doctor` logs in with `conninfo` too, so it tests exactly what the poller does.
"""

from __future__ import annotations

import logging
from typing import TypedDict

import psycopg
from psycopg.rows import TupleRow

from monitor import sql
from monitor.config import ActivityConfig
from monitor.sources.targets import Target

log = logging.getLogger(__name__)

APPLICATION_NAME = "pgwarden"


class ConnInfo(TypedDict, total=False):
    """psycopg's connection arguments (libpq's keywords) that pgwarden sets."""

    host: str
    hostaddr: str
    port: int
    dbname: str
    user: str
    password: str
    application_name: str
    connect_timeout: int
    sslmode: str
    sslrootcert: str


def conninfo(target: Target, password: str, options: ActivityConfig) -> ConnInfo:
    """psycopg connection arguments: verify-full TLS, the IAM token as password, the
    endpoint the token was signed for. Contains the token: never log it."""
    params: ConnInfo = {
        "host": target.endpoint,
        "port": target.port,
        "dbname": target.database,
        "user": target.db_user,
        "password": password,
        "application_name": APPLICATION_NAME,
        "connect_timeout": options.connect_timeout_s,
    }
    # insecure_tls drops only the host name check: the chain is still verified against the
    # bundle, so a server with a certificate from another CA never receives the token.
    params["sslmode"] = "verify-ca" if target.insecure_tls else "verify-full"
    # "system" (libpq >= 16) means the OS trust store, when no bundle is configured; libpq
    # refuses it with verify-ca, and ActivitySource marks such a target misconfigured.
    params["sslrootcert"] = str(target.ca_bundle) if target.ca_bundle else "system"
    if target.hostaddr:
        # Dial this address, but verify the certificate and sign the token for `endpoint`.
        params["hostaddr"] = target.hostaddr
    return params


async def connect(
    target: Target, params: ConnInfo, options: ActivityConfig
) -> tuple[psycopg.AsyncConnection[TupleRow], bool]:
    """A new connection to the target, and whether its user sees every session."""
    # autocommit: inside a transaction pg_stat_activity is a frozen snapshot.
    conn = await psycopg.AsyncConnection.connect(autocommit=True, **params)
    try:
        # Session settings by set_config, not the `options` startup parameter, which
        # RDS Proxy does not pass through. UTC keeps stored times comparable as text.
        cur = await conn.execute(sql.load("activity/session"), (str(options.statement_timeout_ms),))
        row = await cur.fetchone()
    except BaseException:
        await conn.close()
        raise
    log.info(
        "target %s: connected (backend pid %s)",
        target.name,
        conn.info.backend_pid,
        extra={"target": target.name},
    )
    return conn, bool(row and row[2])
