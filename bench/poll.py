"""Benchmark: the cost of polling pg_stat_activity and storing what it shows.

    PYTHONPATH=. python bench/poll.py --targets 50 --sessions 200 --seconds 60

It starts its own PostgreSQL (Debian's binaries; as root it runs them as `postgres`) with
TLS from a test CA, opens S client sessions (idle, active-looking and idle in transaction,
with application names), and points K targets at that server, each with its own kept
connection, verify-full TLS and `hostaddr`. Every target therefore sees ~S + K sessions
per poll, as a K-server fleet of S sessions each would. Login uses `trust` for pgmonitor
here: the IAM token cost is per *connection*, not per poll, and is exercised by the tests.

It then polls all targets back to back for the given time, writing every result into a
SQLite store exactly as `pgwarden once`/the daemon do, and prints:

- polls per second;
- client CPU ms per poll (this process: asyncio, psycopg, masking off, SQLite writes);
- server time per poll (CPU of pgwarden's backends from /proc, and round-trip latency);
- store bytes per session, and store growth per session-hour while polling;
- the arithmetic for 1,000 targets at a 10-s interval.

Not a test: nothing asserts. Paste the output where the figures are needed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.clock import SystemClock
from monitor.config import ActivityConfig
from monitor.sandbox.pg import PgServer, find_pg_bindir
from monitor.sandbox.tls import FAKE_RDS_HOSTS, make_pki
from monitor.sources.activity import ActivitySource, PollResult
from monitor.sources.targets import Target
from monitor.store.sessions import SessionRecorder
from monitor.store.sqlite import Store

TICK = os.sysconf("SC_CLK_TCK")


def start_server(base: Path, sessions: int, targets: int) -> tuple[PgServer, Path]:
    bindir = find_pg_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    server = PgServer(bindir, base)
    server.init()
    pki = make_pki(base / "pki")
    for src in (pki.server_cert, pki.server_key):
        server.write_file(server.datadir / src.name, src.read_text())
    os.chmod(server.datadir / pki.server_key.name, 0o600)
    server.append_conf(
        {
            "ssl": "on",
            "ssl_cert_file": f"'{pki.server_cert.name}'",
            "ssl_key_file": f"'{pki.server_key.name}'",
            "max_connections": str(sessions + targets + 20),
            # The bench would otherwise measure the log collector writing connection lines.
            "log_connections": "off",
            "log_disconnections": "off",
        }
    )
    hba = server.datadir / "pg_hba.conf"
    line = "hostssl all pgmonitor 127.0.0.1/32 trust\n"
    server.write_file(hba, line + hba.read_text())
    server.start()
    return server, pki.ca_cert


def open_sessions(server: PgServer, count: int) -> list[psycopg.Connection]:
    with psycopg.connect(server.dsn(), autocommit=True) as admin:
        admin.execute("CREATE ROLE pgmonitor LOGIN IN ROLE pg_monitor")
        admin.execute("CREATE ROLE app_user LOGIN")
    conns = []
    for i in range(count):
        conn = psycopg.connect(
            server.dsn(user="app_user"), application_name=f"orders-api-{i % 17}", autocommit=True
        )
        if i % 10 == 0:
            conn.autocommit = False
            conn.execute("SELECT 1")  # idle in transaction
        else:
            conn.execute("SELECT %s::int + 1", (i,))
        conns.append(conn)
    return conns


def backend_cpu_ms(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total * 1000 / TICK


def store_bytes(store: Store) -> int:
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    pages = store.conn.execute("PRAGMA page_count").fetchall()[0][0]
    size = store.conn.execute("PRAGMA page_size").fetchall()[0][0]
    return int(pages) * int(size)


async def measure(
    source: ActivitySource, store: Store, seconds: float
) -> tuple[int, float, float, list[float], int, tuple[float, int]]:
    recorder = SessionRecorder()

    def record(results: list[PollResult]) -> None:
        with store.transaction() as conn:
            for result in results:
                recorder.record(conn, result)
        bad = [r for r in results if r.status != "ok"]
        if bad:
            sys.exit(f"poll failed: {bad[0].target}: {bad[0].reason}")

    record(await source.poll_all())  # warm-up: connect, read roles, insert every session
    polls, latencies = 0, []
    cpu0, wall0 = time.process_time(), time.monotonic()
    half: tuple[float, int] | None = None
    while time.monotonic() - wall0 < seconds:
        results = await source.poll_all()
        record(results)
        polls += len(results)
        latencies.extend(r.duration_ms for r in results)
        if half is None and time.monotonic() - wall0 >= seconds / 2:
            # SQLite pages settle after the first rewrites; growth is measured after that.
            pause = time.process_time()
            half = (time.monotonic(), store_bytes(store))
            cpu0 += time.process_time() - pause
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    rows = len(results[0].sessions)
    assert half is not None
    return polls, cpu, wall, latencies, rows, half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-parallel", type=int, default=16)
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="pgwarden-bench-"))
    server, ca = start_server(base, args.sessions, args.targets)
    sessions = []
    try:
        sessions = open_sessions(server, args.sessions)
        targets = [
            Target(
                name=f"bench-{i:03d}",
                account_id="222222222222",
                account_name="bench",
                region="us-east-1",
                endpoint=FAKE_RDS_HOSTS[0],
                endpoint_type="cluster",
                port=server.port,
                database="postgres",
                db_user="pgmonitor",
                ca_bundle=ca,
                hostaddr="127.0.0.1",
            )
            for i in range(args.targets)
        ]
        options = ActivityConfig(max_parallel=args.max_parallel, max_new_connections_per_s=200)
        source = ActivitySource(targets, options, lambda t: "unused-with-trust", SystemClock())
        store = Store.open(base / "bench.db")

        async def run() -> tuple[int, float, float, list[float], int, float, float, int, int]:
            await source.poll_all()  # connect every target first, so backend pids are known
            pids = [source.state(t.name).backend_pid or 0 for t in targets]
            server0 = backend_cpu_ms(pids)
            polls, cpu, wall, lat, rows, (half_at, size0) = await measure(
                source, store, args.seconds
            )
            server_ms = backend_cpu_ms(pids) - server0
            settled_s = time.monotonic() - half_at
            await source.close()
            return polls, cpu, wall, lat, rows, server_ms, settled_s, size0, store_bytes(store)

        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
        polls, cpu, wall, lat, rows, server_ms, settled_s, size0, size1 = asyncio.run(run())
        if args.profile:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
        stored = store.conn.execute("SELECT count(*) FROM sessions").fetchall()[0][0]
        store.close()
    finally:
        for conn in sessions:
            conn.close()
        server.stop()
        shutil.rmtree(base, ignore_errors=True)

    cpu_ms = cpu * 1000 / polls
    per_s = polls / wall
    session_hours = stored * settled_s / 3600
    print(
        f"targets={args.targets} sessions/server={args.sessions} rows/poll={rows} "
        f"max_parallel={args.max_parallel} seconds={wall:.1f} cpus={os.cpu_count()}"
    )
    print(f"polls:                  {polls} in {wall:.1f} s = {per_s:.1f} polls/s")
    print(f"client CPU per poll:    {cpu_ms:.2f} ms (process CPU {cpu:.1f} s; poll + SQLite write)")
    print(f"server CPU per poll:    {server_ms / polls:.2f} ms (pgwarden backends, /proc)")
    print(
        f"poll round trip:        median {statistics.median(lat):.1f} ms, "
        f"p95 {statistics.quantiles(lat, n=20)[-1]:.1f} ms (shared 2-way host: includes queueing)"
    )
    print(
        f"store:                  {stored} session rows, {size1} bytes "
        f"= {size1 / stored:.0f} bytes per session (one row + indexes, whatever its length)"
    )
    growth = size1 - size0
    print(
        f"store growth polling:   {growth} bytes over the last {settled_s:.0f} s = "
        f"{session_hours:.1f} session-hours -> {growth / session_hours:.1f} bytes per "
        "session-hour (rows are updated in place)"
    )
    need = 1000 / 10
    print(
        "1,000 targets at 10 s:  100 polls/s x "
        f"{cpu_ms:.2f} ms = {need * cpu_ms:.0f} ms CPU per second "
        f"= {need * cpu_ms / 10:.0f}% of one core (client)"
    )


if __name__ == "__main__":
    main()
