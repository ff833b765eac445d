"""What the detectors of grants, roles, reviews and pgwarden's own health read: typed
evidence, loaded from the store.

Each loader is a detector's `load(conn, now, opts)`, registered with it (see
monitor/store/evidence.py for the detectors of logins and sessions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor import sql
from monitor.parsing.cloudtrail import AccessChangeEvent
from monitor.store.grants import granting_roles
from monitor.store.sqlite import Conn, from_text, to_text

if TYPE_CHECKING:
    from monitor.judge.detectors.access_change import AccessChangeOptions
    from monitor.judge.detectors.monitoring_gap import MonitoringGapOptions
    from monitor.judge.detectors.revoked_access import RevokedAccessOptions
    from monitor.judge.detectors.unexpected_assume_source import UnexpectedAssumeSourceOptions
    from monitor.judge.detectors.unused_db_user import UnusedDbUserOptions
    from monitor.judge.detectors.unused_iam_grant import UnusedIamGrantOptions
    from monitor.judge.detectors.unused_role import UnusedRoleOptions


def _history_start(conn: Conn) -> datetime | None:
    """The first CloudTrail event held: how far back "never assumed" reaches."""
    (start,) = conn.execute(sql.load("store/trail_history_start")).fetchall()[0]
    return from_text(start)


@dataclass(frozen=True)
class RoleUse:
    roles: set[str]
    last_assumed: dict[str, datetime]
    history_start: datetime | None


def role_use(conn: Conn, now: datetime, opts: UnusedRoleOptions) -> RoleUse:
    """unused-role: the watched and granting roles, and when each was last used."""
    last: dict[str, datetime] = {}
    for name in ("store/role_last_used", "store/role_last_assumed"):
        for arn, when in conn.execute(sql.load(name)):
            moment = datetime.fromisoformat(when)
            last[arn] = max(moment, last.get(arn, moment))
    roles = {*opts.watched_roles, *granting_roles(conn)}
    return RoleUse(roles, last, _history_start(conn))


@dataclass(frozen=True)
class Grant:
    principal: str
    principal_type: str
    account: str
    target: str
    db_user: str
    policy: str
    statement: str
    resource_id: str
    first_observed: datetime
    last_login: datetime | None


@dataclass(frozen=True)
class GrantUse:
    grants: list[Grant]
    last_assumed: dict[str, datetime]
    history_start: datetime | None


def grant_use(conn: Conn, now: datetime, opts: UnusedIamGrantOptions) -> GrantUse:
    """unused-iam-grant: each connect grant with its last login, and each role's last
    assumption."""
    grants = [
        Grant(p, pt, a, t, u, pol, st, r, datetime.fromisoformat(first), from_text(login))
        for p, pt, a, t, u, pol, st, r, first, login in conn.execute(
            sql.load("store/connect_grants")
        )
    ]
    last: dict[str, datetime] = {}
    for arn, when in conn.execute(sql.load("store/role_last_assumed")):
        last[arn] = datetime.fromisoformat(when)
    return GrantUse(grants, last, _history_start(conn))


@dataclass(frozen=True)
class IamRole:
    target: str
    user: str
    first_seen: datetime
    watched_since: datetime
    last_used: datetime | None


def iam_roles(conn: Conn, now: datetime, opts: UnusedDbUserOptions) -> list[IamRole]:
    """unused-db-user: the login roles holding rds_iam, and when each was last used."""
    roles = []
    for target, user, first, watched, login, session, poll in conn.execute(
        sql.load("store/iam_login_roles")
    ):
        last = max(
            (t for t in (from_text(login), from_text(session), from_text(poll)) if t), default=None
        )
        roles.append(
            IamRole(
                target, user, datetime.fromisoformat(first), datetime.fromisoformat(watched), last
            )
        )
    return roles


@dataclass(frozen=True)
class TargetState:
    target: str
    status: str | None
    reason: str | None
    polled_at: datetime | None
    last_ok: datetime | None
    last_log_event: datetime | None
    last_session: datetime | None
    watched_since: datetime


@dataclass(frozen=True)
class Health:
    targets: list[TargetState]
    cursors: dict[str, datetime]


def health(conn: Conn, now: datetime, opts: MonitoringGapOptions) -> Health:
    """monitoring-gap: each target's last poll, log event and session; each source's cursor."""
    targets = [
        TargetState(
            n,
            st,
            r,
            from_text(p),
            from_text(ok),
            from_text(log),
            from_text(ses),
            datetime.fromisoformat(f),
        )
        for n, st, r, p, ok, log, ses, f in conn.execute(sql.load("store/monitoring_state"))
    ]
    cursors = {
        s: datetime.fromisoformat(t) for s, t in conn.execute(sql.load("store/cursor_updates"))
    }
    return Health(targets, cursors)


@dataclass(frozen=True)
class RevokeDecision:
    kind: str  # db_user | principal
    target: str
    db_user: str
    principal_arn: str
    reviewer: str
    decided_at: datetime
    source: str
    still_seen: datetime | None
    account: str | None


def revoke_decisions(conn: Conn, now: datetime, opts: RevokedAccessOptions) -> list[RevokeDecision]:
    """revoked-access-present: reviewers' revoke decisions, and the access still seen."""
    return [
        RevokeDecision(
            kind,
            target,
            user,
            arn,
            reviewer,
            datetime.fromisoformat(decided),
            source,
            datetime.fromisoformat(seen) if seen else None,
            account,
        )
        for kind, target, user, arn, reviewer, decided, source, seen, account in conn.execute(
            sql.load("store/revoked_access")
        )
    ]


def access_changes(conn: Conn, now: datetime, opts: AccessChangeOptions) -> list[AccessChangeEvent]:
    """access-change: the CloudTrail access changes of the lookback."""
    since = {"since": to_text(now - timedelta(days=opts.lookback_days))}
    out = []
    for row in conn.execute(sql.load("store/access_changes_since"), since):
        (event_id, when, source, name, account, region, principal, ip, agent, subject,
         iam_auth, policy_arn, error_code, error_message, request) = row  # fmt: skip
        out.append(
            AccessChangeEvent(
                event_id=event_id,
                event_time=datetime.fromisoformat(when),
                event_source=source,
                event_name=name,
                recipient_account=account,
                aws_region=region,
                principal_arn=principal,
                source_ip=ip,
                user_agent=agent,
                subject=subject,
                iam_auth=None if iam_auth is None else bool(iam_auth),
                policy_arn=policy_arn,
                error_code=error_code,
                error_message=error_message,
                request=request,
            )
        )
    return out


@dataclass(frozen=True)
class Assumption:
    event_id: str
    time: datetime
    event_name: str
    recipient_account: str | None
    source_account: str | None
    principal: str | None
    principal_type: str | None
    source_ip: str | None
    role: str
    error_code: str | None


def assume_events(
    conn: Conn, now: datetime, opts: UnexpectedAssumeSourceOptions
) -> list[Assumption]:
    """unexpected-assume-source: the lookback's assumptions of watched and granting roles."""
    watched = {*opts.watched_roles, *granting_roles(conn)}
    since = {"since": to_text(now - timedelta(hours=opts.lookback_hours))}
    return [
        Assumption(e, datetime.fromisoformat(t), n, ra, sa, p, pt, ip, role, err)
        for e, t, n, ra, sa, p, pt, ip, role, err in conn.execute(
            sql.load("store/assume_events_since"), since
        )
        if role in watched
    ]
