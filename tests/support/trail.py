"""CloudTrail files in the real S3 layout, written from tests/fixtures/cloudtrail/trail.json."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from monitor.sandbox.trail import write_files

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail" / "trail.json"

PROD, ANALYTICS, MGMT = "222222222222", "333333333333", "111111111111"
MONITOR_PROD = f"arn:aws:iam::{PROD}:role/pg-monitor-role"
MONITOR_ANALYTICS = f"arn:aws:iam::{ANALYTICS}:role/pg-monitor-role"
ORDERS_APP = f"arn:aws:iam::{PROD}:role/orders-app"
WATCHED = [MONITOR_PROD, MONITOR_ANALYTICS, ORDERS_APP]


def fixture_files() -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return data


def write_trail(root: Path, files: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    """Write the files (default: the fixture's) as CloudTrail does."""
    return write_files(root, files if files is not None else fixture_files())


def write_bad_files(root: Path, day_dir: str) -> dict[str, Path]:
    """One file of each kind of corruption, in `day_dir` (relative to root)."""
    directory = root / day_dir
    directory.mkdir(parents=True, exist_ok=True)
    bad = {
        "bad-gzip": directory / "x_CloudTrail_bad-gzip.json.gz",
        "bad-json": directory / "x_CloudTrail_bad-json.json.gz",
        "non-utf8": directory / "x_CloudTrail_non-utf8.json.gz",
        "truncated-gzip": directory / "x_CloudTrail_truncated.json.gz",
        "not-cloudtrail": directory / "x_CloudTrail_not-cloudtrail.json.gz",
    }
    bad["bad-gzip"].write_bytes(b"this is not gzip at all")
    bad["bad-json"].write_bytes(gzip.compress(b'{"Records": [{"eventID": "x", '))
    bad["non-utf8"].write_bytes(
        gzip.compress(
            b'{"Records": [{"eventID": "\xff\xfe", "eventTime": "2026-11-01T00:00:00Z"}]}'
        )
    )
    whole = gzip.compress(json.dumps({"Records": [{"eventID": "t"}]}).encode())
    bad["truncated-gzip"].write_bytes(whole[: len(whole) // 2])
    bad["not-cloudtrail"].write_bytes(
        gzip.compress(b'{"records": [{"eventID": "lower-case key"}]}')
    )
    return bad
