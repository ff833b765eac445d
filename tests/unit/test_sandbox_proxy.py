"""The sandbox's proxy lines are the public lines of tests/fixtures/rdsproxy/, re-timed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor.parsing.proxylog import ProxyEvent, parse_line
from monitor.sandbox.proxy import CONNECTED, IAM_FAILED, PINNED, proxy_line

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rdsproxy"


def test_sandbox_proxy_lines_rebuild_the_fixture_lines() -> None:
    """SOURCES:rdsproxy/mysqljl_iam_failed.log and rdsproxy/smily_pinned.log."""
    connected, failed = (FIXTURES / "mysqljl_iam_failed.log").read_text().splitlines()
    at = datetime(2022, 10, 21, 17, 25, 29, 482000, tzinfo=UTC)
    assert proxy_line(CONNECTED, at, 94296180, address="192.0.2.10", port=55392) == connected
    at = at.replace(microsecond=601000)
    assert proxy_line(IAM_FAILED, at, 94296180, user="root") == failed
    pinned = (FIXTURES / "smily_pinned.log").read_text().splitlines()[0]
    at = datetime(2023, 9, 6, 8, 28, 13, 685000, tzinfo=UTC)
    assert proxy_line(PINNED, at, 51706963, level="WARN", db=973587044) == pinned
    assert all(isinstance(parse_line(line), ProxyEvent) for line in (connected, failed, pinned))
