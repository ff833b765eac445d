"""Which trail files a window opens, and the checks that name a damaged one."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from monitor.sources.trail_files import TrailDirError, check_file, find_files
from tests.support.trail import PROD, write_bad_files, write_trail

DAY = date(2026, 11, 1)


def test_check_file_names_each_damage(tmp_path: Path) -> None:
    bad = write_bad_files(tmp_path, "d")
    quick = {k: check_file(p, full=False).reason for k, p in bad.items()}
    full = {k: check_file(p, full=True).reason for k, p in bad.items()}
    for damage in ("not-gzip", "bad-gzip-header", "truncated-gzip", "empty", "non-utf8"):
        assert quick[damage] and quick[damage] == full[damage], damage
    assert quick["json-cut-off"] == (
        "not JSON: it does not begin and end like a JSON object or array"
    )
    # The quick check cannot see inside the JSON; the full one can.
    assert quick["json-broken-inside"] is None
    assert full["json-broken-inside"] == "not JSON: Expecting value at line 1"
    assert quick["not-cloudtrail"] is None
    assert (full["not-cloudtrail"] or "").startswith("not CloudTrail events: record 0")
    # Python's json reads a lone surrogate: only DuckDB refuses it (see test_trail_damage).
    assert full["lone-surrogate"] is None


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("records.json", json.dumps({"Records": [{"eventID": "a"}, {"eventID": "b"}]})),
        ("array.json", json.dumps([{"eventID": "a"}, {"eventID": "b"}])),
        ("lines.jsonl", '{"eventID": "a"}\n\n{"eventID": "b"}\n'),
    ],
)
def test_check_file_counts_records_without_event_time(tmp_path: Path, name: str, body: str) -> None:
    plain, packed = tmp_path / name, tmp_path / f"{name}.gz"
    plain.write_text(body)
    packed.write_bytes(gzip.compress(body.encode()))
    for path in (plain, packed):
        check = check_file(path, full=True)
        assert (check.reason, check.without_time) == (None, 2)


def test_check_file_gzip_without_gz_name(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_bytes(gzip.compress(b"[]"))
    assert check_file(path, full=False).reason == (
        "gzip data in a file not named .gz; add .gz to its name"
    )


def test_find_files_prunes_and_names_stray_paths(tmp_path: Path) -> None:
    root = write_trail(tmp_path / "t")
    trail = root / "AWSLogs" / PROD / "CloudTrail"
    (trail / "us_east_1" / "2026").mkdir(parents=True)
    (trail / "us-east-1" / "2026" / "11" / "01" / "notes.txt").write_text("x")
    digest = root / "AWSLogs" / PROD / "CloudTrail-Digest" / "us-east-1" / "2026" / "11" / "01"
    digest.mkdir(parents=True)
    (digest / "d.json.gz").write_bytes(b"")
    found = find_files(root, DAY, DAY)
    assert not found.exported
    assert all("/2026/11/01/" in str(p) and p.name.endswith(".json.gz") for p in found.files)
    assert len(found.files) == 2
    assert found.unexpected == [
        str(trail / "us-east-1" / "2026" / "11" / "01" / "notes.txt"),
        str(trail / "us_east_1"),
    ]
    # Another day's folders are not listed, so their files are never opened.
    assert find_files(root, date(2026, 11, 3), date(2026, 11, 3)).unexpected == [
        str(trail / "us_east_1")
    ]


def test_find_files_exported_folder_and_file(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(b'{"eventID": "a"}\n'))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.json").write_text("[]")
    (tmp_path / "README.txt").write_text("notes")
    found = find_files(tmp_path, DAY, DAY)
    assert found.exported
    assert found.files == [tmp_path / "a.jsonl.gz", tmp_path / "sub" / "b.json"]
    assert found.unexpected == [str(tmp_path / "README.txt")]
    single = find_files(tmp_path / "sub" / "b.json", DAY, DAY)
    assert (single.files, single.exported) == ([tmp_path / "sub" / "b.json"], True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrailDirError, match="no exported events found"):
        find_files(tmp_path / "empty", DAY, DAY)


def test_find_files_unreadable_folder_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_trail(tmp_path / "t")
    region = root / "AWSLogs" / PROD / "CloudTrail" / "us-east-1"
    listing = Path.iterdir

    # The tests run as root, which reads any folder whatever its mode: the refusal an
    # ordinary user would get is simulated for this one folder.
    def refuse(path: Path) -> Any:
        if path == region:
            raise PermissionError(13, "Permission denied")
        return listing(path)

    monkeypatch.setattr(Path, "iterdir", refuse)
    with pytest.raises(TrailDirError, match="us-east-1: cannot list it \\(Permission denied\\)"):
        find_files(root, DAY, DAY)
