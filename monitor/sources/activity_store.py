"""Write activity poll results into the store: sessions, target status, database roles.

A poll does not append rows: it upserts one row per session (target, pid, backend_start)
and stamps `ended_at` on the sessions it no longer sees, so storage grows with sessions,
not with polls. A failed poll ends nothing: the sessions may well still be there.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from monitor.sources.activity import PollResult, RoleRow, SessionRow
from monitor.store.sqlite import to_text

_UPSERT_SESSION = (
    "INSERT INTO sessions (target, pid, backend_start, usename, datname, client_addr,"
    " client_hostname, client_port, application_name, backend_type, first_seen, last_seen,"
    " last_state, last_wait_event_type, last_xact_start, last_query_start, last_state_change,"
    " last_query, seen_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
    " ON CONFLICT (target, pid, backend_start) DO UPDATE SET"
    " last_seen = excluded.last_seen, last_state = excluded.last_state,"
    " application_name = excluded.application_name,"
    " last_wait_event_type = excluded.last_wait_event_type,"
    " last_xact_start = excluded.last_xact_start, last_query_start = excluded.last_query_start,"
    " last_state_change = excluded.last_state_change,"
    " last_query = COALESCE(excluded.last_query, sessions.last_query),"
    " seen_count = sessions.seen_count + 1, ended_at = NULL"
)


def _t(value: object) -> str | None:
    return None if value is None else to_text(value)  # type: ignore[arg-type]


def _session_params(target: str, seen: str, s: SessionRow) -> tuple[object, ...]:
    return (
        target,
        s.pid,
        to_text(s.backend_start),
        s.usename,
        s.datname,
        s.client_addr,
        s.client_hostname,
        s.client_port,
        s.application_name,
        s.backend_type,
        seen,
        seen,
        s.state,
        s.wait_event_type,
        _t(s.xact_start),
        _t(s.query_start),
        _t(s.state_change),
        s.query,
    )


def record_poll(conn: sqlite3.Connection, result: PollResult) -> None:
    """Store one poll's outcome; call inside `Store.transaction()`."""
    now = to_text(result.polled_at)
    ok = result.status == "ok"
    conn.execute(
        "INSERT INTO target_status (target, status, reason, polled_at, duration_ms, row_count,"
        " last_ok_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (target) DO UPDATE SET"
        " status = excluded.status, reason = excluded.reason, polled_at = excluded.polled_at,"
        " duration_ms = excluded.duration_ms, row_count = excluded.row_count,"
        " last_ok_at = COALESCE(excluded.last_ok_at, target_status.last_ok_at)",
        (
            result.target,
            result.status,
            result.reason,
            now,
            round(result.duration_ms, 3),
            len(result.sessions) if ok else None,
            now if ok else None,
        ),
    )
    if not ok:
        return
    open_rows = conn.execute(
        "SELECT id, pid, backend_start FROM sessions WHERE target = ? AND ended_at IS NULL",
        (result.target,),
    ).fetchall()
    current = {(s.pid, to_text(s.backend_start)) for s in result.sessions}
    ended = [(now, row_id) for row_id, pid, start in open_rows if (pid, start) not in current]
    conn.executemany("UPDATE sessions SET ended_at = ? WHERE id = ?", ended)
    conn.executemany(
        _UPSERT_SESSION, [_session_params(result.target, now, s) for s in result.sessions]
    )
    if result.roles is not None:
        record_roles(conn, result.target, result.roles, now)


def record_roles(conn: sqlite3.Connection, target: str, roles: Iterable[RoleRow], now: str) -> None:
    roles = list(roles)
    conn.executemany(
        "INSERT INTO db_roles (target, rolname, rds_iam, superuser, rds_superuser, can_login,"
        " valid_until, member_of, first_seen, observed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (target, rolname) DO UPDATE SET rds_iam = excluded.rds_iam,"
        " superuser = excluded.superuser, rds_superuser = excluded.rds_superuser,"
        " can_login = excluded.can_login, valid_until = excluded.valid_until,"
        " member_of = excluded.member_of, observed_at = excluded.observed_at,"
        " dropped_at = NULL",
        [
            (
                target,
                r.rolname,
                int("rds_iam" in r.member_of),
                int(r.superuser),
                int("rds_superuser" in r.member_of),
                int(r.can_login),
                _t(r.valid_until),
                json.dumps(sorted(r.member_of)),
                now,
                now,
            )
            for r in roles
        ],
    )
    present = {r.rolname for r in roles}
    known = conn.execute(
        "SELECT rolname FROM db_roles WHERE target = ? AND dropped_at IS NULL", (target,)
    ).fetchall()
    conn.executemany(
        "UPDATE db_roles SET dropped_at = ? WHERE target = ? AND rolname = ?",
        [(now, target, name) for (name,) in known if name not in present],
    )
