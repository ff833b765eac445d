"""rds-proxy: each RDS Proxy's own log in CloudWatch Logs, `/aws/rds/proxy/<name>`, read for
every proxy target (`endpoint_type = "proxy"` with its `proxy_name`, configured or
discovered). Behind a proxy the database sees only the proxy's addresses; who connected,
from where, and whose IAM token the proxy refused are written only here.

Lines are parsed by `monitor.parsing.proxylog` (the lines AWS's public record shows; the
README lists what it does not). A client connection becomes `connection_received` with the
client's address and port; a refused login becomes `auth_failed` with the method (`iam` for
IAM), the proxy's reason, TLS on or off, and the client's address, taken from the
connection's earlier `A new client connected` line (the ids of recent connections are kept
in the cursor, so a read may end between the two). Events carry `proxy = <proxy name>` and
are stored under the database the proxy fronts (the stored proxy's `fronts`, or the target
that names this proxy in `proxies`), else under the proxy target itself, so every detector
that reads a database's auth events sees them.

AWS says these logs are for people and may change: every line not recognised is counted
and sampled, never fatal, and when their share over `proxy_unrecognised_window` lines
reaches `proxy_unrecognised_share`, one warning is logged (the format moved) and
`pgwarden_proxy_log_unrecognised_ratio` shows the share. Same cursor and once-only reading
as the cloudwatch source.

Example:
    [pglogs]
    sources = ["cloudwatch", "rds-proxy"]
    proxy_unrecognised_share = 0.2
    proxy_unrecognised_window = 500

IAM (monitor role): CloudWatch Logs reads on `/aws/rds/proxy/*`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from monitor.config.fields import SECTION
from monitor.models import AuthEvent, proxy_log_group
from monitor.parsing import proxylog
from monitor.parsing.pglog_stats import ParseStats
from monitor.registry import Access
from monitor.sources.pglogs.cloudwatch import filter_events, silence
from monitor.sources.pglogs.ingest import (
    INGESTION_DELAY,
    LOG_SOURCES,
    LogSource,
    ReadResult,
    RecordWindow,
    SourceRun,
)
from monitor.store.events import save_auth_events
from monitor.store.sqlite import Store

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import FilterLogEventsRequestTypeDef

    from monitor.sources.pglogs import PgLogsConfig
    from monitor.sources.targets import Target

log = logging.getLogger(__name__)

CURSOR = "pglogs.rds-proxy"
# Client connections remembered for their later lines: a refused login follows its
# connect line within a second; these bounds only keep the cursor small.
MAX_CONNECTIONS = 5000
CONNECTION_HORIZON_MS = 2 * int(INGESTION_DELAY.total_seconds() * 1000)


class ProxyLogOptions(BaseModel):
    """`[pglogs]` keys of the rds-proxy source: when the share of unrecognised lines is a
    format change worth one warning."""

    model_config = SECTION

    proxy_unrecognised_share: float = Field(default=0.2, gt=0, le=1)
    proxy_unrecognised_window: int = Field(default=500, ge=1)


@dataclass
class ProxyCursor:
    """The record window, the recent client connections (id -> address, port, time in
    ms) and the unrecognised-line rate, carried from one read to the next."""

    label: str
    window: RecordWindow
    rate: proxylog.UnrecognisedRate
    connections: dict[str, tuple[str, int, int]] = field(default_factory=dict)

    @classmethod
    def load(cls, store: Store, key: str, label: str, opts: PgLogsConfig) -> ProxyCursor:
        value = store.get_cursor(CURSOR, key) or {}
        rate = proxylog.UnrecognisedRate(
            opts.proxy_unrecognised_window, opts.proxy_unrecognised_share
        ).resume(dict(value.get("rate", {})))
        connections = {
            str(k): (str(v[0]), int(v[1]), int(v[2]))
            for k, v in value.get("connections", {}).items()
        }
        return cls(label, RecordWindow.from_value(value), rate, connections)

    def value(self) -> dict[str, object]:
        horizon = self.window.newest - CONNECTION_HORIZON_MS
        recent = sorted(
            ((k, v) for k, v in self.connections.items() if v[2] >= horizon),
            key=lambda kv: kv[1][2],
        )[-MAX_CONNECTIONS:]
        return {
            **self.window.value(),
            "proxy": self.label,
            "connections": {k: list(v) for k, v in recent},
            "rate": self.rate.state(),
        }


def to_events(
    records: Sequence[tuple[str, int, str]],
    cursor: ProxyCursor,
    proxy: str,
    source: str,
    stats: ParseStats,
) -> list[AuthEvent]:
    """Each record's line as at most one event; unrecognised lines are counted and
    sampled, and one warning is logged when their share jumps."""
    events = []
    for _, ts, message in records:
        stats.lines += 1
        line = proxylog.parse_line(message)
        jump = cursor.rate.observe(line)
        if jump is not None:
            log.warning(
                "rds-proxy %s: %.0f%% of the last %d log lines are not recognised; the proxy's"
                " log format may have changed (samples in auth_log_unparsed)",
                cursor.label, 100 * jump.share, jump.lines,
                extra={"proxy": cursor.label, "share": jump.share},
            )  # fmt: skip
        if isinstance(line, proxylog.Unrecognised):
            stats.unparsed += 1
            stats.add_sample(message.encode("utf-8", "replace"))
            continue
        stats.entries += 1
        event = _event(line, ts, cursor.connections, proxy, source)
        if event is not None:
            events.append(event)
    return events


def _event(
    line: proxylog.ProxyEvent,
    ts: int,
    connections: dict[str, tuple[str, int, int]],
    proxy: str,
    source: str,
) -> AuthEvent | None:
    detail, conn = line.detail, line.client_connection
    if isinstance(detail, proxylog.ClientConnected):
        if conn is not None:
            connections[conn] = (detail.address, detail.port, ts)
        return AuthEvent(
            time=line.time,
            kind="connection_received",
            client_host=detail.address,
            client_port=detail.port,
            source=source,
            proxy=proxy,
        )
    if isinstance(detail, proxylog.AuthFailed):
        host, port, _ = connections.get(conn or "", (None, None, 0))
        return AuthEvent(
            time=line.time,
            kind="auth_failed",
            user=detail.user,
            client_host=host,
            client_port=port,
            method="iam" if detail.iam else detail.method.lower(),
            reason=detail.reason,
            source=source,
            tls="on" if detail.tls else None,
            proxy=proxy,
        )
    return None  # a pinned session is no login


def read_proxy(
    store: Store,
    logs: CloudWatchLogsClient,
    target: Target,
    backing: str,
    opts: PgLogsConfig,
    now: datetime,
    page_size: int | None = None,
) -> ReadResult:
    """`filter_log_events` on the proxy's log group since its cursor, every line (a filter
    pattern would hide a changed format); events and the cursor in one transaction."""
    name = target.proxy_name or target.name
    group = proxy_log_group(name)
    key = f"{target.name}:{group}"
    cursor = ProxyCursor.load(store, key, target.name, opts)
    kwargs: FilterLogEventsRequestTypeDef = {
        "logGroupName": group,
        "startTime": cursor.window.start_ms(now, opts.initial_lookback_hours),
        "endTime": int(now.timestamp() * 1000),
    }
    if page_size:
        kwargs["limit"] = page_size
    records = filter_events(logs, kwargs)
    source = f"rds-proxy:{group}"
    problem = silence(
        logs,
        group,
        records,
        ever_read=bool(cursor.window.newest),
        missing="the proxy has written no log (see pgwarden doctor)",
    )
    if problem is not None:
        return ReadResult(source, target.name, problem=problem)
    fresh = cursor.window.take(records or [])
    stats = ParseStats()
    events = to_events(fresh, cursor, name, source, stats)
    stored = save_auth_events(
        store, backing, source, events, stats, [(CURSOR, key, cursor.value())], now
    )
    return ReadResult(source, target.name, len(fresh), len(events), stored, stats)


def backing_target(run: SourceRun, target: Target) -> str:
    """The target name a proxy's events are stored under: the database it fronts, its
    cluster's target first (as `link` orders a proxy's `fronts`); else the proxy target."""
    behind = sorted(
        (
            t
            for t in run.targets
            if target.proxy_name in t.proxies
            and (t.account_id, t.region) == (target.account_id, target.region)
        ),
        key=lambda t: t.endpoint_type != "cluster",
    )
    return behind[0].name if behind else target.name


def _read(run: SourceRun, target: Target) -> list[ReadResult]:
    logs = run.clients.client("logs", target)
    return [read_proxy(run.store, logs, target, backing_target(run, target), run.opts, run.now)]


SOURCE = LOG_SOURCES.add(
    LogSource(
        "rds-proxy",
        ProxyLogOptions,
        _read,
        Access(monitor=("logs:FilterLogEvents", "logs:DescribeLogStreams")),
    )
)
