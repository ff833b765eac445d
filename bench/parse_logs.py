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

With `--before DIR` (a tree holding an older `monitor` package, for example
`git archive main monitor | tar -x -C DIR`), each size also runs that version, the two
interleaved, and prints the CPU ratio after/before. Then it times hostile input, before
and after: crafted lines of 7 to 56 KB that once made the prefix regex backtrack with the
square of their length, a 'connection authorized' of that length, one 25 and one 50 MB
line, and csvlog records holding a 1.8 and a 3.6 MB multi-line statement. Each must grow
linearly.

With `--proxy-lines N` (repeatable; `--proxy-only` skips the rest) it also writes N RDS
Proxy log lines (monitor.sandbox.proxy.py: the public lines, re-timed; about 45%
client connections, 5% IAM failures, 49% pinned sessions, 1% unrecognised) and times
`monitor.parsing.proxylog.parse_line` over them in-process, against a loop that only reads
the lines (text mode: parse_line takes a str).

    python bench/parse_logs.py --lines 1000000 --lines 4000000
    python bench/parse_logs.py --before /tmp/pgwarden-main --repeat 5
    python bench/parse_logs.py --proxy-only --proxy-lines 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
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


REPO = Path(__file__).resolve().parents[1]


def run_cli(
    path: Path, tree: Path = REPO, *args: str, timeout: float | None = None
) -> tuple[float, dict[str, object], float, float]:
    """Wall time, summary, this child's peak RSS in MiB and CPU seconds (os.wait4).

    `tree` holds the `monitor` package to run (this checkout, or an older one for a
    before/after figure); both run the same way, `python -m monitor`, from a directory
    that shadows neither. Past `timeout` seconds the child is killed: wall is inf.
    """
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "parse-logs", "--summary", *args, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=path.parent,
    )
    killer = threading.Timer(timeout, proc.kill) if timeout else None
    if killer:
        killer.start()
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if killer:
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode < 0:  # killed at the deadline
        return float("inf"), {}, 0.0, float("inf")
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, json.loads(out) if out.strip() else {}, usage.ru_maxrss / 1024, cpu


def _ratio(after: float, before: float) -> str:
    return f"{after / before:5.2f}x" if before not in (0, float("inf")) else "  n/a"


def _secs(value: float, timeout: float) -> str:
    return f"> {timeout:.0f} s (killed)" if value == float("inf") else f"{value:7.3f} s"


def crafted_prefix(size: int) -> bytes:
    """One line whose host holds `(1):` again and again: every `(1)` is a place where %r
    may end, and a lazy %u then ran to the end of the line from each of them."""
    body = b"(1):" * (size // 4)
    return b"2026-11-23 03:00:00 UTC:" + body + b"x:  connection received: host=h\n"


def crafted_message(size: int) -> bytes:
    """A 'connection authorized' whose user= runs on with ' database=' again and again."""
    head = b"2026-11-23 03:00:00 UTC:10.0.0.1(5):a@b:[7]:LOG:  connection authorized: user="
    return head + b"a database=" * (size // 11) + b"\n"


def long_line(size: int) -> bytes:
    """A statement line of `size` bytes between two logins, which must still be read."""
    login = (
        "2026-11-23 03:00:0{s} UTC:10.0.0.1(5{s}):app@db:[1{s}]:LOG:  connection authorized:"
        " user=app database=db\n"
    )
    statement = b"2026-11-23 03:00:01 UTC:10.0.0.1(5):app@db:[1]:LOG:  statement: SELECT '"
    filler = b"(1):@x:[2]:FATAL:  " * (size // 19)
    return login.format(s=0).encode() + statement + filler + b"'\n" + login.format(s=2).encode()


def csv_statement(size: int) -> bytes:
    """csvlog: logins around one record whose statement spans `size` bytes of lines."""

    def record(message: str, user: str = "app") -> str:
        return (
            f'2026-11-23 03:00:00.000 UTC,"{user}","db",42,"10.0.0.1:5",6b03afe9.3034,1,'
            f'"idle",2026-11-23 03:00:00 UTC,3/1,0,LOG,00000,"{message}",,,,,,,,,"app",'
            '"client backend",,0\n'
        )

    login = record("connection authorized: user=app database=db")
    line = 'SELECT ""col"", 1 FROM t WHERE x = \'a\'\n'
    statement = record("statement: " + line * (size // len(line)))
    return (login * 100 + statement + login * 100).encode()


def hostile(workdir: Path, before: Path | None, timeout: float) -> None:
    """Time each hostile input with this version and, given one, the older one."""
    csv_fmt = ("--format", "csvlog")
    cases = [
        ("crafted prefix line", crafted_prefix, [7_000, 14_000, 28_000, 56_000], ()),
        ("crafted prefix line, --format auto", crafted_prefix, [14_000, 56_000], ()),
        ("crafted authorized line", crafted_message, [7_000, 14_000, 28_000, 56_000], ()),
        ("long statement line", long_line, [25_000_000, 50_000_000], ()),
        ("csvlog multi-line statement", csv_statement, [1_800_000, 3_600_000], csv_fmt),
    ]  # fmt: skip
    for title, make, sizes, args in cases:
        fmt = () if "auto" in title else args or ("--format", "stderr")
        for size in sizes:
            path = workdir / f"hostile-{make.__name__}-{size}.log"
            path.write_bytes(make(size))
            after = run_cli(path, REPO, *fmt, timeout=timeout)
            line = f"{title:38s} {size / 1e3:9,.0f} KB | after {_secs(after[3], timeout)} cpu"
            if before is not None:
                old = run_cli(path, before, *fmt, timeout=timeout)
                line += f" | before {_secs(old[3], timeout)} cpu | ratio {_ratio(after[3], old[3])}"
            summary = after[1]
            line += f" | lines {summary.get('lines')}, unparsed {summary.get('unparsed')}"
            events = summary.get("events") or {}
            if isinstance(events, dict):
                line += f", authorized {events.get('connection_authorized')}"
            print(line)
            sys.stdout.flush()
            path.unlink()


def write_proxy_log(path: Path, n_lines: int, seed: int = 4) -> int:
    """N proxy lines in the public wordings; returns how many are unrecognised."""
    sys.path.insert(0, str(REPO))
    from monitor.sandbox.proxy import CONNECTED, IAM_FAILED, PINNED, proxy_line

    rng = random.Random(seed)
    t = datetime(2026, 11, 23, 3, 0, 0, tzinfo=UTC)
    bad = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for i in range(n_lines):
            t += timedelta(milliseconds=rng.randint(0, 4))
            roll = rng.random()
            if roll < 0.45:
                address = f"10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                line = proxy_line(CONNECTED, t, i, address=address, port=rng.randint(1024, 65535))
            elif roll < 0.50:
                line = proxy_line(IAM_FAILED, t, i, user=rng.choice(USERS))
            elif roll < 0.99:
                line = proxy_line(PINNED, t, i, level="WARN", db=rng.randint(1, 10**9))
            else:
                line, bad = f"{t.isoformat()} a line in no known shape {i}", bad + 1
            out.write(line + "\n")
    return bad


def bench_proxy(workdir: Path, n: int, repeat: int) -> None:
    """parse_line over N proxy lines, in-process, against the read-only text loop."""
    from monitor.parsing.proxylog import Unrecognised, parse_line

    path = workdir / f"proxy.{n}.log"
    bad = write_proxy_log(path, n)
    floor = min(floor_text(path)[0] for _ in range(repeat))
    best = float("inf")
    for _ in range(repeat):
        start, unrecognised = time.perf_counter(), 0
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                unrecognised += isinstance(parse_line(line), Unrecognised)
        best = min(best, time.perf_counter() - start)
        assert unrecognised == bad, (unrecognised, bad)
    size_mb = path.stat().st_size / 1e6
    print(
        f"{n:>9,} proxy lines {size_mb:6.1f} MB | floor(text) {floor:.3f} s"
        f" {n / floor / 1e6:5.2f} M lines/s | proxylog.parse_line {best:.3f} s"
        f" {n / best / 1e3:6.0f} k lines/s {size_mb / best:5.1f} MB/s"
        f" | ratio {best / floor:5.1f}x text floor | unrecognised {bad}"
    )
    sys.stdout.flush()
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, action="append", help="file sizes (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the files")
    parser.add_argument("--before", type=Path, help="a tree with an older monitor package")
    parser.add_argument("--timeout", type=float, default=60, help="seconds per hostile run")
    parser.add_argument("--proxy-lines", type=int, action="append", help="proxy log sizes")
    parser.add_argument("--proxy-only", action="store_true", help="only the proxy-log figure")
    args = parser.parse_args()
    sizes = args.lines or [1_000_000]
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="pgwarden-bench-"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load}, in {workdir}")
    for n in sorted(args.proxy_lines or [200_000]):
        bench_proxy(workdir, n, args.repeat)
    if args.proxy_only:
        return
    for n in sorted(sizes):
        path = workdir / f"postgresql.{n}.log"
        truth = write_log(path, n)
        size_mb = path.stat().st_size / 1e6
        floors = [floor_binary(path) for _ in range(args.repeat)]
        fb, fb_cpu = min(f[0] for f in floors), min(f[1] for f in floors)
        ft = min(floor_text(path)[0] for _ in range(args.repeat))
        runs, olds = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            runs.append(run_cli(path))
            if args.before:
                olds.append(run_cli(path, args.before))
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
        assert summary["suspicious"] == 0, summary
        print(
            f"{n:>9,} lines {size_mb:6.1f} MB | floor(rb) {fb:.3f} s wall {fb_cpu:.3f} s cpu"
            f" {n / fb / 1e6:5.2f} M lines/s | floor(text) {ft:.3f} s"
            f" | parse-logs --summary {cli:.3f} s wall {cli_cpu:.3f} s cpu"
            f" {n / cli / 1e6:4.2f} M lines/s {size_mb / cli:5.1f} MB/s"
            f" | ratio {cli / fb:4.2f}x wall, {cli_cpu / fb_cpu:4.2f}x cpu (rb floor),"
            f" {cli / ft:4.2f}x text floor | peak RSS {rss:5.1f} MiB"
        )
        if olds:
            old_cpu, old_wall = min(r[3] for r in olds), min(r[0] for r in olds)
            print(
                f"{n:>9,} lines before: {old_wall:.3f} s wall {old_cpu:.3f} s cpu | after/before"
                f" {_ratio(cli, old_wall)} wall, {_ratio(cli_cpu, old_cpu)} cpu"
            )
        sys.stdout.flush()
    hostile(workdir, args.before, args.timeout)


if __name__ == "__main__":
    main()
