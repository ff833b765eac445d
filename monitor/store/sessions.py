"""Write activity poll results into the store: sessions, target status, database roles.

A poll does not append rows: each session is one row (target, pid, backend_start), and
sessions that are gone get `ended_at`, so storage grows with sessions, not with polls.
A failed poll ends nothing: the sessions may well still be there. A session found gone by
the first good poll after failed ones ends at its `last_seen`, with the unseen stretch
after it in `end_gap_s`: it ended somewhere in there, not when the target came back.

`SessionRecorder` remembers each target's open sessions as the last poll showed them, so a
poll costs one UPDATE for last_seen/seen_count of all open rows, plus writes only for the
sessions that are new, changed or gone. The memory is dropped whenever a write fails, and
rebuilt from the store, so it can never drift from what was committed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from monitor import sql
from monitor.sources.activity import PollResult, RoleRow, SessionRow
from monitor.store.sqlite import Conn, to_text

Key = tuple[int, datetime]


def _t(value: datetime | None) -> str | None:
    return None if value is None else to_text(value)


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class SessionRecorder:
    """Stores poll results; keep one per process (daemon) or per run (`once`).

    `second_paths` are targets whose sessions and roles another target records: a proxy
    target whose proxy fronts a database pgwarden also watches sees that database's
    pg_stat_activity and roles. Only their status is kept, so each session and role is
    recorded, and reported, once (sessions recorded for them before are ended)."""

    def __init__(self, second_paths: frozenset[str] = frozenset()) -> None:
        # target -> {(pid, backend_start): (row id, the row as last stored)}
        self._open: dict[str, dict[Key, tuple[int, SessionRow]]] = {}
        self.second_paths = second_paths

    def record(self, conn: Conn, result: PollResult) -> None:
        """Store one poll's outcome; call inside `Store.transaction()`."""
        try:
            self._record(conn, result)
        except BaseException:
            self._open.clear()  # the transaction rolls back: forget what it wrote
            raise

    def _record(self, conn: Conn, result: PollResult) -> None:
        now = to_text(result.polled_at)
        ok = result.status == "ok"
        before = conn.execute(sql.load("store/target_status_get"), (result.target,)).fetchall()
        after_outage = bool(before) and before[0][0] != "ok"
        conn.execute(
            sql.load("store/target_status_upsert"),
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
        known = self._open.get(result.target)
        if known is None:
            known = self._load(conn, result.target)
        recorded = result.target not in self.second_paths
        current = {(s.pid, s.backend_start): s for s in result.sessions if recorded}
        ended = [key for key in known if key not in current]
        # After an outage the session ended at some point while nobody could look: say the
        # last time it was seen, and how long the blind spot after it was.
        conn.executemany(
            sql.load("store/session_end_unseen" if after_outage else "store/session_end"),
            [(now, known[k][0]) for k in ended],
        )
        for key in ended:
            del known[key]
        # Every session still open was seen now: one statement for all of them.
        conn.execute(sql.load("store/sessions_seen"), (now, result.target))
        changed = []
        for key, row in current.items():
            entry = known.get(key)
            if entry is None:
                params = _insert_params(result.target, now, row)
                cursor = conn.execute(sql.load("store/session_insert"), params)
                assert cursor.lastrowid is not None
                known[key] = (cursor.lastrowid, row)
            elif entry[1] != row:
                changed.append(_changed_params(entry[0], row))
                known[key] = (entry[0], row)
        conn.executemany(sql.load("store/session_update_changed"), changed)
        self._open[result.target] = known
        if result.roles is not None and recorded:
            record_roles(conn, result.target, result.roles, now)

    def _load(self, conn: Conn, target: str) -> dict[Key, tuple[int, SessionRow]]:
        known: dict[Key, tuple[int, SessionRow]] = {}
        for r in conn.execute(sql.load("store/sessions_open"), (target,)).fetchall():
            start = datetime.fromisoformat(r[2])
            row = SessionRow(
                r[1], r[3], r[4], r[5], r[6], r[7], r[8], start,
                _dt(r[9]), _dt(r[10]), _dt(r[11]), r[12], r[13], r[14], r[15],
            )  # fmt: skip
            known[(r[1], start)] = (r[0], row)
        return known


def _insert_params(target: str, seen: str, s: SessionRow) -> tuple[object, ...]:
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


def _changed_params(row_id: int, s: SessionRow) -> tuple[object, ...]:
    return (
        s.application_name,
        s.state,
        s.wait_event_type,
        _t(s.xact_start),
        _t(s.query_start),
        _t(s.state_change),
        s.query,
        row_id,
    )


def record_roles(conn: Conn, target: str, roles: Iterable[RoleRow], now: str) -> None:
    """Upsert the target's login roles; those no longer listed get `dropped_at`."""
    roles = list(roles)
    conn.executemany(
        sql.load("store/db_role_upsert"),
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
    known = conn.execute(sql.load("store/db_roles_present"), (target,)).fetchall()
    conn.executemany(
        sql.load("store/db_role_drop"),
        [(now, target, name) for (name,) in known if name not in present],
    )
