"""What the detectors of logins and sessions read: typed evidence, loaded from the store.

Each loader is a detector's `load(conn, now, opts)`, registered with it: it runs the
detector's queries (queries/store/) and returns frozen data for its pure `detect`. The
detectors of grants, roles and health read monitor/store/usage.py.
"""

from __future__ import annotations

import fnmatch
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor import sql
from monitor.store.fronting import Fronting, load_fronting
from monitor.store.sqlite import Conn, to_text

if TYPE_CHECKING:
    from monitor.judge.detectors.failure_burst import FailureBurstOptions
    from monitor.judge.detectors.iam_throttling import IamThrottlingOptions
    from monitor.judge.detectors.log_injection import LogInjectionOptions
    from monitor.judge.detectors.new_source import NewSourceOptions
    from monitor.judge.detectors.off_hours import OffHoursOptions
    from monitor.judge.detectors.password_login import PasswordLoginOptions
    from monitor.judge.detectors.privileged_session import PrivilegedSessionOptions
    from monitor.judge.detectors.proxy_bypass import ProxyBypassOptions

# The longest an AssumeRole session can last; the default (and the usual) is one hour.
MAX_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class Assumption:
    time: datetime
    source_ip: str | None
    vpc_endpoint: str | None
    caller: str | None


@dataclass(frozen=True)
class LinkData:
    """Grants by target, and each role's assumptions in time order."""

    grants: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    assumptions: dict[str, list[Assumption]] = field(default_factory=dict)


def load_links(conn: Conn, since: datetime) -> LinkData:
    """The grants, and the assumptions whose credentials may still have lived at `since`."""
    grants: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for principal, kind, target, db_user in conn.execute(sql.load("store/link_grants")):
        grants[target].append((principal, kind, db_user))
    assumptions: dict[str, list[Assumption]] = defaultdict(list)
    params = {"since": to_text(since - MAX_LIFETIME)}
    for role, when, ip, vpce, caller in conn.execute(sql.load("store/link_assumptions"), params):
        assumptions[role].append(Assumption(datetime.fromisoformat(when), ip, vpce, caller))
    return LinkData(dict(grants), dict(assumptions))


@dataclass(frozen=True)
class Attempt:
    """One login attempt. `host` is the client's address (None when the database saw only a
    proxy's), `via` the proxy it came through, `caller` the principal the database's own
    log names (iam-db-auth-error), as stated."""

    target: str
    user: str
    host: str | None
    time: datetime
    via: str | None = None
    caller: str | None = None


@dataclass(frozen=True)
class AuthHistory:
    failures: list[Attempt]
    successes: list[Attempt]
    links: LinkData = field(default_factory=LinkData)


def auth_history(conn: Conn, now: datetime, opts: FailureBurstOptions) -> AuthHistory:
    """failure-burst: failed and successful logins in the lookback, each with its client
    address and proxy as monitor/store/fronting.py reads them."""
    since = now - timedelta(hours=opts.lookback_hours)
    fronting = load_fronting(conn)
    failures = _attempts(conn, "store/auth_failures", since, fronting)
    successes = _attempts(conn, "store/auth_successes", since, fronting)
    return AuthHistory(failures, successes, load_links(conn, since))


def iam_throttled(conn: Conn, now: datetime, opts: IamThrottlingOptions) -> list[Attempt]:
    """iam-throttling: the IAM logins refused for throttling in the lookback."""
    since = now - timedelta(hours=opts.lookback_hours)
    # Only iam-db-auth-error lines state the code, and they name no client address: no
    # address to take for a proxy's, so the proxies need not be loaded.
    return _attempts(conn, "store/iam_throttled", since, Fronting())


def _attempts(conn: Conn, query: str, since: datetime, fronting: Fronting) -> list[Attempt]:
    out = []
    for t, u, h, ts, proxy, caller in conn.execute(sql.load(query), {"since": to_text(since)}):
        host, via = fronting.client(t, h, proxy)
        out.append(Attempt(t, u or "", host, datetime.fromisoformat(ts), via, caller))
    return out


@dataclass(frozen=True)
class Suspicious:
    target: str
    host: str | None
    port: int | None
    time: datetime
    reason: str
    line: str
    source: str


def log_injections(conn: Conn, now: datetime, opts: LogInjectionOptions) -> list[Suspicious]:
    """log-injection: log entries refused as evidence, in the lookback."""
    since = {"since": to_text(now - timedelta(hours=opts.lookback_hours))}
    return [
        Suspicious(t or "", h, p, datetime.fromisoformat(ts), r, line, src)
        for t, h, p, ts, r, line, src in conn.execute(sql.load("store/log_injections"), since)
    ]


@dataclass(frozen=True)
class PasswordLogin:
    target: str
    user: str
    method: str
    host: str | None  # the client's address; None when the database saw only a proxy's
    logins: int
    first: datetime
    last: datetime
    via: str | None = None  # the proxy it came through


@dataclass(frozen=True)
class PasswordLogins:
    logins: list[PasswordLogin]
    rds_iam: set[tuple[str, str]]
    links: LinkData = field(default_factory=LinkData)


@dataclass(frozen=True)
class ProxiedLogins:
    logins: list[PasswordLogin]
    fronting: Fronting


def password_logins(conn: Conn, now: datetime, opts: PasswordLoginOptions) -> PasswordLogins:
    """password-login: logins by password (each with its client address and proxy, as
    monitor/store/fronting.py reads them), and which users hold rds_iam."""
    since = now - timedelta(days=opts.lookback_days)
    logins = _password_logins(conn, since, load_fronting(conn))
    rds_iam = {(t, u) for t, u in conn.execute(sql.load("store/rds_iam_users"))}
    return PasswordLogins(logins, rds_iam, load_links(conn, since))


def proxy_bypass(conn: Conn, now: datetime, opts: ProxyBypassOptions) -> ProxiedLogins:
    """proxy-bypass: the window's password logins, and the proxies in front of each target."""
    fronting = load_fronting(conn)
    since = now - timedelta(days=opts.window_days)
    return ProxiedLogins(_password_logins(conn, since, fronting), fronting)


def _password_logins(conn: Conn, since: datetime, fronting: Fronting) -> list[PasswordLogin]:
    logins = []
    for t, u, m, h, n, f, lst, proxy in conn.execute(
        sql.load("store/password_logins"), {"since": to_text(since)}
    ):
        host, via = fronting.client(t, h, proxy)
        first, last = datetime.fromisoformat(f), datetime.fromisoformat(lst)
        logins.append(PasswordLogin(t, u or "", m, host, n, first, last, via))
    return logins


@dataclass(frozen=True)
class PrivilegedSession:
    target: str
    user: str
    host: str | None
    application: str | None
    started: datetime
    why: str
    via: str | None = None  # the proxy it came through; `host` is then None


@dataclass(frozen=True)
class PrivilegedSessions:
    sessions: list[PrivilegedSession]
    links: LinkData = field(default_factory=LinkData)


def privileged_sessions(
    conn: Conn, now: datetime, opts: PrivilegedSessionOptions
) -> PrivilegedSessions:
    """privileged-session: sessions of superusers, rds_superusers and master users, each
    with its client address and proxy (monitor/store/fronting.py)."""
    params = {
        "since": to_text(now - timedelta(hours=opts.lookback_hours)),
        "masters": json.dumps(list(opts.master_users)),
    }
    fronting = load_fronting(conn)
    sessions = []
    for t, u, h, a, b, _last, su, rs in conn.execute(sql.load("store/privileged_sessions"), params):
        if u in opts.ignore_users:
            continue
        host, via = fronting.client(t, h, None)
        why = "superuser" if su else "rds_superuser" if rs else "master user"
        sessions.append(PrivilegedSession(t, u, host, a, datetime.fromisoformat(b), why, via))
    return PrivilegedSessions(
        sessions, load_links(conn, now - timedelta(hours=opts.lookback_hours))
    )


@dataclass(frozen=True)
class SessionStart:
    target: str
    user: str
    host: str | None  # the client's address; None when the database saw only a proxy's
    application: str | None
    started: datetime
    via: str | None = None  # the proxy it came through


@dataclass(frozen=True)
class SessionStarts:
    sessions: list[SessionStart]
    links: LinkData = field(default_factory=LinkData)


def session_starts(conn: Conn, now: datetime, opts: OffHoursOptions) -> SessionStarts:
    """off-hours: sessions (and logins a proxy's own log records) of the users the patterns
    name, started in the lookback, each with its client address and proxy."""
    since = now - timedelta(days=opts.lookback_days)
    fronting = load_fronting(conn)
    sessions = []
    for t, u, h, a, b, proxy in conn.execute(
        sql.load("store/sessions_since"), {"since": to_text(since)}
    ):
        if any(fnmatch.fnmatchcase(u, p) for p in opts.user_patterns):
            host, via = fronting.client(t, h, proxy)
            sessions.append(SessionStart(t, u, host, a, datetime.fromisoformat(b), via))
    return SessionStarts(sessions, load_links(conn, since))


@dataclass(frozen=True)
class FirstSeen:
    kind: str  # db | proxy (a target's proxy-side client) | role
    subject: str  # target/user, a target, or a role ARN
    attribute: str
    value: str
    first: datetime
    seen: int
    via: str | None = None  # the proxy whose own log recorded the value


@dataclass(frozen=True)
class History:
    """Recent values; `started` holds when each subject was first seen at all (the loader
    gets it from the whole history; without it, the values themselves are the history)."""

    values: list[FirstSeen]
    links: LinkData = field(default_factory=LinkData)
    started: dict[tuple[str, str], datetime] = field(default_factory=dict)


def first_seen(conn: Conn, now: datetime, opts: NewSourceOptions) -> History:
    """new-source: the values first seen within the alert window, and when each subject
    was first seen at all. A database-side client address inside a fronting proxy's subnets
    is the proxy's, not a source (monitor/store/fronting.py): it is left out."""
    recent = {"recent": to_text(now - timedelta(days=opts.alert_days))}
    fronting = load_fronting(conn)
    values, started = [], {}
    for kind, subject, attribute, value, first, seen, start, via in conn.execute(
        sql.load("store/first_seen_values"), recent
    ):
        started[(kind, subject)] = datetime.fromisoformat(start)
        db_side = kind == "db" and attribute == "client host" and via is None
        if db_side and fronting.via(subject.split("/", 1)[0], value):
            continue
        values.append(
            FirstSeen(kind, subject, attribute, value, datetime.fromisoformat(first), seen, via)
        )
    links = load_links(conn, now - timedelta(days=opts.alert_days))
    return History(values, links, started)
