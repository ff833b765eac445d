"""Plain data shared between stages: frozen, typed, no behaviour beyond serialisation."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

AuthEventKind = Literal[
    "connection_received",
    "connection_authenticated",
    "connection_authorized",
    "auth_failed",
    "hba_rejected",
    "connection_rejected",
    "disconnection",
]

AUTH_EVENT_KINDS: tuple[AuthEventKind, ...] = (
    "connection_received",
    "connection_authenticated",
    "connection_authorized",
    "auth_failed",
    "hba_rejected",
    "connection_rejected",
    "disconnection",
)


@dataclass(frozen=True, slots=True)
class AuthEvent:
    """One PostgreSQL log entry (or a LOG+FATAL pair) as an auth/connection event.

    The first eleven fields are DESIGN.md's schema ("What a log line becomes"). The last
    three carry what some kinds add: `identity` (connection_authenticated), `tls`
    (connection_authorized: the TLS protocol, None without SSL) and `session_s`
    (disconnection: the session time in seconds).
    """

    time: datetime
    kind: AuthEventKind
    user: str | None = None
    database: str | None = None
    client_host: str | None = None
    client_port: int | None = None
    pid: int | None = None
    method: str | None = None
    reason: str | None = None
    application_name: str | None = None
    source: str = ""
    identity: str | None = None
    tls: str | None = None
    session_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with the time as ISO-8601; key order is the field order."""
        out = asdict(self)
        out["time"] = self.time.isoformat()
        return out

    def dedup_key(self, target: str | None) -> str:
        """Same event, same key, whichever source it was read from (so `source` is left out).

        Reading a log twice, or the same lines from CloudWatch and from a file, stores one row.
        `reason` is left out too: when a read ends between a `pam_authenticate failed` LOG
        and its FATAL (same pid, same second), the next read sees the FATAL alone, without
        the LOG's reason, and that must still be the same attempt.
        """
        parts = (
            target,
            self.time.isoformat(),
            self.kind,
            self.user,
            self.database,
            self.client_host,
            self.client_port,
            self.pid,
            self.method,
        )
        return hashlib.sha256(repr(parts).encode("utf-8", "replace")).hexdigest()[:32]
