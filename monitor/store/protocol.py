"""The store as the rest of pgwarden reaches it, and what a second backend provides.

Code outside monitor/store/ holds a store handle and never a database connection, and it
runs no SQL. It reaches the tables in two ways:

1. The handle itself, `StoreBackend`: open and close, one write transaction at a time,
   the cursors (watermarks) that commit with the data they cover, and the detectors'
   evidence loaders run on the store's read connection.
2. Typed operations on each table, the functions of the modules beside this one. Each
   takes the handle (for a read, or a write in a short transaction of its own) or the
   connection a transaction yields (for a write that commits with others):

   - sessions.py   SessionRecorder.record, record_roles (activity polls, db roles)
   - events.py     save_auth_events, store_assume_role_events, store_access_changes
   - targets.py    save_targets, retire_targets, discovered, accounts
   - proxies.py    save_proxies, retire_proxies, load_proxies, proxies, auth_event_count
   - grants.py     save_inventory, current_grants, resources, granting_roles
   - findings.py   the findings lifecycle's rows, suppressions, and the alerts it queues
   - outbox.py     pending alerts, claims, marks, back-off, parked channels
   - evidence.py, usage.py   one loader per detector, `load(conn, now, opts)`, returning
                   frozen evidence for the detector's pure `detect`
   - reports.py    the access review's snapshot (one read transaction), review decisions
   - metrics.py    the /metrics samples and the demo's counts
   - retention.py  prune: history older than `[retention] days`, in short batches

A second backend (PostgreSQL, shared by several daemons) implements `StoreBackend` over its
own connection type, the same functions with the same signatures over that connection, the
queries of queries/store/ in its dialect, and its own numbered migrations. Nothing outside
monitor/store/ changes: callers only pass the connection a transaction yields back into the
store's functions, and never look inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

ConnT_co = TypeVar("ConnT_co", covariant=True)
EvidenceT = TypeVar("EvidenceT")
OptionsT = TypeVar("OptionsT")


class StoreBackend(Protocol[ConnT_co]):
    """An open store: what every stage, report and command holds."""

    @property
    def path(self) -> Path:
        """Where the store is, for its lock files and messages."""
        ...

    @property
    def schema_version(self) -> int: ...

    def transaction(self) -> AbstractContextManager[ConnT_co]:
        """A write transaction: its data and the cursors covering it commit together."""
        ...

    def get_cursor(self, source: str, key: str) -> object:
        """The stored watermark of `source`/`key` (JSON), or None before the first run."""
        ...

    def set_cursor(self, source: str, key: str, value: object, now: datetime) -> None:
        """Move a watermark; only inside `transaction()`, with the data it covers."""
        ...

    def load_evidence(
        self,
        loader: Callable[[ConnT_co, datetime, OptionsT], EvidenceT],
        now: datetime,
        opts: OptionsT,
    ) -> EvidenceT:
        """A detector's evidence, read by its loader on the store's read connection."""
        ...

    def close(self) -> None: ...


if TYPE_CHECKING:
    from monitor.store.sqlite import Conn, Store

    # mypy checks here that the SQLite store is a StoreBackend.
    _SQLITE: type[StoreBackend[Conn]] = Store
