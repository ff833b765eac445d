"""Store retention: rows older than `[retention] days` are deleted, in short batches.

Without it the store only grows: at thousands of clusters `auth_events` gains millions of
rows a day, and a hostile client can flood `auth_log_suspicious` and `auth_log_unparsed`.
Each table is pruned by the time that says its row is history (queries/store/retention_*):

- events by their own time: auth_events, auth_log_suspicious (`time`, the part of the
  line a client cannot choose, and what log-injection judges by), auth_log_unparsed
  (`seen_at`), assume_role_events and access_change_events (`event_time`);
- sessions that ended before the cutoff; an open one stays, however old;
- alerts Slack accepted before the cutoff; unsent ones (pending, claimed, parked) stay;
- db roles dropped, and connect grants withdrawn, before the cutoff;
- findings resolved before the cutoff; open, acknowledged and suppressed ones stay.

Never touched: cursors (a source would re-read from the start), targets and target_status
(monitoring-gap and unused-db-user count from `targets.first_seen`), proxies, role_trust,
parked_channels, store_identity, and the reviewers' `review_decisions` and `suppressions`.
Those two are kept whole: they are small, written by people, and hold no reference a
deletion here could break (a suppression matches detector and subject glob, never a
stored row; a keep decision is a suppression; a revoke decision looks for access still in
place, `dropped_at`/`removed_at` NULL, which retention never deletes). An expired
suppression is left for whoever audits the reviewers.

Why this cannot re-raise a finding already alerted, detector by detector:

- The findings lifecycle (monitor/judge/findings.py) treats a finding whose row says
  "resolved" exactly like one with no row: if its detector returns it again, it is opened
  and alerted as new either way. So deleting a resolved finding changes no alert; only
  the next alert's count and first_seen start over, which is right for a finding that
  held no more for `days`. Open, acknowledged and suppressed rows, which do decide alerts
  (repeat interval, "acknowledged: stay quiet", "suppressed"), are never deleted.
- Look-back detectors (access-change, password-login, off-hours, proxy-bypass,
  log-injection, failure-burst...) read windows of days at most; the unused-* detectors
  read the last use within their `days`. `days` must be at least the longest of these
  (monitor/config/checks.py refuses a shorter one), so no evidence any of them can see is
  pruned, and no user or role is called unused because its use was deleted.
- unused-role and unused-iam-grant count the days observed from the oldest AssumeRole
  event in the store: the oldest one is kept, so the count stays true.
- new-source remembers every (subject, value) the store holds. With retention its memory
  is `days` long: a value in continued use keeps rows inside the window (a session that
  ended after the cutoff, an event after it), so it is never new again. A value unseen for
  more than `days` that comes back is raised as new: that evidence is genuinely new (a
  host or IP not seen for over a year), so it is accepted, not an alert repeated.
- Alert threading: the sent alerts of a finding not resolved are kept, since its repeats
  and its resolve are threaded under its "new" alert's Slack ts.

Each batch is its own short write transaction, so the daemon's other jobs (activity polls
every 10 s) wait for one batch at most. SQLite keeps the freed pages in the file and reuses
them for new rows: the file stops growing rather than shrinking (bench/retention.py). The
store does not set `auto_vacuum`: turning it on for an existing store needs a full
VACUUM, which rewrites the whole file under one exclusive lock and needs as much free
space again, the opposite of short transactions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from monitor import sql
from monitor.store.sqlite import Store, to_text

log = logging.getLogger(__name__)

# Rows deleted per transaction: up to ~250 ms each for auth_events on a 2-core host
# (bench/retention.py; its four indexes are most of the cost), so a poll or a delivery
# waits that long at most; 1,000 rows take ~80 ms but prune a third slower.
BATCH_ROWS = 5000

# The pause between two batches. Another writer waits for the write lock by trying it
# every 5 ms (monitor/store/locks.py): without a pause the next batch would take it again
# at once, and an activity poll could wait for the whole prune.
PAUSE_S = 0.02

# (table, query under queries/store/), in the order they are pruned.
TABLES: tuple[tuple[str, str], ...] = tuple(
    (table, f"store/retention_{table}")
    for table in (
        "auth_events",
        "auth_log_suspicious",
        "auth_log_unparsed",
        "assume_role_events",
        "access_change_events",
        "sessions",
        "findings",
        "outbox",
        "db_roles",
        "grants",
    )
)


@dataclass(frozen=True)
class Pruned:
    """What one table lost: rows deleted, and in how many transactions (the longest took
    `longest_ms`)."""

    table: str
    deleted: int
    cutoff: datetime
    batches: int
    longest_ms: float


def prune(
    store: Store,
    cutoff: datetime,
    *,
    batch: int = BATCH_ROWS,
    pause_s: float = PAUSE_S,
    on_batch: Callable[[str, int], None] | None = None,
) -> list[Pruned]:
    """Delete every table's rows older than `cutoff`, `batch` rows per transaction, with
    `pause_s` between two; one `Pruned` per table, in TABLES order. `on_batch(table, rows)`
    follows each batch."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    return [
        prune_table(store, table, query, cutoff, batch, pause_s, on_batch)
        for table, query in TABLES
    ]


def prune_table(
    store: Store,
    table: str,
    query: str,
    cutoff: datetime,
    batch: int,
    pause_s: float = PAUSE_S,
    on_batch: Callable[[str, int], None] | None = None,
) -> Pruned:
    """One table, batch after batch, until a batch comes back short."""
    params = {"cutoff": to_text(cutoff), "batch": batch}
    text = sql.load(query)
    deleted = batches = 0
    longest = 0.0
    while True:
        started = time.perf_counter()
        with store.transaction() as tx:
            rows = tx.execute(text, params).rowcount
        longest = max(longest, (time.perf_counter() - started) * 1000)
        deleted += rows
        batches += 1
        if on_batch is not None:
            on_batch(table, rows)
        if rows < batch:
            break
        time.sleep(pause_s)  # the other jobs' turn at the write lock
    if deleted:
        log.info(
            "retention: %s rows deleted from %s",
            deleted,
            table,
            extra={"table": table, "deleted": deleted, "cutoff": params["cutoff"]},
        )
    return Pruned(table, deleted, cutoff, batches, round(longest, 3))
