"""Benchmark: discovery's describe calls while the daemon runs, before and after the jobs
shared their targets.

    .venv/bin/python bench/daemon_discovery.py [--clusters 50] [--proxies 3] [--seconds 300]

It starts the moto server, makes one database account with `--clusters` tagged Aurora
clusters and `--proxies` RDS Proxies in front of some of them, and runs `pgwarden run`'s
daemon in process on a frozen clock for `--seconds` of simulated time: every second of it,
the jobs that read targets (`poll-activity` every 10 s, `ingest-logs` every 60 s, the
defaults) run when due, on the stages themselves (the clusters' endpoints do not resolve,
so each poll finds them down at once). Discovery's RDS and EC2 describe calls are counted
at botocore's hooks (tests/support/aws_calls.py) while they go to moto over HTTP.

- before: `[scheduler] discovery_interval_s = 0.001`, i.e. every job run resolves the
  targets (each run is taken to last 1 ms), as every run did before the daemon shared them;
- after: the default, 300 s: one resolution in the 300 s simulated by default.

It prints, for each, the resolutions, the describe calls (per minute) by operation, and
the wall time. Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.clock import FrozenClock
from monitor.config import load_config
from monitor.sandbox.aws import Account, MotoSandbox, role_arn
from monitor.scheduler import Daemon
from tests.support.aws_calls import AwsCalls
from tests.support.daemon import write_toml

ACCOUNT = "555555555555"
JOBS = {"poll-activity": 10, "ingest-logs": 60}  # the jobs that read targets: every N s


def populate(moto: MotoSandbox, clusters: int, proxies: int) -> None:
    account = Account(moto, ACCOUNT)
    made = [account.create_cluster(f"db{i:04d}", 5432) for i in range(clusters)]
    for i, cluster in enumerate(made[:proxies]):
        account.create_proxy(cluster, f"{cluster.cluster_id}-proxy", networks=(f"10.20.{i}.0/24",))


def config(tmp: Path, moto: MotoSandbox, interval: float) -> dict[str, Any]:
    return {
        "store": {"path": str(tmp / "pgwarden.db")},
        "aws": {"endpoint_url": moto.url},
        "accounts": [
            {
                "id": ACCOUNT, "name": "bench", "role_arn": role_arn(ACCOUNT, "pg-monitor-role"),
                "discover": True, "discover_tags": {"pgwarden": "monitor"},
            }
        ],
        "pglogs": {"sources": ["cloudwatch"]},
        "cloudtrail": {"enabled": False},
        "scheduler": {"discovery_interval_s": interval},
    }  # fmt: skip


def simulate(moto: MotoSandbox, interval: float, seconds: int) -> tuple[AwsCalls, int, float]:
    """The jobs' runs over `seconds` of simulated time; the calls, runs and wall time."""
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    calls = AwsCalls(clock)
    with tempfile.TemporaryDirectory(prefix="pgwarden-bench-") as tmp:
        path = Path(tmp) / "pgwarden.toml"
        write_toml(path, config(Path(tmp), moto, interval))
        daemon = Daemon(path, load_config(path), clock=clock, aws=calls.sessions)
        started, runs = time.monotonic(), 0
        try:
            for second in range(seconds):
                for job, every in JOBS.items():
                    if second % every == 0:
                        daemon._run_job(job)
                        runs += 1
                        clock.advance(timedelta(milliseconds=1))  # a run takes some time
                clock.advance(timedelta(seconds=1) - timedelta(milliseconds=1) * len(JOBS))
        finally:
            daemon._finish()
        return calls, runs, time.monotonic() - started


def show(label: str, calls: AwsCalls, runs: int, took: float, seconds: int) -> None:
    describes: Counter[tuple[str, str]] = calls.describes()
    total = sum(describes.values())
    print(
        f"{label}: {runs} job runs, {calls.discoveries()} resolutions, {total} describe calls"
        f" ({total * 60 / seconds:.0f} per minute), {took:.1f} s wall"
    )
    for (service, op), n in sorted(describes.items()):
        print(f"    {service}:{op:<32} {n:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--proxies", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the targets down, the proxies' notes: noise
    # moto's static keys as the source credentials, never the user's own AWS credentials.
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
        AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_CONFIG_FILE=os.devnull,
    )  # fmt: skip
    moto = MotoSandbox()
    try:
        populate(moto, args.clusters, args.proxies)
        print(
            f"{args.clusters} clusters, {args.proxies} proxies; {args.seconds} s of jobs: "
            + ", ".join(f"{job} every {every} s" for job, every in JOBS.items())
        )
        for label, interval in (("before (every run resolves)", 0.001), ("after (300 s)", 300)):
            show(label, *simulate(moto, interval, args.seconds), args.seconds)
    finally:
        moto.close()


if __name__ == "__main__":
    main()
