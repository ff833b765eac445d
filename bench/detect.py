"""Benchmark: one full detection pass over a large store, at 1x, 2x and 4x the data.

1x is 1M auth events, 100k sessions, 10k grants and 100k assume-role events over 30 days,
on 200 targets with 5,000 database users. Each store is built in one child process and
detected in another, so the peak RSS printed is the detection pass's own.

    .venv/bin/python bench/detect.py [--scales 1,2,4] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import child

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BASE = {"auth_events": 1_000_000, "sessions": 100_000, "grants": 10_000, "assume": 100_000}
TARGETS, USERS, ROLES = 200, 5_000, 200


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def build(path: Path, scale: int) -> None:
    from monitor.store.sqlite import Store

    rng = random.Random(scale)
    days = 30 * 24 * 3600

    def user() -> int:
        return rng.randrange(USERS)

    def host(u: int) -> str:
        # Clients come from a few hosts each, as real application fleets do.
        return f"10.{u % 250}.{u // 250}.{rng.randrange(3)}"

    def when() -> str:
        return iso(NOW - timedelta(seconds=rng.randrange(days)))

    with Store.open(path) as store, store.transaction() as tx:
        tx.executemany(
            "INSERT INTO targets (name, account_id, region, endpoint, endpoint_type, port,"
            " database, db_user, first_seen, last_seen) VALUES (?, ?, 'us-east-1', ?,"
            " 'cluster', 5432, 'postgres', 'pgmonitor', ?, ?)",
            [
                (
                    f"db{t}",
                    f"{222222220000 + t % 20}",
                    f"db{t}.example",
                    iso(NOW - timedelta(days=60)),
                    iso(NOW),
                )
                for t in range(TARGETS)
            ],
        )
        tx.executemany(
            "INSERT INTO db_roles (target, rolname, rds_iam, superuser, can_login, first_seen,"
            " observed_at) VALUES (?, ?, 1, 0, 1, ?, ?)",
            [
                (f"db{t}", f"user{u}", iso(NOW - timedelta(days=60)), iso(NOW))
                for t in range(TARGETS)
                for u in range(t % 50, USERS, 200)
            ],
        )
        kinds = (
            ["connection_received"] * 40 + ["connection_authorized"] * 38 + ["disconnection"] * 21
        )
        kinds += ["auth_failed"]
        tx.executemany(
            "INSERT INTO auth_events (target, time, kind, user, database, client_host, pid,"
            " method, source, dedup_key) VALUES (?, ?, ?, ?, 'app', ?, ?, 'pam', 'bench', ?)",
            (
                (f"db{u % TARGETS}", when(), rng.choice(kinds), f"user{u}", host(u), i, f"k{i}")
                for i in range(BASE["auth_events"] * scale)
                for u in [user()]
            ),
        )
        tx.executemany(
            "INSERT INTO sessions (target, pid, backend_start, usename, datname, client_addr,"
            " application_name, backend_type, first_seen, last_seen, last_state, seen_count)"
            " VALUES (?, ?, ?, ?, 'app', ?, ?, 'client backend', ?, ?, 'idle', 3)",
            (
                (f"db{u % TARGETS}", i, t, f"user{u}", host(u), f"app-{u % 30 + u % 2}", t, t)
                for i in range(BASE["sessions"] * scale)
                for t, u in [(when(), user())]
            ),
        )
        tx.executemany(
            "INSERT INTO grants (account_id, principal_arn, principal_type, via, target,"
            " resource_id, db_user, policy, statement, resource_pattern, first_observed,"
            " observed_at)"
            " VALUES ('222222222222', ?, 'role', 'direct', ?, ?, ?, 'p', ?, '*', ?, ?)",
            (
                (
                    f"arn:aws:iam::222222222222:role/r{i % ROLES}",
                    f"db{i % TARGETS}",
                    f"cluster-{i % TARGETS}",
                    f"user{i % USERS}",
                    f"s{i}",
                    iso(NOW - timedelta(days=120)),
                    iso(NOW),
                )
                for i in range(BASE["grants"] * scale)
            ),
        )
        tx.executemany(
            "INSERT INTO assume_role_events (event_id, event_time, event_name, recipient_account,"
            " source_account, principal_arn, principal_type, source_ip, role_arn, error_code,"
            " ingested_at)"
            " VALUES (?, ?, 'AssumeRole', '222222222222', ?, ?, 'AssumedRole', ?, ?, ?, ?)",
            (
                (
                    f"e{i}",
                    when(),
                    "111111111111",
                    "arn:aws:sts::111111111111:assumed-role/ci/x",
                    f"203.0.{r}.{rng.randrange(3)}",
                    f"arn:aws:iam::222222222222:role/r{r}",
                    "AccessDenied" if rng.random() < 0.01 else None,
                    iso(NOW),
                )
                for i in range(BASE["assume"] * scale)
                for r in [rng.randrange(ROLES)]
            ),
        )


def detect(path: Path) -> None:
    from monitor.config import validate
    from monitor.judge.detection import run_detectors
    from monitor.store.sqlite import Store

    config = validate({"aws": {"management_accounts": ["111111111111"]}})
    with Store.open(path) as store:
        started = time.perf_counter()
        summaries = run_detectors(store, config, NOW)
        elapsed = time.perf_counter() - started
    opened = sum(s.opened for s in summaries.values())
    print(f"{elapsed:.2f} {opened}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,2,4")
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--detect", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build(args.build, args.scale)
        return
    if args.detect:
        detect(args.detect)
        return
    directory = args.keep or Path(tempfile.mkdtemp(prefix="pgwarden-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    base = None
    for scale in (int(s) for s in args.scales.split(",")):
        path = directory / f"detect-{scale}x.db"
        if not path.exists():
            _, built, _ = child(__file__, "--build", str(path), "--scale", str(scale))
            print(f"{scale}x: built in {built:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)")
        out, _, rss = child(__file__, "--detect", str(path))
        seconds, opened = out.split()
        base = base or float(seconds)
        rows = {k: v * scale for k, v in BASE.items()}
        print(
            f"{scale}x: {rows['auth_events']:,} auth events, {rows['sessions']:,} sessions, "
            f"{rows['grants']:,} grants, {rows['assume']:,} assume-role events: detection "
            f"{float(seconds):.2f} s ({float(seconds) / base:.2f}x the 1x time), peak RSS "
            f"{rss:.0f} MiB, {opened} findings opened"
        )
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this parent: {parent:.0f} MiB")


if __name__ == "__main__":
    main()
