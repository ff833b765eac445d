"""Plain data shared between stages: frozen and typed. Auth events from the logs, and the
findings detectors return, with their evidence and linked principals."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

# An AWS Organizations id: in config, and in the paths of an organisation trail's objects.
ORG_ID = re.compile(r"o-[a-z0-9]{10,32}")

AuthEventKind = Literal[
    "connection_received",
    "connection_authenticated",
    "connection_authorized",
    "auth_failed",
    "hba_rejected",
    "connection_rejected",
    "disconnection",
]

AUTH_EVENT_KINDS: tuple[AuthEventKind, ...] = get_args(AuthEventKind)


@dataclass(frozen=True, slots=True)
class AuthEvent:
    """One PostgreSQL log entry (or a LOG+FATAL pair) as an auth/connection event.

    The first eleven fields are DESIGN.md's schema ("What a log line becomes"). The next
    three carry what some kinds add: `identity` (connection_authenticated), `tls`
    (connection_authorized: the TLS protocol, None without SSL) and `session_s`
    (disconnection: the session time in seconds). The last three say where a failure's facts
    come from: `proxy`, the RDS Proxy whose own log wrote the event (the client fields are
    then the client's, not the proxy's); `reason_code`, the code an `iam-db-auth-error` line
    states (InvalidToken, ExpiredToken, NotAuthorized, ThrottlingException, InternalError,
    Unknown); `caller_arn`, the IAM principal such a line names, as the log states it.
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
    proxy: str | None = None
    reason_code: str | None = None
    caller_arn: str | None = None

    def to_json(self) -> dict[str, object]:
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


@dataclass(frozen=True, slots=True)
class SuspiciousEntry:
    """A log entry refused as evidence: it could have been forged by a client.

    `time`, `client_host` and `client_port` come from the parts of the entry a client
    cannot choose (or the connection's `connection received` line); `line` is the raw
    entry as read, kept whole for the evidence and escaped wherever it is shown.
    """

    time: datetime
    reason: str
    line: str
    client_host: str | None = None
    client_port: int | None = None
    source: str = ""

    @property
    def kind(self) -> str:
        """As in `parse-logs` output, so a stream of events and entries filters by kind."""
        return "suspicious_entry"

    def to_json(self) -> dict[str, object]:
        """A `parse-logs` JSON Lines record; `line` is escaped to printable text."""
        from monitor.outputs.formats import inert

        return {
            "kind": "suspicious_entry",
            "time": self.time.isoformat(),
            "reason": self.reason,
            "client_host": self.client_host,
            "client_port": self.client_port,
            "source": self.source,
            "line": inert(self.line, "terminal"),
        }

    def dedup_key(self, target: str | None) -> str:
        """The same entry read twice (or from two sources) is one row."""
        parts = (target, self.time.isoformat(), self.client_host, self.client_port, self.line)
        return hashlib.sha256(repr(parts).encode("utf-8", "replace")).hexdigest()[:32]


Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")


@dataclass(frozen=True)
class EvidenceItem:
    """One line of evidence: what happened, when, from where, how often."""

    time: datetime
    what: str
    host: str | None = None
    count: int = 1


@dataclass(frozen=True)
class LinkedPrincipal:
    """An IAM principal that plausibly produced a login. `confidence` is never certainty."""

    arn: str
    confidence: Literal["high", "medium", "low"]
    why: str


@dataclass(frozen=True)
class StatedPrincipal:
    """An IAM principal a log names outright (iam-db-auth-error's NotAuthorized caller): a
    fact as the database's own log states it, not a guess. Still log text: escaped on the
    way out like every other value."""

    arn: str
    why: str


@dataclass(frozen=True)
class Finding:
    """What a detector returns. The fingerprint is stable: detector plus subject key."""

    detector: str
    subject: str
    severity: Severity
    title: str
    why: str
    remedy: str
    account: str | None = None
    target: str | None = None
    db_user: str | None = None
    evidence: tuple[EvidenceItem, ...] = ()
    principals: tuple[LinkedPrincipal, ...] = ()
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # Principals the log names: shown before, and apart from, the guessed `principals`.
    stated: tuple[StatedPrincipal, ...] = ()

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.detector}\0{self.subject}".encode()).hexdigest()
        return f"{self.detector}:{digest[:16]}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fingerprint"] = self.fingerprint
        data["evidence"] = [{**e, "time": e["time"].isoformat()} for e in data["evidence"]]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(
            detector=data["detector"],
            subject=data["subject"],
            severity=data["severity"],
            title=data["title"],
            why=data["why"],
            remedy=data["remedy"],
            account=data.get("account"),
            target=data.get("target"),
            db_user=data.get("db_user"),
            evidence=tuple(
                EvidenceItem(datetime.fromisoformat(e["time"]), e["what"], e["host"], e["count"])
                for e in data.get("evidence", [])
            ),
            principals=tuple(LinkedPrincipal(**p) for p in data.get("principals", [])),
            details=data.get("details", {}),
            stated=tuple(StatedPrincipal(**p) for p in data.get("stated", [])),
        )


ProxyIamAuth = Literal["REQUIRED", "ENABLED", "DISABLED"]


@dataclass(frozen=True)
class ProxyAuth:
    """One entry of an RDS Proxy's `Auth` list (describe_db_proxies): how clients log in
    with one secret's user. `REQUIRED` means IAM only; `DISABLED`, the secret's password."""

    iam_auth: ProxyIamAuth
    secret_arn: str | None = None
    user_name: str | None = None
    client_password_auth_type: str | None = None


# A cluster or a standalone instance registered behind a proxy, by its identifier.
ProxyDatabase = tuple[Literal["cluster", "instance"], str]


def proxy_log_group(proxy_name: str) -> str:
    """Where an RDS Proxy writes its log in CloudWatch Logs."""
    return f"/aws/rds/proxy/{proxy_name}"


@dataclass(frozen=True)
class Proxy:
    """An RDS Proxy and the databases it fronts (`fronts`: pgwarden target names)."""

    name: str
    account_id: str
    region: str
    arn: str
    engine_family: str
    endpoint: str
    require_tls: bool
    debug_logging: bool
    auth: tuple[ProxyAuth, ...] = ()
    fronts: tuple[str, ...] = ()
    # Endpoints beyond the default one (describe_db_proxy_endpoints).
    endpoints: tuple[str, ...] = ()
    # The CIDR blocks of the proxy's subnets: the database sees its connections from there.
    networks: tuple[str, ...] = ()
    # The databases registered as its targets (describe_db_proxy_targets) when described
    # this run; None when unknown: the call failed, or the proxy was read back from the
    # store, which keeps `fronts` and not this.
    databases: tuple[ProxyDatabase, ...] | None = None

    @property
    def log_group(self) -> str:
        return proxy_log_group(self.name)

    @property
    def iam_only(self) -> bool:
        """Every way in through this proxy takes an IAM token."""
        return bool(self.auth) and all(a.iam_auth == "REQUIRED" for a in self.auth)
