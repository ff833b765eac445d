"""Live sessions: poll `pg_stat_activity` on every target over IAM-authenticated TLS.

Each target keeps one psycopg 3 connection between polls. A new connection gets a fresh
RDS IAM token (valid 15 minutes, and only checked at login), signed for the exact endpoint
that is dialled: writer, reader, instance or RDS Proxy. All targets are polled concurrently
through a bounded pool; each poll has its own deadline, so one dead target never delays
another. New connections across all targets share one rate limit: AWS advises staying well
below ~200 new IAM-authenticated connections per second.

Needs, in the database: a login role (default `pgmonitor`) granted `rds_iam` and `pg_monitor`.
In IAM: `rds-db:connect` on `dbuser:<resource-id>/<db user>` for the monitor role.

    [activity]
    interval_s = 10
    max_parallel = 16
    poll_deadline_s = 8
    max_new_connections_per_s = 20
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple, Protocol

import psycopg
from psycopg.rows import TupleRow

from monitor import sql
from monitor.clock import Clock
from monitor.config import ActivityConfig
from monitor.errors import PgwardenError
from monitor.parsing.sqlmask import mask_literals
from monitor.sources.activity_login import ConnInfo, connect, conninfo
from monitor.sources.pacing import ConnectLimiter, backoff_s
from monitor.sources.targets import Target

log = logging.getLogger(__name__)

Status = Literal["ok", "error", "down"]


class TokenSource(Protocol):
    """Makes an RDS IAM auth token for a target's endpoint, port and db user."""

    def __call__(self, target: Target) -> str: ...


class SessionRow(NamedTuple):
    """One row of queries/activity/sessions.sql, in its column order.

    A tuple, not a dataclass: a poll makes hundreds of these, and the store compares whole
    rows with the previous poll's to skip the unchanged ones.
    """

    pid: int
    usename: str | None
    datname: str | None
    client_addr: str | None
    client_hostname: str | None
    client_port: int | None
    application_name: str | None
    backend_start: datetime
    xact_start: datetime | None
    query_start: datetime | None
    state_change: datetime | None
    state: str | None
    wait_event_type: str | None
    backend_type: str | None
    query: str | None


@dataclass(frozen=True)
class RoleRow:
    rolname: str
    superuser: bool
    can_login: bool
    valid_until: datetime | None
    member_of: tuple[str, ...]


@dataclass(frozen=True)
class PollResult:
    target: str
    status: Status
    polled_at: datetime
    duration_ms: float
    reason: str | None = None
    sessions: tuple[SessionRow, ...] = ()
    roles: tuple[RoleRow, ...] | None = None  # None: not read this time
    new_connection: bool = False


@dataclass
class _TargetState:
    conn: psycopg.AsyncConnection[TupleRow] | None = None
    failures: int = 0
    retry_at: float = 0.0  # monotonic time before which no reconnect is tried
    last_reason: str | None = None
    roles_read_at: datetime | None = None
    tokens_minted: int = 0
    backend_pid: int | None = None
    sees_all: bool = False  # member of pg_read_all_stats (pg_monitor grants it)


def describe(exc: BaseException) -> str:
    """A one-line reason for the status table. psycopg messages never contain the token."""
    if isinstance(exc, TimeoutError):
        return "deadline exceeded"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:500]


class ActivitySource:
    """Polls every target's `pg_stat_activity`; keeps their connections between polls."""

    def __init__(
        self,
        targets: Sequence[Target],
        options: ActivityConfig,
        tokens: TokenSource,
        clock: Clock,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.targets = list(targets)
        self.options = options
        self.tokens = tokens
        self.clock = clock
        self.limiter = ConnectLimiter(options.max_new_connections_per_s)
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self._state = {t.name: _TargetState() for t in self.targets}
        # The loop they belong to, then the slots for connecting and for polling.
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore, asyncio.Semaphore] | None
        self._slots = None
        # Reconnects of targets that are down, running outside the rounds (see poll_all).
        self._retries: dict[str, asyncio.Task[PollResult]] = {}
        # A misconfigured target is reported down at every poll; it never stops the others.
        self._misconfigured: dict[str, str] = {}
        for target in self.targets:
            if target.ca_bundle is not None and not target.ca_bundle.is_file():
                reason = f"CA bundle not found: {target.ca_bundle}"
            elif target.insecure_tls and target.ca_bundle is None:
                reason = "insecure_tls needs a ca_bundle: the chain is always verified"
            else:
                reason = None
            if reason:
                self._misconfigured[target.name] = reason
                log.error("target %s: %s", target.name, reason, extra={"target": target.name})
            elif target.insecure_tls:
                # On purpose at every start: nobody should forget this is on.
                log.warning(
                    "target %s: insecure_tls is on; the server's host name is not verified",
                    target.name,
                    extra={"target": target.name},
                )

    def state(self, name: str) -> _TargetState:
        return self._state[name]

    # -- one round ----------------------------------------------------------------------------

    async def poll_all(self) -> list[PollResult]:
        """One round: every target once, concurrently; results in target order.

        A round never waits for a target that is down. Once a target has failed, its
        reconnects run as tasks of their own, on its own backoff, outside the rounds: the
        round reports the target down (or the result of a retry that finished since), and
        the healthy targets' polls take no longer than their own deadline. The first round
        tries every target inline, as nothing is known about them yet.
        """
        return list(await asyncio.gather(*(self._in_round(t) for t in self.targets)))

    async def _in_round(self, target: Target) -> PollResult:
        state = self._state[target.name]
        retry = self._retries.get(target.name)
        if retry is not None:
            if not retry.done():
                return self._reconnecting(target)
            del self._retries[target.name]
            return retry.result()
        if state.failures and state.retry_at <= time.monotonic():
            self._retries[target.name] = asyncio.create_task(self.poll(target))
            return self._reconnecting(target)
        return await self.poll(target)

    def _reconnecting(self, target: Target) -> PollResult:
        reason = f"{self._state[target.name].last_reason} (reconnecting)"
        return PollResult(target.name, "down", self.clock.now(), 0.0, reason)

    async def poll(self, target: Target) -> PollResult:
        """One poll of one target, within its own deadline. Never raises.

        At most `max_parallel` polls run on open connections at once, and at most
        `max_parallel` connect: a target stuck connecting never holds the slot a connected
        target's poll needs. A target waiting out its backoff, or misconfigured, needs none.
        """
        state = self._state[target.name]
        reason = self._misconfigured.get(target.name)
        connecting = state.conn is None or state.conn.closed
        wait = state.retry_at - time.monotonic()
        if reason is None and connecting and wait > 0:
            reason = f"{state.last_reason} (next reconnect in {wait:.0f} s)"
        if reason is not None:
            return PollResult(target.name, "down", self.clock.now(), 0.0, reason)
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            size = self.options.max_parallel
            self._slots = (loop, asyncio.Semaphore(size), asyncio.Semaphore(size))
        _, connect_slots, poll_slots = self._slots
        async with connect_slots if connecting else poll_slots:
            return await self._poll(target)

    async def _poll(self, target: Target) -> PollResult:
        state = self._state[target.name]
        polled_at = self.clock.now()
        started = time.perf_counter()

        def result(
            status: Status,
            reason: str | None = None,
            sessions: tuple[SessionRow, ...] = (),
            roles: tuple[RoleRow, ...] | None = None,
            new_connection: bool = False,
        ) -> PollResult:
            ms = (time.perf_counter() - started) * 1000
            return PollResult(
                target.name, status, polled_at, ms, reason, sessions, roles, new_connection
            )

        new = state.conn is None or state.conn.closed
        token = ""
        if new:
            token, failed = await self._token(target, state)
            if failed is not None:
                return self._down(state, result, failed)
            # The limit is a queue, not a failure: the slot is taken right before the login,
            # outside the deadline, and the wait is left out of the poll's duration.
            await self.limiter.acquire()
            started = time.perf_counter()
        try:
            async with asyncio.timeout(self.options.poll_deadline_s):
                if new:
                    await self._close(state)
                    params = self.conninfo(target, token)
                    state.conn, state.sees_all = await connect(target, params, self.options)
                    state.backend_pid = state.conn.info.backend_pid
                conn = state.conn
                assert conn is not None
                if not state.sees_all:
                    # Without it, other users' rows come back with NULL times and addresses:
                    # storing them would be wrong, and ending the real ones worse.
                    return result(
                        "error",
                        f"{target.db_user} cannot see other users' sessions: "
                        "GRANT pg_monitor (or pg_read_all_stats) to it",
                    )
                sessions = await self._sessions(conn)
                roles = None
                if new or self._roles_due(state, polled_at):
                    roles = await self._roles(conn)
                    state.roles_read_at = polled_at
        except (psycopg.OperationalError, TimeoutError) as exc:
            # The connection is gone or stuck: drop it, and reconnect later with a new token.
            return self._down(state, result, describe(exc))
        except psycopg.Error as exc:
            # The server answered with an error (e.g. missing privilege): keep the connection.
            log.warning("target %s: poll failed: %s", target.name, describe(exc))
            return result("error", describe(exc))
        self._up(target, state)
        return result("ok", sessions=sessions, roles=roles, new_connection=new)

    async def _token(self, target: Target, state: _TargetState) -> tuple[str, str | None]:
        """A new IAM token for the target, or why there is none."""
        try:
            # Signing is local, but may first refresh the role's credentials with STS.
            async with asyncio.timeout(self.options.poll_deadline_s):
                token = await asyncio.to_thread(self.tokens, target)
        except TimeoutError:
            return "", "deadline exceeded while making the IAM token"
        except PgwardenError as exc:
            # AssumeRole denied, an ExternalId that cannot be read...: this target only.
            return "", str(exc)
        state.tokens_minted += 1
        return token, None

    def _up(self, target: Target, state: _TargetState) -> None:
        if state.failures:
            log.info("target %s: connected again", target.name, extra={"target": target.name})
        state.failures, state.last_reason = 0, None

    def _down(
        self, state: _TargetState, result: Callable[[Status, str], PollResult], reason: str
    ) -> PollResult:
        state.failures += 1
        state.last_reason = reason
        delay = backoff_s(
            state.failures,
            self.options.reconnect_backoff_s,
            self.options.reconnect_backoff_max_s,
            self._rng,
        )
        state.retry_at = time.monotonic() + delay
        conn, state.conn, state.backend_pid = state.conn, None, None
        if conn is not None:
            # Closing must not wait on a stuck socket: PQfinish just drops it.
            conn.pgconn.finish()
        return result("down", reason)

    def _roles_due(self, state: _TargetState, now: datetime) -> bool:
        if state.roles_read_at is None:
            return True
        return now - state.roles_read_at >= timedelta(seconds=self.options.roles_refresh_s)

    # -- connections --------------------------------------------------------------------------

    def conninfo(self, target: Target, password: str) -> ConnInfo:
        return conninfo(target, password, self.options)

    async def _sessions(self, conn: psycopg.AsyncConnection[TupleRow]) -> tuple[SessionRow, ...]:
        masked = self.options.capture_query_text == "masked"
        async with conn.cursor(binary=True) as cur:
            await cur.execute(sql.load("activity/sessions"), {"capture_query": masked})
            rows = await cur.fetchall()
        if masked:
            # Literals are masked here, before the text reaches memory that is kept or stored.
            rows = [(*row[:-1], mask_literals(row[-1]) if row[-1] else None) for row in rows]
        make = SessionRow._make
        return tuple(make(row) for row in rows)

    async def _roles(self, conn: psycopg.AsyncConnection[TupleRow]) -> tuple[RoleRow, ...]:
        async with conn.cursor() as cur:
            await cur.execute(sql.load("activity/roles"))
            rows = await cur.fetchall()
        return tuple(RoleRow(r[0], r[1], r[2], r[3], tuple(r[4])) for r in rows)

    async def _close(self, state: _TargetState) -> None:
        conn, state.conn = state.conn, None
        if conn is not None and not conn.closed:
            await conn.close()

    async def close(self) -> None:
        retries, self._retries = list(self._retries.values()), {}
        for task in retries:
            task.cancel()
        await asyncio.gather(*retries, return_exceptions=True)
        for state in self._state.values():
            await self._close(state)
