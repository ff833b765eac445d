"""Benchmark: pruning a large store, and what that does to the file and to other writers.

    PYTHONPATH=. python bench/retention.py --rows 1000000

It fills a new store with N auth events (executemany straight into the table, for speed:
the pglogs write path costs the same per row but would make the fill the benchmark), in
time order as the logs are read, from 800 days ago to now: half older than the cutoff.
It checkpoints the WAL and prunes with the retention stage's code
(monitor/store/retention.py) while a second connection commits a small write every 20 ms,
as the activity poll does beside it. It prints:

- rows deleted per second, batches, and the longest single delete transaction;
- the longest the other writer waited for a commit while the prune ran;
- the file size before and after, and its free pages: SQLite does not give space back to
  the file system without VACUUM, it keeps the freed pages in the file;
- the size after refilling a quarter of N: the new rows go into the freed pages, so with
  retention on the file stops growing instead of shrinking. That is why the store sets no
  `auto_vacuum` (turning it on for an existing store takes a full VACUUM: the whole file
  rewritten under one lock, with as much free space again) and runs no incremental_vacuum.

Not a test: nothing asserts. Paste the output where the figures are needed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.store.retention import BATCH_ROWS, prune
from monitor.store.sqlite import Store, to_text

DAYS = 400
CHUNK = 50_000
INSERT = (
    "INSERT INTO auth_events (target, time, kind, user, database, client_host, client_port,"
    " pid, method, source, dedup_key) VALUES (?, ?, ?, ?, 'postgres', ?, ?, ?, 'pam', ?, ?)"
)
KINDS = ("connection_received", "connection_authorized", "disconnection", "auth_failed")


def fill(store: Store, rows: int, oldest: datetime, newest: datetime, start: int = 0) -> None:
    """`rows` auth events from `oldest` to `newest`, in time order as the logs are read."""
    step = (newest - oldest) / rows
    for first in range(start, start + rows, CHUNK):
        batch = [
            (
                f"cluster-{i % 500}",
                to_text(oldest + (i - start) * step),
                KINDS[i % 4],
                f"user_{i % 2000}",
                f"10.{i % 250}.{(i // 250) % 250}.{i % 7}",
                30000 + i % 30000,
                i,
                "bench.log",
                f"bench-{i}",
            )
            for i in range(first, min(first + CHUNK, start + rows))
        ]
        with store.transaction() as tx:
            tx.executemany(INSERT, batch)


def size(store: Store) -> tuple[int, int]:
    """(file bytes after a full checkpoint, bytes in free pages)."""
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    page = int(store.conn.execute("PRAGMA page_size").fetchall()[0][0])
    free = int(store.conn.execute("PRAGMA freelist_count").fetchall()[0][0])
    return store.path.stat().st_size, free * page


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


class Neighbour(threading.Thread):
    """Another job: one small write transaction every 20 ms; the longest wait for one."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.store = Store.open(path, exclusive=False, busy_timeout_ms=30_000)
        self.stop = threading.Event()
        self.longest = 0.0
        self.commits = 0

    def run(self) -> None:
        while not self.stop.wait(0.02):
            started = time.perf_counter()
            with self.store.transaction():
                self.store.set_cursor("bench", "tick", self.commits, datetime.now(UTC))
            self.longest = max(self.longest, time.perf_counter() - started)
            self.commits += 1
        self.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=BATCH_ROWS)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pgwarden.db"
        store = Store.open(path)
        started = time.perf_counter()
        fill(store, args.rows, now - timedelta(days=2 * DAYS), now)
        print(f"filled {args.rows:,} auth events in {time.perf_counter() - started:.1f} s")
        before, free_before = size(store)
        old = store.conn.execute(
            "SELECT count(*) FROM auth_events WHERE time < ?", (to_text(now - timedelta(DAYS)),)
        ).fetchall()[0][0]

        neighbour = Neighbour(path)
        neighbour.start()
        started = time.perf_counter()
        pruned = prune(store, now - timedelta(days=DAYS), batch=args.batch)
        elapsed = time.perf_counter() - started
        neighbour.stop.set()
        neighbour.join()
        events = pruned[0]
        assert events.table == "auth_events" and events.deleted == old
        print(
            f"pruned {events.deleted:,} of {args.rows:,} rows in {elapsed:.1f} s: "
            f"{events.deleted / elapsed:,.0f} rows/s, {events.batches} batches of {args.batch:,}"
        )
        print(f"longest delete transaction: {events.longest_ms:.0f} ms")
        print(
            f"another writer, every 20 ms meanwhile: {neighbour.commits} commits, "
            f"longest wait {neighbour.longest * 1000:.0f} ms"
        )
        after, free_after = size(store)
        print(f"file before: {mib(before)} ({mib(free_before)} free pages)")
        print(f"file after:  {mib(after)} ({mib(free_after)} free pages): SQLite keeps them")
        fill(store, args.rows // 4, now - timedelta(days=1), now, start=args.rows)
        refilled, free_refilled = size(store)
        print(
            f"after {args.rows // 4:,} new rows: {mib(refilled)} ({mib(free_refilled)} free): "
            "new rows reuse the freed pages, the file does not grow"
        )
        store.close()


if __name__ == "__main__":
    main()
