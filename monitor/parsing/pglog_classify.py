"""Turn one PostgreSQL log record (severity, message, prefix values) into at most one event.

Every format (stderr, CloudWatch, csvlog, jsonlog) is reduced to a `Record` first, so the
rules live here once. The message texts are PostgreSQL 15's (src/backend/libpq/auth.c,
postmaster.c, postinit.c); older wordings that RDS still writes are accepted too.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from monitor.models import AuthEvent

_UNKNOWN = "[unknown]"


class Record(NamedTuple):
    """One log entry, format-independent. Empty or `[unknown]` values are None.

    A NamedTuple, not a dataclass: one is built per interesting line, and this is cheaper.
    """

    time: datetime
    severity: str
    message: str
    user: str | None = None
    database: str | None = None
    pid: int | None = None
    host: str | None = None
    port: int | None = None
    application_name: str | None = None
    detail: str | None = None


def clean(value: str | None) -> str | None:
    """None for what PostgreSQL prints when it does not know a value yet."""
    if value is None or value == "" or value == _UNKNOWN:
        return None
    return value


def split_remote(remote: str | None) -> tuple[str | None, int | None]:
    """`%r` is `host(port)`, `[local]` or empty; csvlog's connection_from is `host:port`."""
    if not remote:
        return None, None
    if remote.endswith(")") and "(" in remote:
        host, _, port = remote[:-1].rpartition("(")
        return host or None, int(port) if port.isdigit() else None
    return remote, None


_RECEIVED = re.compile(r"connection received: host=(?P<host>\S+)(?: port=(?P<port>\d+))?")
_AUTHENTICATED = re.compile(
    r'connection authenticated: identity="(?P<identity>.*)" method=(?P<method>\S+)(?: \(.*\))?'
)
# PG 15: "connection authorized: user=U database=D application_name=A SSL enabled (...)";
# replication connections have no database; older versions add ", compression=off".
_AUTHORIZED = re.compile(
    r"(?:replication )?connection authorized: user=(?P<user>.*?)"
    r"(?: database=(?P<db>.*?))?(?: application_name=(?P<app>.*?))?"
    r"(?: SSL enabled \(protocol=(?P<tls>[^,)]*)[^)]*\)| GSS .*)?"
)
_DISCONNECTION = re.compile(
    r"disconnection: session time: (?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?)"
    r" user=(?P<user>.*?) database=(?P<db>.*?) host=(?P<host>\S*?)(?: port=(?P<port>\d+))?"
)
_PAM_LOG = re.compile(r"pam_authenticate failed: (?P<reason>.*)")
_AUTH_FAILED = re.compile(
    r'(?P<method>PAM|password|Ident|Peer|LDAP|RADIUS|certificate|GSSAPI|SSPI|BSD|"trust")'
    r' authentication failed for user "(?P<user>.*)"'
)
_METHODS = {"PAM": "pam", "certificate": "cert", "GSSAPI": "gss", '"trust"': "trust"}
_HBA = re.compile(
    r"(?:no pg_hba\.conf entry for|pg_hba\.conf rejects) (?:replication )?(?:connection )?"
    r'(?:from |for )?host "(?P<host>[^"]*)", user "(?P<user>.*?)"'
    r'(?:, database "(?P<db>.*?)")?(?:, .*)?'
)
# Connection-time refusals after authentication: not a failed login.
_REJECTED = re.compile(
    r'database "(?P<db>.*)" does not exist'
    r'|role "(?P<role>.*)" (?:is not permitted to log in|does not exist)'
    r"|sorry, too many clients already"
    r'|too many connections for (?:role|database) ".*"'
    r"|remaining connection slots are reserved for .*"
    r'|database ".*" is not currently accepting connections'
    r'|permission denied for database ".*"'
    r"|the database system is (?:starting up|shutting down|not yet accepting connections"
    r"|in recovery mode|not accepting connections)"
    r"|canceling authentication due to timeout"
)


_SAME: Any = object()


def _event(
    rec: Record,
    kind: str,
    source: str,
    *,
    user: Any = _SAME,
    database: Any = _SAME,
    client_host: Any = _SAME,
    client_port: Any = _SAME,
    application_name: Any = _SAME,
    method: str | None = None,
    reason: str | None = None,
    identity: str | None = None,
    tls: str | None = None,
    session_s: float | None = None,
) -> AuthEvent:
    """An event from a record; a keyword given overrides the record's value."""
    # Positional: this runs once per event, and keyword passing costs more.
    return AuthEvent(
        rec.time,
        kind,  # type: ignore[arg-type]
        rec.user if user is _SAME else user,
        rec.database if database is _SAME else database,
        rec.host if client_host is _SAME else client_host,
        rec.port if client_port is _SAME else client_port,
        rec.pid,
        method,
        reason,
        rec.application_name if application_name is _SAME else application_name,
        source,
        identity,
        tls,
        session_s,
    )


class Classifier:
    """The rules of DESIGN.md "What a log line becomes", with the LOG+FATAL pairing state.

    A `pam_authenticate failed` LOG waits, per pid, for its `PAM authentication failed`
    FATAL; together they are one `auth_failed` with the LOG's reason. A LOG still waiting
    at `finish()` becomes an `auth_failed` of its own, so a truncated log loses nothing.
    """

    _MAX_PENDING = 10_000

    def __init__(self, source: str) -> None:
        self.source = source
        self._pending_pam: dict[int | None, AuthEvent] = {}

    def classify(self, rec: Record) -> list[AuthEvent]:
        sev, msg = rec.severity, rec.message
        if sev == "LOG":
            return self._log(rec, msg)
        if sev == "FATAL":
            return self._fatal(rec, msg)
        return []

    def finish(self) -> list[AuthEvent]:
        waiting = list(self._pending_pam.values())
        self._pending_pam.clear()
        return waiting

    def _log(self, rec: Record, msg: str) -> list[AuthEvent]:
        if msg.startswith("connection received"):
            m = _RECEIVED.fullmatch(msg)
            if m is None:
                return []
            port = m.group("port")
            return [
                _event(
                    rec,
                    "connection_received",
                    self.source,
                    user=None,
                    database=None,
                    client_host=m.group("host") or rec.host,
                    client_port=int(port) if port else rec.port,
                )
            ]
        if msg.startswith("connection authenticated"):
            m = _AUTHENTICATED.fullmatch(msg)
            if m is None:
                return []
            return [
                _event(
                    rec,
                    "connection_authenticated",
                    self.source,
                    method=m.group("method"),
                    identity=m.group("identity"),
                )
            ]
        if "connection authorized" in msg[:36]:
            m = _AUTHORIZED.fullmatch(msg)
            if m is None:
                return []
            return [
                _event(
                    rec,
                    "connection_authorized",
                    self.source,
                    user=m.group("user") or rec.user,
                    database=m.group("db") or rec.database,
                    application_name=m.group("app") or rec.application_name,
                    tls=m.group("tls"),
                )
            ]
        if msg.startswith("disconnection"):
            m = _DISCONNECTION.fullmatch(msg)
            if m is None:
                return []
            seconds = int(m.group("h")) * 3600 + int(m.group("m")) * 60 + float(m.group("s"))
            port = m.group("port")
            return [
                _event(
                    rec,
                    "disconnection",
                    self.source,
                    user=m.group("user") or rec.user,
                    database=m.group("db") or rec.database,
                    client_host=m.group("host") or rec.host,
                    client_port=int(port) if port else rec.port,
                    session_s=round(seconds, 3),
                )
            ]
        if msg.startswith("pam_authenticate failed"):
            m = _PAM_LOG.fullmatch(msg)
            if m is None:
                return []
            event = _event(rec, "auth_failed", self.source, method="pam", reason=m.group("reason"))
            earlier = self._pending_pam.pop(rec.pid, None)
            if len(self._pending_pam) >= self._MAX_PENDING:
                # A server that logs LOGs without their FATALs: don't grow without bound.
                oldest = next(iter(self._pending_pam))
                flushed = [self._pending_pam.pop(oldest)]
            else:
                flushed = []
            self._pending_pam[rec.pid] = event
            return ([earlier] if earlier else []) + flushed
        return []

    def _fatal(self, rec: Record, msg: str) -> list[AuthEvent]:
        m = _AUTH_FAILED.fullmatch(msg)
        if m is not None:
            method = _METHODS.get(m.group("method"), m.group("method").lower())
            user = m.group("user")
            waiting = self._pending_pam.pop(rec.pid, None) if method == "pam" else None
            if waiting is not None:
                # One attempt, two lines: keep the LOG's reason, take the FATAL's time so a
                # re-read that sees only the FATAL cannot make a different attempt of it.
                return [replace(waiting, time=rec.time, user=user or waiting.user)]
            return [
                _event(rec, "auth_failed", self.source, user=user, method=method, reason=rec.detail)
            ]
        if "pg_hba.conf" in msg:
            m = _HBA.fullmatch(msg)
            if m is None:
                return []
            return [
                _event(
                    rec,
                    "hba_rejected",
                    self.source,
                    user=m.group("user") or rec.user,
                    database=m.group("db") or rec.database,
                    client_host=m.group("host") or rec.host,
                    reason=msg,
                )
            ]
        m = _REJECTED.fullmatch(msg)
        if m is not None:
            return [
                _event(
                    rec,
                    "connection_rejected",
                    self.source,
                    user=m.group("role") or rec.user,
                    database=m.group("db") or rec.database,
                    reason=msg,
                )
            ]
        return []
