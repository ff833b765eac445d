"""Benchmark: the weekly access review over a large store, at several scales.

1x is 10,000 db users over 500 targets (each user a login role on 5 of them: 50,000
(target, user) rows in the users CSV), 4 weeks of history: 400,000 pg_stat_activity
sessions, 2,000,000 auth events, 20,000 connect grants for 2,000 roles and 100,000
AssumeRole events. Users and history grow with the scale; targets stay at 500. The report
covers the last of the 4 weeks, with every file (CSVs, HTML, plan). Each store is built in
one child process and reported on in another, so the peak RSS printed is the report's own.

    .venv/bin/python bench/report.py [--scales 0.5,1,2] [--keep DIR]
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

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # Monday: the report is 2026-W47
BASE = {"users": 10_000, "sessions": 400_000, "auth_events": 2_000_000, "grants": 20_000}
BASE |= {"roles": 2_000, "assume": 100_000}
TARGETS, PER_USER, WEEKS = 500, 5, 4


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def build(path: Path, scale: float) -> None:
    from monitor.store.sqlite import Store

    rng = random.Random(int(scale * 100))
    n = {k: int(v * scale) for k, v in BASE.items()}
    span = WEEKS * 7 * 24 * 3600
    old = iso(NOW - timedelta(days=120))

    def target_of(u: int, k: int) -> str:
        return f"db{(u * 7 + k * 101) % TARGETS}"

    def active() -> tuple[str, str, int]:
        # One user in ten is never used: the revoke recommendations.
        u = rng.randrange(n["users"])
        u += u % 10 == 0
        return target_of(u, rng.randrange(PER_USER)), f"user{u}", u

    def when() -> datetime:
        return NOW - timedelta(seconds=rng.randrange(span))

    with Store.open(path) as store, store.transaction() as tx:
        tx.executemany(
            "INSERT INTO targets (name, account_id, region, endpoint, endpoint_type, port,"
            " database, db_user, resource_id, first_seen, last_seen) VALUES (?, ?, 'us-east-1',"
            " ?, 'cluster', 5432, 'postgres', 'pgmonitor', ?, ?, ?)",
            [
                (f"db{t}", f"{222222220000 + t % 20}", f"db{t}.example", f"cluster-{t}", old,
                 iso(NOW))
                for t in range(TARGETS)
            ],
        )  # fmt: skip
        tx.executemany(
            "INSERT OR IGNORE INTO db_roles (target, rolname, rds_iam, superuser, rds_superuser,"
            " can_login, member_of, first_seen, observed_at) VALUES (?, ?, ?, 0, ?, 1, ?, ?, ?)",
            (
                (target_of(u, k), f"user{u}", int(u % 20 != 7), int(u % 100 == 3),
                 '["rds_iam"]', old, iso(NOW))
                for u in range(n["users"])
                for k in range(PER_USER)
            ),
        )  # fmt: skip
        tx.executemany(
            "INSERT INTO sessions (target, pid, backend_start, usename, datname, client_addr,"
            " application_name, backend_type, first_seen, last_seen, last_state, seen_count)"
            " VALUES (?, ?, ?, ?, 'app', ?, ?, 'client backend', ?, ?, 'idle', 3)",
            (
                (t, i, iso(start), user, f"10.{u % 250}.{u // 250 % 250}.{rng.randrange(3)}",
                 f"app-{u % 30}", iso(start), iso(start + timedelta(minutes=rng.randrange(90))))
                for i in range(n["sessions"])
                for t, user, u in [active()]
                for start in [when()]
            ),
        )  # fmt: skip
        kinds = ["connection_received"] * 40 + ["connection_authorized"] * 38
        kinds += ["disconnection"] * 20 + ["auth_failed"] * 2
        tx.executemany(
            "INSERT INTO auth_events (target, time, kind, user, database, client_host, pid,"
            " method, source, dedup_key) VALUES (?, ?, ?, ?, 'app', ?, ?, 'pam', 'bench', ?)",
            (
                (t, iso(when()), rng.choice(kinds), user, f"10.{u % 250}.{u // 250 % 250}.9",
                 1_000_000 + i, f"k{i}")
                for i in range(n["auth_events"])
                for t, user, u in [active()]
            ),
        )  # fmt: skip
        tx.executemany(
            "INSERT INTO grants (account_id, principal_arn, principal_type, via, target,"
            " resource_id, db_user, policy, statement, resource_pattern, first_observed,"
            " observed_at) VALUES ('222222222222', ?, 'role', 'direct', ?, ?, ?, 'p', ?, ?, ?, ?)",
            (
                (f"arn:aws:iam::222222222222:role/r{i % n['roles']}", t, f"cluster-{t[2:]}",
                 user, f"s{i}",
                 f"arn:aws:rds-db:us-east-1:222222222222:dbuser:cluster-{t[2:]}/{user}",
                 old, iso(NOW))
                for i in range(n["grants"])
                for u in [rng.randrange(n["users"])]
                for t, user in [(target_of(u, i % PER_USER), "*" if i % 50 == 0 else f"user{u}")]
            ),
        )  # fmt: skip
        tx.executemany(
            "INSERT INTO assume_role_events (event_id, event_time, event_name, recipient_account,"
            " source_account, principal_arn, principal_type, source_ip, role_arn, error_code,"
            " ingested_at) VALUES (?, ?, 'AssumeRole', '222222222222', '111111111111',"
            " 'arn:aws:sts::111111111111:assumed-role/ci/x', 'AssumedRole', '203.0.113.9', ?,"
            " NULL, ?)",
            (
                (f"e{i}", iso(when()), f"arn:aws:iam::222222222222:role/r{r}", iso(NOW))
                # Roles r0..r(N/2): the other half are never assumed.
                for i in range(n["assume"])
                for r in [rng.randrange(max(n["roles"] // 2, 1))]
            ),
        )  # fmt: skip


def report(path: Path, out: Path) -> None:
    from monitor.clock import FrozenClock
    from monitor.config import validate
    from monitor.outputs.reports.access_review import write_report
    from monitor.outputs.reports.period import last_complete_week
    from monitor.stages.base import StageContext
    from monitor.store.sqlite import Store

    config = validate({"store": {"path": str(path)}, "reports": {"dir": str(out)}})
    with Store.open(path, writer=False) as store:
        ctx = StageContext(config, store, FrozenClock(NOW))
        started = time.perf_counter()
        files = write_report(ctx, last_complete_week(NOW, "UTC"))
        elapsed = time.perf_counter() - started
    rows = {f.kind: f.rows for f in files}
    size = sum(f.path.stat().st_size for f in files) / 2**20
    print(f"{elapsed:.2f} {rows['users']} {rows['principals']} {rows['revoke-sql']} {size:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="0.5,1,2")
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build(args.build, args.scale)
        return
    if args.report:
        report(args.report, args.out)
        return
    directory = args.keep or Path(tempfile.mkdtemp(prefix="pgwarden-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    for scale in (float(s) for s in args.scales.split(",")):
        path = directory / f"report-{scale:g}x.db"
        if not path.exists():
            _, built, _ = child(__file__, "--build", str(path), "--scale", str(scale))
            print(f"{scale:g}x: built in {built:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)")
        out, wall, rss = child(
            __file__, "--report", str(path), "--out", str(directory / f"out-{scale:g}x")
        )
        seconds, users, principals, revokes, size = out.split()
        n = {k: int(v * scale) for k, v in BASE.items()}
        print(
            f"{scale:g}x: {n['users']:,} db users x {TARGETS} targets ({users} users-CSV rows, "
            f"{principals} principals), {n['sessions']:,} sessions, {n['auth_events']:,} auth "
            f"events, {n['grants']:,} grants: report {float(seconds):.2f} s (child wall "
            f"{wall:.1f} s with imports), peak RSS {rss:.0f} MiB, {revokes} revokes, "
            f"{size} MiB of files"
        )
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this parent: {parent:.0f} MiB")


if __name__ == "__main__":
    main()
