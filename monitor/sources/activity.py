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
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple, Protocol

import psycopg

from monitor import sql
from monitor.clock import Clock
from monitor.config import ActivityConfig
from monitor.errors import PgwardenError
from monitor.parsing.sqlmask import mask_literals
from monitor.sources.pacing import ConnectLimiter, backoff_s
from monitor.sources.targets import Target

log = logging.getLogger(__name__)

Status = Literal["ok", "error", "down"]
APPLICATION_NAME = "pgwarden"


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
    conn: psycopg.AsyncConnection[Any] | None = None
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

        def result(status: Status, reason: str | None = None, **extra: Any) -> PollResult:
            ms = (time.perf_counter() - started) * 1000
            return PollResult(target.name, status, polled_at, ms, reason, **extra)

        new = state.conn is None or state.conn.closed
        token = ""
        if new:
            try:
                # Signing is local, but may first refresh the role's credentials with STS.
                async with asyncio.timeout(self.options.poll_deadline_s):
                    token = await asyncio.to_thread(self.tokens, target)
            except TimeoutError:
                return self._down(state, result, "deadline exceeded while making the IAM token")
            except PgwardenError as exc:
                # AssumeRole denied, an ExternalId that cannot be read...: this target only.
                return self._down(state, result, str(exc))
            state.tokens_minted += 1
            # The limit is a queue, not a failure: the slot is taken right before the login,
            # outside the deadline, and the wait is left out of the poll's duration.
            await self.limiter.acquire()
            started = time.perf_counter()
        try:
            async with asyncio.timeout(self.options.poll_deadline_s):
                if new:
                    await self._close(state)
                    state.conn = await self._connect(target, state, token)
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
        if state.failures:
            log.info("target %s: connected again", target.name, extra={"target": target.name})
        state.failures, state.last_reason = 0, None
        return result("ok", sessions=sessions, roles=roles, new_connection=new)

    def _down(
        self, state: _TargetState, result: Callable[..., PollResult], reason: str
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

    def conninfo(self, target: Target, password: str) -> dict[str, Any]:
        return conninfo(target, password, self.options)

    async def _connect(
        self, target: Target, state: _TargetState, token: str
    ) -> psycopg.AsyncConnection[Any]:
        # autocommit: inside a transaction pg_stat_activity is a frozen snapshot.
        conn = await psycopg.AsyncConnection.connect(
            autocommit=True, **self.conninfo(target, token)
        )
        try:
            # Session settings by set_config, not the `options` startup parameter, which
            # RDS Proxy does not pass through. UTC keeps stored times comparable as text.
            cur = await conn.execute(
                sql.load("activity/session"), (str(self.options.statement_timeout_ms),)
            )
            row = await cur.fetchone()
            state.sees_all = bool(row and row[2])
        except BaseException:
            await conn.close()
            raise
        state.backend_pid = conn.info.backend_pid
        log.info(
            "target %s: connected (backend pid %s)",
            target.name,
            state.backend_pid,
            extra={"target": target.name},
        )
        return conn

    async def _sessions(self, conn: psycopg.AsyncConnection[Any]) -> tuple[SessionRow, ...]:
        masked = self.options.capture_query_text == "masked"
        async with conn.cursor(binary=True) as cur:
            await cur.execute(sql.load("activity/sessions"), {"capture_query": masked})
            rows = await cur.fetchall()
        if masked:
            # Literals are masked here, before the text reaches memory that is kept or stored.
            rows = [(*row[:-1], mask_literals(row[-1]) if row[-1] else None) for row in rows]
        make = SessionRow._make
        return tuple(make(row) for row in rows)

    async def _roles(self, conn: psycopg.AsyncConnection[Any]) -> tuple[RoleRow, ...]:
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

    # -- the daemon loop ------------------------------------------------------------------------

    async def run(
        self,
        sink: Callable[[PollResult], None],
        stop: asyncio.Event,
        *,
        spread: bool = True,
    ) -> None:
        """Poll each target every `interval_s` on its own schedule until `stop` is set.

        Each target runs as its own task, so a target stuck until its deadline delays only
        its own next poll. With `spread`, first polls are staggered over one interval.
        """

        async def loop(target: Target) -> None:
            interval = self.options.interval_s
            if spread:
                await _sleep_or_stop(stop, self._rng.uniform(0, interval))
            next_at = time.monotonic()
            while not stop.is_set():
                sink(await self.poll(target))
                next_at += interval
                # A poll that overran its interval skips the missed ticks instead of bunching.
                now = time.monotonic()
                if next_at < now:
                    next_at = now
                await _sleep_or_stop(stop, next_at - now)

        try:
            await asyncio.gather(*(loop(t) for t in self.targets))
        finally:
            await self.close()


def conninfo(target: Target, password: str, options: ActivityConfig) -> dict[str, Any]:
    """psycopg connection arguments: verify-full TLS, the IAM token as password, the
    endpoint the token was signed for. Contains the token: never log it. `pgwarden doctor`
    logs in with these too, so it tests exactly what the poller does."""
    params: dict[str, Any] = {
        "host": target.endpoint,
        "port": target.port,
        "dbname": target.database,
        "user": target.db_user,
        "password": password,
        "application_name": APPLICATION_NAME,
        "connect_timeout": options.connect_timeout_s,
    }
    # insecure_tls drops only the host name check: the chain is still verified against the
    # bundle, so a server with a certificate from another CA never receives the token.
    params["sslmode"] = "verify-ca" if target.insecure_tls else "verify-full"
    # "system" (libpq >= 16) means the OS trust store, when no bundle is configured; libpq
    # refuses it with verify-ca, and ActivitySource marks such a target misconfigured.
    params["sslrootcert"] = str(target.ca_bundle) if target.ca_bundle else "system"
    if target.hostaddr:
        # Dial this address, but verify the certificate and sign the token for `endpoint`.
        params["hostaddr"] = target.hostaddr
    return params


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
