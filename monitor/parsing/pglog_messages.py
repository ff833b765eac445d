"""What a log entry is made of: the `Record` every format reduces an entry to, the
messages PostgreSQL 15 writes about connections and logins, as bounded regexes, and the
event a record becomes.

The texts are src/backend/libpq/auth.c's, postmaster.c's and postinit.c's (older wordings
that RDS still writes are accepted too). `pglog_classify` turns them into events.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import Enum
from typing import Final, NamedTuple

from monitor.models import AuthEvent, AuthEventKind
from monitor.parsing.pglog_prefix import NAME_MAX

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


# Names a client sends are at most NAME_MAX characters (see pglog_prefix), and every group
# below is bounded, so no message costs more than linear time. DOTALL: in csvlog and
# jsonlog a name may hold a newline, and the entry must still be read.
_N = rf".{{0,{NAME_MAX}}}"
# The host is the server's own view of the client (no spaces): `\S+` backtracks linearly.
RECEIVED = re.compile(r"connection received: host=(?P<host>\S+)(?: port=(?P<port>\d+))?")
AUTHENTICATED = re.compile(
    r'connection authenticated: identity="(?P<identity>.{0,1024})" method=(?P<method>\S{1,32})'
    r"(?: \([^()]{0,1024}\))?",
    re.DOTALL,
)
# PG 15: "connection authorized: user=U database=D application_name=A SSL enabled (...)";
# replication connections have no database; before 14, the SSL part ends "compression=off".
# GSS as postinit.c writes it (16 adds delegated_credentials).
_AUTHORIZED_REST = (
    rf"(?: database=(?P<db>{_N}?))?(?: application_name=(?P<app>.{{0,256}}?))?"
    r"(?: SSL enabled \(protocol=(?P<tls>[^,)]{0,32}), cipher=[^,)]{0,64}, bits=\d+"
    r"(?:, compression=\w+)?\)"
    r"| GSS \(authenticated=\w+, encrypted=\w+(?:, delegated_credentials=\w+)?,"
    r" principal=[^)]{0,256}\))?"
)
AUTHORIZED = re.compile(
    rf"(?:replication )?connection authorized: user=(?P<user>{_N}?){_AUTHORIZED_REST}",
    re.DOTALL,
)
# What follows `user=U` when U is known from the prefix (see Classifier._authorized).
AUTHORIZED_AFTER_USER = re.compile(_AUTHORIZED_REST, re.DOTALL)
SESSION = re.compile(
    r"disconnection: session time: (?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?) user="
)
DISCONNECTION = re.compile(
    rf"(?P<user>{_N}?) database=(?P<db>{_N}?) host=(?P<host>\S{{0,255}}?)"
    r"(?: port=(?P<port>\d+))?",
    re.DOTALL,
)
PAM_LOG = re.compile(r"pam_authenticate failed: (?P<reason>.{0,1024})", re.DOTALL)
AUTH_FAILED = re.compile(
    r'(?P<method>PAM|password|Ident|Peer|LDAP|RADIUS|certificate|GSSAPI|SSPI|BSD|"trust")'
    rf' authentication failed for user "(?P<user>{_N})"',
    re.DOTALL,
)
METHODS = {"PAM": "pam", "certificate": "cert", "GSSAPI": "gss", '"trust"': "trust"}
HBA = re.compile(
    r"(?:no pg_hba\.conf entry for|pg_hba\.conf rejects) (?:replication )?(?:connection )?"
    rf'(?:from |for )?host "(?P<host>[^"]{{0,255}})", user "(?P<user>{_N}?)"'
    rf'(?:, database "(?P<db>{_N}?)")?(?:, [^"]{{0,128}})?',
    re.DOTALL,
)
# Connection-time refusals after authentication: not a failed login.
REJECTED = re.compile(
    rf'database "(?P<db>{_N})" does not exist'
    rf'|role "(?P<role>{_N})" (?:is not permitted to log in|does not exist)'
    r"|sorry, too many clients already"
    rf'|too many connections for (?:role|database) "{_N}"'
    r"|remaining connection slots are reserved for .{0,128}"
    rf'|database "{_N}" is not currently accepting connections'
    rf'|permission denied for database "{_N}"'
    r"|the database system is (?:starting up|shutting down|not yet accepting connections"
    r"|in recovery mode|not accepting connections)"
    r"|canceling authentication due to timeout",
    re.DOTALL,
)
# The start of every message above: one that starts so but is not read is counted, never
# dropped in silence. Longer messages than MSG_MAX are not given to the regexes at all.
AUTH_LOG = ("connection ", "replication connection", "disconnection", "pam_authenticate")
AUTH_FATAL = ("authentication failed", "pg_hba.conf")
MSG_MAX = 4096
# A connection's lines all come within authentication_timeout (at most 600 s) of its
# `connection received`, except its disconnection.
LOGIN_WINDOW = timedelta(seconds=660)
CLOCK_SLACK = timedelta(seconds=1)
ReceivedAt = tuple[str | None, int | None, datetime, datetime, datetime]


def is_auth(sev: str, msg: str) -> bool:
    """Does the message report a login's outcome (so that not reading it loses one)?"""
    return msg.startswith(AUTH_LOG) if sev == "LOG" else any(w in msg for w in AUTH_FATAL)


class _Same(Enum):
    """A keyword of `record_event` left out: the record's own value is kept."""

    SAME = "same"


_SAME: Final = _Same.SAME


def record_event(
    rec: Record,
    kind: AuthEventKind,
    source: str,
    *,
    user: str | _Same | None = _SAME,
    database: str | _Same | None = _SAME,
    client_host: str | _Same | None = _SAME,
    client_port: int | _Same | None = _SAME,
    application_name: str | _Same | None = _SAME,
    method: str | None = None,
    reason: str | None = None,
    identity: str | None = None,
    tls: str | None = None,
    session_s: float | None = None,
) -> AuthEvent:
    """The event a record says happened; a keyword given overrides the record's value."""
    # Positional: this runs once per event, and keyword passing costs more.
    return AuthEvent(
        rec.time,
        kind,
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
