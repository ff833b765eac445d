"""Benchmark: `pgwarden parse-logs --summary` against a Python loop that only reads the lines.

Writes an N-line log in RDS's stderr format (prefix `%t:%r:%u@%d:[%p]:`) with a realistic
mix: about 3% connection lines (received / authenticated / authorized / disconnection),
rare failures (PAM LOG+FATAL pairs, password failures, pg_hba rejections), about 30%
tab-indented continuation lines from long multi-line statements, and ordinary statement,
duration, error and checkpoint lines. Then it times, in one run:

- the floor: a Python loop that reads the file line by line and does nothing else
  (binary mode, the cheapest loop; text mode is printed too);
- the real CLI, `pgwarden parse-logs --summary FILE`, start-up included, in a subprocess;

and prints lines/s, MB/s, the ratio to the floor, and the CLI's peak RSS (its own,
from `os.wait4`) for each size, to show memory stays flat.

    python bench/parse_logs.py --lines 1000000 --lines 4000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

USERS = ["app_rw", "app_ro", "pgmonitor", "alice@example.com", "etl.loader", "reporting"]
DBS = ["orders", "billing", "postgres", "analytics"]
TABLES = ["orders", "order_items", "customers", "invoices", "payments", "shipments"]


def _statement(rng: random.Random) -> list[str]:
    """A long multi-line statement: the first line, then tab-indented continuation lines."""
    table = rng.choice(TABLES)
    cols = ", ".join(f"{table[:1]}.col_{i}" for i in range(rng.randint(3, 9)))
    lines = [f"SELECT {cols}"]
    lines.append(f"\t  FROM {table} {table[:1]}")
    for other in rng.sample(TABLES, rng.randint(0, 3)):
        lines.append(f"\t  JOIN {other} ON {other}.{table}_id = {table[:1]}.id")
    lines.append(f"\t WHERE {table[:1]}.created_at > now() - interval '{rng.randint(1, 90)} days'")
    lines.append(f"\t   AND {table[:1]}.status IN ('open', 'paid', 'shipped')")
    lines.append(f"\t ORDER BY {table[:1]}.id DESC LIMIT {rng.randint(10, 1000)}")
    return lines


# Message texts as PostgreSQL 15 writes them (see tests/fixtures/pglog/).
RECEIVED = "LOG:  connection received: host={host} port={port}"
AUTHENTICATED = (
    'LOG:  connection authenticated: identity="{user}" method=pam (/rdsdbdata/pg_hba.conf:4)'
)
AUTHORIZED = (
    "LOG:  connection authorized: user={user} database={db} application_name=app"
    " SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)"
)
DISCONNECTION = (
    "LOG:  disconnection: session time: 0:00:{secs} user={user} database={db}"
    " host={host} port={port}"
)
PAM_LOG = "LOG:  pam_authenticate failed: Permission denied"
PAM_FATAL = 'FATAL:  PAM authentication failed for user "{user}"'
PAM_DETAIL = 'DETAIL:  Connection matched pg_hba.conf line 4: "hostssl all +rds_iam all pam"'
PW_FATAL = 'FATAL:  password authentication failed for user "{user}"'
PW_DETAIL = 'DETAIL:  Password does not match for user "{user}".'
PW_DETAIL2 = '\tConnection matched pg_hba.conf line 9: "host all all 0.0.0.0/0 md5"'
ERROR = 'ERROR:  relation "missing_{n}" does not exist at character 15'
# Statement text that merely mentions a failure must not count as one.
STATEMENT = (
    "STATEMENT:  SELECT * FROM notes WHERE body = 'PAM authentication failed for user \"x\"'"
)
CHECKPOINT = (
    "LOG:  checkpoint complete: wrote {n} buffers (1.2%); 0 WAL file(s) added, 0 removed,"
    " 1 recycled; write=269.874 s, sync=0.002 s, total=269.910 s"
)
DURATION = "LOG:  duration: {ms:.3f} ms  statement: {first}"
EXECUTE = "LOG:  duration: {ms:.3f} ms  execute <unnamed>: SELECT id, status FROM {t} WHERE id = $1"


def write_log(path: Path, n_lines: int, seed: int = 4) -> dict[str, int]:
    """Write about `n_lines` lines; return how many of each interesting thing went in."""
    rng = random.Random(seed)
    t = datetime(2026, 11, 23, 3, 0, 0, tzinfo=UTC)
    counts = {"lines": 0, "connections": 0, "pam_failures": 0, "password_failures": 0}
    written = 0
    next_pid = 10000
    open_sessions: list[tuple[int, str, str, str, int]] = []
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        buf: list[str] = []

        def emit(prefix: str, *messages: str) -> None:
            nonlocal written
            for message in messages:
                buf.append(message + "\n" if message.startswith("\t") else prefix + message + "\n")
            written += len(messages)

        while written < n_lines:
            t += timedelta(milliseconds=rng.randint(0, 4))
            ts = t.strftime("%Y-%m-%d %H:%M:%S UTC")
            roll = rng.random()
            if roll < 0.012:
                # One connection: received, authenticated, authorized now, and a
                # disconnection later: four lines per connection, ~3% of all lines.
                next_pid += 1
                pid, user, db = next_pid, rng.choice(USERS), rng.choice(DBS)
                host = f"10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                port = rng.randint(30000, 65000)
                emit(
                    f"{ts}:{host}({port}):[unknown]@[unknown]:[{pid}]:",
                    RECEIVED.format(host=host, port=port),
                )
                emit(
                    f"{ts}:{host}({port}):{user}@{db}:[{pid}]:",
                    AUTHENTICATED.format(user=user),
                    AUTHORIZED.format(user=user, db=db),
                )
                open_sessions.append((pid, user, db, host, port))
                counts["connections"] += 1
            elif roll < 0.024 and open_sessions:
                pid, user, db, host, port = open_sessions.pop(rng.randrange(len(open_sessions)))
                secs = f"{rng.randint(10, 59)}.{rng.randint(0, 999):03d}"
                emit(
                    f"{ts}:{host}({port}):{user}@{db}:[{pid}]:",
                    DISCONNECTION.format(secs=secs, user=user, db=db, host=host, port=port),
                )
            elif roll < 0.0242:
                next_pid += 1
                user = rng.choice(USERS)
                pre = f"{ts}:10.1.2.3({rng.randint(30000, 65000)}):{user}@orders:[{next_pid}]:"
                emit(pre, PAM_LOG, PAM_FATAL.format(user=user), PAM_DETAIL)
                counts["pam_failures"] += 1
            elif roll < 0.0244:
                next_pid += 1
                user = rng.choice(USERS)
                pre = f"{ts}:10.1.2.4({rng.randint(30000, 65000)}):{user}@orders:[{next_pid}]:"
                emit(pre, PW_FATAL.format(user=user), PW_DETAIL.format(user=user), PW_DETAIL2)
                counts["password_failures"] += 1
            elif roll < 0.15:
                pid, user, db = rng.randint(10000, 12000), rng.choice(USERS), rng.choice(DBS)
                pre = f"{ts}:10.0.0.9({rng.randint(30000, 65000)}):{user}@{db}:[{pid}]:"
                emit(pre, ERROR.format(n=rng.randint(1, 99)), STATEMENT)
            elif roll < 0.16:
                emit(
                    f"{ts}::@:[{rng.randint(100, 200)}]:", CHECKPOINT.format(n=rng.randint(1, 9999))
                )
            else:
                pid, user, db = rng.randint(10000, 12000), rng.choice(USERS), rng.choice(DBS)
                pre = f"{ts}:10.0.0.9({rng.randint(30000, 65000)}):{user}@{db}:[{pid}]:"
                ms = rng.uniform(0.1, 900)
                if rng.random() < 0.13:
                    stmt = _statement(rng)
                    emit(pre, DURATION.format(ms=ms, first=stmt[0]), *stmt[1:])
                else:
                    emit(pre, EXECUTE.format(ms=ms, t=rng.choice(TABLES)))
            if len(buf) > 10000:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))
    counts["lines"] = written
    return counts


def floor_binary(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the cheapest Python loop over the lines."""
    start, cpu = time.perf_counter(), time.process_time()
    n = 0
    with open(path, "rb") as fh:
        for _line in fh:
            n += 1
    return time.perf_counter() - start, time.process_time() - cpu


def floor_text(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    n = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for _line in fh:
            n += 1
    return time.perf_counter() - start, n


def run_cli(path: Path) -> tuple[float, dict[str, object], float, float]:
    """Wall time, summary, this child's peak RSS in MiB and CPU seconds (os.wait4)."""
    exe = shutil.which("pgwarden", path=str(Path(sys.executable).parent)) or "pgwarden"
    start = time.perf_counter()
    proc = subprocess.Popen(
        [exe, "parse-logs", "--summary", str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, proc.returncode
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, json.loads(out), usage.ru_maxrss / 1024, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, action="append", help="file sizes (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the files")
    args = parser.parse_args()
    sizes = args.lines or [1_000_000]
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="pgwarden-bench-"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load}, in {workdir}")
    for n in sorted(sizes):
        path = workdir / f"postgresql.{n}.log"
        truth = write_log(path, n)
        size_mb = path.stat().st_size / 1e6
        floors = [floor_binary(path) for _ in range(args.repeat)]
        fb, fb_cpu = min(f[0] for f in floors), min(f[1] for f in floors)
        ft = min(floor_text(path)[0] for _ in range(args.repeat))
        runs = [run_cli(path) for _ in range(args.repeat)]
        cli = min(r[0] for r in runs)
        summary = runs[0][1]
        rss = max(r[2] for r in runs)
        cli_cpu = min(r[3] for r in runs)
        lines = int(summary["lines"])  # type: ignore[call-overload]
        assert lines == truth["lines"], (lines, truth)
        events = summary["events"]
        assert isinstance(events, dict)
        assert events["connection_authorized"] == truth["connections"], (events, truth)
        failed = truth["pam_failures"] + truth["password_failures"]
        assert events["auth_failed"] == failed, (events, truth)
        print(
            f"{n:>9,} lines {size_mb:6.1f} MB | floor(rb) {fb:.3f} s wall {fb_cpu:.3f} s cpu"
            f" {n / fb / 1e6:5.2f} M lines/s | floor(text) {ft:.3f} s"
            f" | parse-logs --summary {cli:.3f} s wall {cli_cpu:.3f} s cpu"
            f" {n / cli / 1e6:4.2f} M lines/s {size_mb / cli:5.1f} MB/s"
            f" | ratio {cli / fb:4.2f}x wall, {cli_cpu / fb_cpu:4.2f}x cpu (rb floor),"
            f" {cli / ft:4.2f}x text floor | peak RSS {rss:5.1f} MiB"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
