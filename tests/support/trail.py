"""CloudTrail files in the real S3 layout, written from tests/fixtures/cloudtrail/trail.json."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from monitor.sandbox.trail import write_files

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail" / "trail.json"
CONTROL_PLANE = FIXTURE.with_name("control_plane.json")

PROD, ANALYTICS, MGMT = "222222222222", "333333333333", "111111111111"
MONITOR_PROD = f"arn:aws:iam::{PROD}:role/pg-monitor-role"
MONITOR_ANALYTICS = f"arn:aws:iam::{ANALYTICS}:role/pg-monitor-role"
ORDERS_APP = f"arn:aws:iam::{PROD}:role/orders-app"
WATCHED = [MONITOR_PROD, MONITOR_ANALYTICS, ORDERS_APP]


def fixture_files(fixture: Path = FIXTURE) -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = json.loads(fixture.read_text(encoding="utf-8"))
    return data


def control_plane_records() -> list[dict[str, Any]]:
    """The control-plane change records (one file of tests/fixtures/cloudtrail/)."""
    return [r for records in fixture_files(CONTROL_PLANE).values() for r in records]


def write_trail(root: Path, files: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    """Write the files (default: the fixture's) as CloudTrail does."""
    return write_files(root, files if files is not None else fixture_files())


def write_bad_files(root: Path, day_dir: str) -> dict[str, Path]:
    """One file of each kind of damage, in `day_dir` (relative to root)."""
    directory = root / day_dir
    directory.mkdir(parents=True, exist_ok=True)
    bad = {
        name: directory / f"x_CloudTrail_{name}.json.gz"
        for name in (
            "not-gzip",
            "bad-gzip-header",
            "truncated-gzip",
            "empty",
            "json-cut-off",
            "json-broken-inside",
            "non-utf8",
            "not-cloudtrail",
            "lone-surrogate",
        )
    }
    bad["not-gzip"].write_bytes(b"this is not gzip at all")
    # A gzip header (magic, deflate, no flags) followed by garbage.
    bad["bad-gzip-header"].write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(7, 200)))
    whole = gzip.compress(json.dumps({"Records": [{"eventID": "t"}] * 50}).encode())
    bad["truncated-gzip"].write_bytes(whole[: len(whole) // 2])
    bad["empty"].write_bytes(b"")
    bad["json-cut-off"].write_bytes(gzip.compress(b'{"Records": [{"eventID": "x", '))
    bad["json-broken-inside"].write_bytes(
        gzip.compress(b'{"Records": [{"eventID": "x", "eventTime": }]}')
    )
    bad["non-utf8"].write_bytes(
        gzip.compress(
            b'{"Records": [{"eventID": "\xff\xfe", "eventTime": "2026-11-01T00:00:00Z"}]}'
        )
    )
    bad["not-cloudtrail"].write_bytes(
        gzip.compress(b'{"records": [{"eventID": "lower-case key"}]}')
    )
    # Python's json reads a lone surrogate escape; DuckDB refuses it.
    bad["lone-surrogate"].write_bytes(
        gzip.compress(b'{"Records": [{"eventID": "\\ud800", "eventTime": "2026-11-01T00:00:00Z"}]}')
    )
    return bad
