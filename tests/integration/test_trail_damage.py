"""The local engine survives real trails: damaged objects and records, stray folders, and
exported events, through the same Athena SQL on DuckDB."""

from __future__ import annotations

import gzip
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.clock import FrozenClock
from monitor.config import Config
from monitor.sources.cloudtrail import (
    TrailWindow,
    access_change_events,
    assume_role_events,
    ingest,
)
from monitor.sources.trail_local import LocalTrail
from monitor.store.sqlite import Store
from tests.support.trail import (
    MONITOR_PROD,
    PROD,
    WATCHED,
    control_plane_records,
    fixture_files,
    write_bad_files,
    write_trail,
)

ALL_DAYS = TrailWindow(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))
DAY_ONE = f"AWSLogs/{PROD}/CloudTrail/us-east-1/2026/11/01"


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    return write_trail(tmp_path / "trail")


def test_local_trail_bad_files_are_named_counted_and_skipped(trail: Path) -> None:
    bad = write_bad_files(trail, DAY_ONE)
    events, result = assume_role_events(LocalTrail(trail), ALL_DAYS, WATCHED)
    reasons = {Path(b.path).name.split("_")[-1]: b.reason for b in result.bad_files}
    assert sorted(b.path for b in result.bad_files) == sorted(str(p) for p in bad.values())
    assert "not a complete gzip stream" in reasons["not-gzip.json.gz"]
    assert "not a complete gzip stream" in reasons["bad-gzip-header.json.gz"]
    assert "end-of-stream marker" in reasons["truncated-gzip.json.gz"]
    assert reasons["empty.json.gz"].startswith("empty file")
    assert reasons["json-cut-off.json.gz"].startswith("not JSON")
    assert reasons["json-broken-inside.json.gz"].startswith("not JSON: Expecting value")
    assert reasons["non-utf8.json.gz"].startswith("not UTF-8")
    assert reasons["not-cloudtrail.json.gz"].startswith("not CloudTrail events")
    # Python reads it; DuckDB does not: isolated all the same, with DuckDB's reason.
    assert reasons["lone-surrogate.json.gz"].startswith("DuckDB: ")
    # Every good file was still read, and every event in them listed.
    assert len(events) == 8
    assert result.files_read == 6


def test_local_trail_one_bad_object_among_many_keeps_the_rest(trail: Path) -> None:
    """The measured case: 1f 8b 08 00 and garbage used to stop the whole read."""
    (trail / DAY_ONE / "x_CloudTrail_broken.json.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\0" * 40)
    events, result = assume_role_events(LocalTrail(trail), ALL_DAYS, None)
    assert [Path(b.path).name for b in result.bad_files] == ["x_CloudTrail_broken.json.gz"]
    assert len(events) == 9


def _records_file(trail: Path, records: list[dict[str, object]]) -> Path:
    path = trail / DAY_ONE / f"{PROD}_CloudTrail_us-east-1_20261101T0100Z_Rr9.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    return path


def test_local_trail_records_without_id_or_time_are_counted_not_raised(trail: Path) -> None:
    good = dict(fixture_files()[next(iter(fixture_files()))][0], eventID="r-good")
    good["eventTime"] = "2026-11-01T01:00:00Z"
    no_id = {k: v for k, v in good.items() if k != "eventID"}
    no_time = {k: v for k, v in good.items() if k != "eventTime"} | {"eventID": "r-no-time"}
    path = _records_file(trail, [good, no_id, no_time])
    events, result = assume_role_events(LocalTrail(trail), ALL_DAYS, [MONITOR_PROD])
    assert "r-good" in {e.event_id for e in events}
    assert "r-no-time" not in {e.event_id for e in events}
    assert result.bad_records == {str(path): 2}
    assert result.bad_files == []
    # A window that does not reach that day does not see them.
    later = TrailWindow(datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))
    assert assume_role_events(LocalTrail(trail), later, [MONITOR_PROD])[1].bad_records == {}


def test_cloudtrail_ingest_counts_bad_records_and_stores_the_rest(
    trail: Path, tmp_path: Path
) -> None:
    good = dict(fixture_files()[next(iter(fixture_files()))][0], eventID="r-good")
    broken = {k: v for k, v in good.items() if k != "eventID"}
    path = _records_file(trail, [broken, good])
    config = Config.model_validate(
        {
            "store": {"path": str(tmp_path / "p.db")},
            "accounts": [{"id": PROD, "name": "prod", "role_arn": MONITOR_PROD}],
            "cloudtrail": {"local_dir": str(trail), "initial_lookback_days": 3},
        }
    )
    with Store.open(config.store.path) as store:
        summary = ingest(store, config, LocalTrail(trail), FrozenClock(ALL_DAYS.until))
        stored = {r[0] for r in store.conn.execute("SELECT event_id FROM assume_role_events")}
    assert summary.bad_records == {str(path): 1}
    assert {"r-good", "e1-cross-account"} <= stored


def test_local_trail_stray_folders_named_in_one_warning_digest_silent(
    trail: Path, caplog: pytest.LogCaptureFixture
) -> None:
    account = trail / "AWSLogs" / PROD
    stray = [
        account / "CloudTrail" / "us_east_1",
        account / "CloudTrail" / "us-east-1" / "2026" / "13",
        account / "CloudTrail" / "us-east-1" / "2026" / "11" / "1",
    ]
    for folder in stray:
        folder.mkdir(parents=True)
    digest = account / "CloudTrail-Digest" / "us-east-1" / "2026" / "11" / "01"
    digest.mkdir(parents=True)
    (digest / f"{PROD}_CloudTrail-Digest_us-east-1_x.json.gz").write_bytes(b"not gzip")
    engine = LocalTrail(trail)
    with caplog.at_level(logging.WARNING, logger="monitor.sources.trail_local"):
        events, result = assume_role_events(engine, ALL_DAYS, None)
        access_change_events(engine, ALL_DAYS, [])
    assert sorted(result.unexpected) == sorted(str(p) for p in stray)
    assert result.bad_files == []
    assert len(events) == 9
    [warning] = caplog.records  # one warning, even over two queries
    assert all(str(p) in warning.getMessage() for p in stray)
    assert "Digest" not in warning.getMessage()


def _exports(root: Path) -> Path:
    """The fixture's events, exported as a responder receives them."""
    records = [r for rs in fixture_files().values() for r in rs] + control_plane_records()
    root.mkdir(parents=True)
    third = len(records) // 3
    wrapped, array, lines = records[:third], records[third : 2 * third], records[2 * third :]
    (root / "cloudtrail-lake.json").write_text(json.dumps({"Records": wrapped}))
    (root / "stratus.json.gz").write_bytes(gzip.compress(json.dumps(array).encode()))
    body = "\n".join(json.dumps(r) for r in lines) + "\n"
    (root / "siem.jsonl.gz").write_bytes(gzip.compress(body.encode()))
    (root / "no-time.jsonl").write_text(json.dumps({"eventID": "t1", "eventName": "X"}) + "\n")
    return root


def test_local_trail_reads_exported_events_like_the_trail(tmp_path: Path) -> None:
    window = TrailWindow(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 6, tzinfo=UTC))
    trail = write_trail(tmp_path / "trail", {**fixture_files(), **_control_plane_files()})
    exported = LocalTrail(_exports(tmp_path / "exported"))
    from_trail, _ = assume_role_events(LocalTrail(trail), window, WATCHED)
    from_export, result = assume_role_events(exported, window, WATCHED)
    assert [e.event_id for e in from_export] == [e.event_id for e in from_trail]
    assert from_export == from_trail
    assert result.bad_records == {str(tmp_path / "exported" / "no-time.jsonl"): 1}
    changes, _ = access_change_events(exported, window, WATCHED)
    trail_changes, _ = access_change_events(LocalTrail(trail), window, WATCHED)
    assert changes == trail_changes
    assert "cp01-iam-auth-off" in {c.event_id for c in changes}


def _control_plane_files() -> dict[str, list[dict[str, object]]]:
    from tests.support.trail import CONTROL_PLANE

    return fixture_files(CONTROL_PLANE)


def test_cloudtrail_stage_report_names_each_skipped_file(trail: Path, tmp_path: Path) -> None:
    from monitor.stages.base import StageContext
    from monitor.stages.grants import cloudtrail_stage

    broken = trail / DAY_ONE / "x_CloudTrail_broken.json.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    good = dict(fixture_files()[next(iter(fixture_files()))][0], eventID="r-good")
    partial = _records_file(trail, [good, {k: v for k, v in good.items() if k != "eventID"}])
    (trail / "AWSLogs" / PROD / "CloudTrail" / "us_east_1").mkdir()
    config = Config.model_validate(
        {
            "store": {"path": str(tmp_path / "p.db")},
            "accounts": [{"id": PROD, "name": "prod", "role_arn": MONITOR_PROD}],
            "cloudtrail": {"engine": "local", "local_dir": str(trail), "initial_lookback_days": 3},
        }
    )
    with Store.open(config.store.path) as store:
        report = cloudtrail_stage(StageContext(config, store, FrozenClock(ALL_DAYS.until)))
    status = {row[6]: (row[1], row[7]) for row in report.rows}
    assert report.failures == 3  # a partial read: `once` exits 1, the metrics say partial
    assert report.rows[0][1] == "ok" and int(report.rows[0][2]) > 0
    assert status[str(broken)][0] == "skipped"
    assert status[str(broken)][1].startswith("not a complete gzip stream")
    assert status[str(partial)] == ("skipped", "1 records without eventID or eventTime skipped")
    unexpected = str(trail / "AWSLogs" / PROD / "CloudTrail" / "us_east_1")
    assert status[unexpected] == (
        "skipped",
        "1 paths that are not where CloudTrail writes events",
    )


def test_cloudtrail_ingest_counts_each_damaged_record_once(tmp_path: Path) -> None:
    """Exported events as the stage's local_dir: a record without eventTime is counted when
    its file is checked, once, though both queries read the file; a record without eventID
    is counted by the query that selects it."""
    records = control_plane_records()[:2] + [r for rs in fixture_files().values() for r in rs]
    no_time = {k: v for k, v in records[0].items() if k != "eventTime"}
    no_id = {k: v for k, v in records[1].items() if k != "eventID"}
    export = tmp_path / "export" / "events.json"
    export.parent.mkdir()
    export.write_text(json.dumps([*records, no_time, no_id]))
    config = Config.model_validate(
        {
            "store": {"path": str(tmp_path / "p.db")},
            "accounts": [{"id": PROD, "name": "prod", "role_arn": MONITOR_PROD}],
            "cloudtrail": {"local_dir": str(export.parent), "initial_lookback_days": 10},
        }
    )
    with Store.open(config.store.path) as store:
        until = datetime(2026, 11, 6, tzinfo=UTC)
        summary = ingest(store, config, LocalTrail(export.parent), FrozenClock(until))
    assert summary.bad_records == {str(export): 2}
    assert summary.access_changes_new == 2 + 5
