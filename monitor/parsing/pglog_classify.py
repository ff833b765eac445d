"""Turn one PostgreSQL log record (severity, message, prefix values) into at most one event.

Every format (stderr, CloudWatch, csvlog, jsonlog) is reduced to a `Record` first, so the
rules live here once. The message texts are PostgreSQL 15's (src/backend/libpq/auth.c,
postmaster.c, postinit.c); older wordings that RDS still writes are accepted too.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import NamedTuple

from monitor.models import AuthEvent, SuspiciousEntry
from monitor.parsing.pglog_messages import (
    AUTH_FAILED,
    AUTH_LOG,
    AUTHENTICATED,
    AUTHORIZED,
    AUTHORIZED_AFTER_USER,
    CLOCK_SLACK,
    DISCONNECTION,
    HBA,
    LOGIN_WINDOW,
    METHODS,
    MSG_MAX,
    PAM_LOG,
    RECEIVED,
    REJECTED,
    SESSION,
    ReceivedAt,
    Record,
    is_auth,
    record_event,
)
from monitor.parsing.pglog_stats import ParseStats


class Suspect(NamedTuple):
    """A record refused as evidence, with what can still be said about it.

    `time`, `host` and `port` are the values a client could not choose. `refused`: the
    entry reports a refused login, so it still counts as a failed login from that host.
    """

    reason: str
    time: datetime
    host: str | None
    port: int | None
    refused: bool


# What classify returns: events, a Suspect, or None for an entry that mentions a login
# outcome but cannot be read (the caller counts it as unparsed and keeps a sample).
Outcome = list[AuthEvent] | Suspect | None


class Classifier:
    """The rules of DESIGN.md "What a log line becomes", with the state they need.

    A `pam_authenticate failed` LOG waits, per pid, for its `PAM authentication failed`
    FATAL; together they are one `auth_failed` with the LOG's reason. A LOG still waiting
    at `finish()` becomes an `auth_failed` of its own, so a truncated log loses nothing.

    Evidence integrity (DESIGN.md): a message must agree with the prefix values of its
    own entry (the user and database it names), and a connection's later lines must
    come from the host and port of its `connection received` line, within the login
    window. An entry that does not is a `Suspect`, not an event.
    """

    _MAX_PENDING = 10_000

    def __init__(self, source: str, stats: ParseStats) -> None:
        self.source = source
        self.stats = stats
        self.suspicious: list[SuspiciousEntry] = []  # drained by LogParser.take_suspicious
        self._pending_pam: dict[int | None, AuthEvent] = {}
        # pid -> host, port, time of its `connection received`, and the login window;
        # an OrderedDict, so dropping the oldest of a full one costs O(1).
        self._received: OrderedDict[int | None, ReceivedAt] = OrderedDict()
        self._last_refusal: tuple[datetime, str | None, int | None] | None = None

    def classify(self, rec: Record) -> Outcome:
        sev, msg = rec.severity, rec.message
        if sev != "LOG" and sev != "FATAL":
            return []
        if len(msg) > MSG_MAX:
            return None if is_auth(sev, msg) else []
        if rec.pid in self._received:
            suspect = self._discontinuity(rec)
            if suspect is not None:
                return suspect
        if sev == "LOG":
            return self._log(rec, msg)
        return self._fatal(rec, msg)

    def finish(self) -> list[AuthEvent]:
        waiting = list(self._pending_pam.values())
        self._pending_pam.clear()
        return waiting

    def read(self, rec: Record, raw: str | Callable[[], str]) -> list[AuthEvent] | None:
        """Events of a record; a suspect is recorded with `raw`, its raw entry (or a
        function that makes it, for formats where that costs)."""
        out = self.classify(rec)
        if isinstance(out, Suspect):
            # A PAM LOG waiting for this FATAL took its user from the same doubtful prefix.
            self._pending_pam.pop(rec.pid, None)
            return self.refuse(out, raw if isinstance(raw, str) else raw())
        return out

    def refuse(self, suspect: Suspect, line: str) -> list[AuthEvent]:
        """Record a suspicious entry. A refused login still counts as a failed login from
        its host, with the user unknown, once per connection (FATAL and DETAIL alike)."""
        self.stats.suspicious += 1
        self.suspicious.append(
            SuspiciousEntry(
                suspect.time,
                suspect.reason,
                line[:MSG_MAX],
                suspect.host,
                suspect.port,
                self.source,
            )
        )
        key = (suspect.time, suspect.host, suspect.port)
        if not suspect.refused or key == self._last_refusal:
            return []
        self._last_refusal = key
        return [
            AuthEvent(
                suspect.time,
                "auth_failed",
                client_host=suspect.host,
                client_port=suspect.port,
                reason=f"suspicious log entry: {suspect.reason}",
                source=self.source,
            )
        ]

    def came_from(self, pid: str | None, remote: tuple[str | None, int | None]) -> bool:
        """Did connection `pid` start with a `connection received` from this host:port?"""
        seen = self._received.get(int(pid)) if pid else None
        return seen is not None and seen[:2] == remote

    def taken_back(self) -> None:
        """The caller dropped the events of the last entry: a refusal it counted may be
        counted again, from the line that shows what the entry was."""
        self._last_refusal = None

    def _suspect(self, rec: Record, reason: str) -> Suspect:
        return Suspect(reason, rec.time, rec.host, rec.port, rec.severity == "FATAL")

    def _discontinuity(self, rec: Record) -> Suspect | None:
        """Pid continuity: received, then authenticated, authorized or refused, on one
        host:port. Only where the log holds the connection's `connection received`."""
        host, port, when, earliest, latest = self._received[rec.pid]
        if rec.message.startswith("connection received"):
            return None
        late = rec.time > latest and not rec.message.startswith("disconnection")
        if rec.host != host or rec.port != port or rec.time < earliest or late:
            return Suspect(
                "host, port or time differ from the connection's 'connection received' line",
                when,
                host,
                port,
                rec.severity == "FATAL",
            )
        return None

    def _disagrees(self, rec: Record, user: str | None, database: str | None) -> bool:
        """A name in the message that is not the one in the entry's own prefix/columns."""
        return (user is not None and rec.user is not None and user != rec.user) or (
            database is not None and rec.database is not None and database != rec.database
        )

    def _log(self, rec: Record, msg: str) -> Outcome:
        for text, anywhere, read in _LOG_RULES:
            if (text in msg[:36]) if anywhere else msg.startswith(text):
                return read(self, rec, msg)
        return None if msg.startswith(AUTH_LOG) else []

    def _authenticated(self, rec: Record, msg: str) -> Outcome:
        m = AUTHENTICATED.fullmatch(msg)
        if m is None:
            return None
        return [
            record_event(
                rec,
                "connection_authenticated",
                self.source,
                method=m.group("method"),
                identity=m.group("identity"),
            )
        ]

    def _pam_failed(self, rec: Record, msg: str) -> Outcome:
        m = PAM_LOG.fullmatch(msg)
        if m is None:
            return None
        return self._pam_log(
            record_event(rec, "auth_failed", self.source, method="pam", reason=m.group("reason"))
        )

    def _authorized(self, rec: Record, msg: str) -> Outcome:
        """`user=U database=D` must be the prefix's own U and D. Where the prefix names
        them, the message must start with exactly those: no regex has to guess where a
        name that holds " database=" ends (and none costs more than linear time)."""
        m: re.Match[str] | None
        if rec.user is not None:
            known = msg[: msg.find("user=") + 5] + rec.user
            if rec.database is not None:
                known += " database=" + rec.database
            m = AUTHORIZED_AFTER_USER.fullmatch(msg, len(known))
            if not msg.startswith(known) or m is None or (rec.database and m.group("db")):
                if AUTHORIZED.fullmatch(msg) is None:
                    return None
                return self._suspect(rec, "'connection authorized' names another user/database")
            user = rec.user
        else:
            m = AUTHORIZED.fullmatch(msg)
            if m is None:
                return None
            user = m.group("user")
        return [
            record_event(
                rec,
                "connection_authorized",
                self.source,
                user=user,
                database=m.group("db") or rec.database,
                application_name=m.group("app") or rec.application_name,
                tls=m.group("tls"),
            )
        ]

    def _received_event(self, rec: Record, msg: str) -> Outcome:
        m = RECEIVED.fullmatch(msg)
        if m is None:
            return None
        port = int(m.group("port")) if m.group("port") else None
        host = m.group("host")
        if (rec.host is not None and host != rec.host) or (
            rec.port is not None and port is not None and port != rec.port
        ):
            return self._suspect(rec, "'connection received' names another host or port")
        if rec.pid is not None:
            self._received.pop(rec.pid, None)
            if len(self._received) >= self._MAX_PENDING:
                self._received.popitem(last=False)
            self._received[rec.pid] = (
                rec.host or host,
                rec.port or port,
                rec.time,
                rec.time - CLOCK_SLACK,
                rec.time + LOGIN_WINDOW,
            )
        return [
            record_event(
                rec,
                "connection_received",
                self.source,
                user=None,
                database=None,
                client_host=host or rec.host,
                client_port=port or rec.port,
            )
        ]

    def _disconnection(self, rec: Record, msg: str) -> Outcome:
        t = SESSION.match(msg)
        m = DISCONNECTION.fullmatch(msg, t.end()) if t is not None else None
        if t is None or m is None:
            return None
        if self._disagrees(rec, m.group("user"), m.group("db")):
            return self._suspect(rec, "'disconnection' names another user/database")
        if rec.pid is not None:
            self._received.pop(rec.pid, None)
        seconds = int(t.group("h")) * 3600 + int(t.group("m")) * 60 + float(t.group("s"))
        port = m.group("port")
        return [
            record_event(
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

    def _pam_log(self, event: AuthEvent) -> list[AuthEvent]:
        earlier = self._pending_pam.pop(event.pid, None)
        if len(self._pending_pam) >= self._MAX_PENDING:
            # A server that logs LOGs without their FATALs: don't grow without bound.
            oldest = next(iter(self._pending_pam))
            flushed = [self._pending_pam.pop(oldest)]
        else:
            flushed = []
        self._pending_pam[event.pid] = event
        return ([earlier] if earlier else []) + flushed

    def _fatal(self, rec: Record, msg: str) -> Outcome:
        m = AUTH_FAILED.fullmatch(msg)
        if m is not None:
            user = m.group("user")
            if self._disagrees(rec, user, None):
                return self._suspect(rec, "the failure names another user than the prefix")
            method = METHODS.get(m.group("method"), m.group("method").lower())
            waiting = self._pending_pam.pop(rec.pid, None) if method == "pam" else None
            if waiting is not None:
                # One attempt, two lines: keep the LOG's reason, take the FATAL's time so a
                # re-read that sees only the FATAL cannot make a different attempt of it.
                return [replace(waiting, time=rec.time, user=user or waiting.user)]
            return [
                record_event(
                    rec, "auth_failed", self.source, user=user, method=method, reason=rec.detail
                )
            ]
        if "pg_hba.conf" in msg:
            m = HBA.fullmatch(msg)
            if m is None:
                return None
            if self._disagrees(rec, m.group("user"), m.group("db")):
                return self._suspect(rec, "the pg_hba.conf refusal names another user/database")
            return [
                record_event(
                    rec,
                    "hba_rejected",
                    self.source,
                    user=m.group("user") or rec.user,
                    database=m.group("db") or rec.database,
                    client_host=m.group("host") or rec.host,
                    reason=msg,
                )
            ]
        m = REJECTED.fullmatch(msg)
        if m is not None:
            if self._disagrees(rec, m.group("role"), m.group("db")):
                return self._suspect(rec, "the refusal names another user/database")
            return [
                record_event(
                    rec,
                    "connection_rejected",
                    self.source,
                    user=m.group("role") or rec.user,
                    database=m.group("db") or rec.database,
                    reason=msg,
                )
            ]
        return None if is_auth("FATAL", msg) else []


# The LOG messages that are login evidence, and the rule that reads each: the first whose
# text is where it must be wins. `anywhere`: within the first 36 characters, not only at
# the start (`replication connection authorized`). A LOG no rule takes is no event.
_LOG_RULES: tuple[tuple[str, bool, Callable[[Classifier, Record, str], Outcome]], ...] = (
    ("connection received", False, Classifier._received_event),
    ("connection authenticated", False, Classifier._authenticated),
    ("connection authorized", True, Classifier._authorized),
    ("disconnection", False, Classifier._disconnection),
    ("pam_authenticate failed", False, Classifier._pam_failed),
)
