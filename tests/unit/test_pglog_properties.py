"""Property tests: no input makes the parser raise, and its counts stay consistent."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.parsing.pglog import FORMATS, LogParser

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pglog"
# Real lines, so that mutations land near what the parser actually reads.
_REAL = [
    line
    for name in ("rds_pam.log", "tricky.log", "pg15_server.csv", "pg15_server.json")
    for line in (FIXTURES / name).read_bytes().split(b"\n")
    if line
]

_line_like = st.one_of(
    st.sampled_from(_REAL),
    st.sampled_from(_REAL).flatmap(
        lambda line: st.integers(0, len(line)).map(lambda i: line[:i])  # truncated
    ),
    st.binary(max_size=80),
    st.sampled_from([b"\t", b"\r", b"", b"{", b'"', b"\t  FROM x"]),
)
_documents = st.lists(_line_like, max_size=30).map(b"\n".join)


def _check(data: bytes, fmt: str, cuts: list[int]) -> None:
    parser = LogParser(fmt=fmt)
    events = []
    start = 0
    for cut in sorted(cuts):
        events += parser.feed(data[start:cut])
        start = max(start, cut)
    events += parser.feed(data[start:])
    events += parser.finish()
    stats = parser.stats
    assert 0 <= len(events) <= stats.entries <= stats.lines
    assert stats.unparsed >= 0
    assert stats.entries + stats.unparsed <= stats.lines
    assert stats.lines == data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    assert len(stats.samples) <= stats.max_samples


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(st.binary(max_size=2000), _documents),
    fmt=st.sampled_from(FORMATS),
    cuts=st.lists(st.integers(0, 2000), max_size=5),
)
def test_pglog_never_raises_and_counts_hold(data: bytes, fmt: str, cuts: list[int]) -> None:
    _check(data, fmt, cuts)


@settings(max_examples=200, deadline=None)
@given(data=_documents, cuts=st.lists(st.integers(0, 3000), max_size=4))
def test_pglog_split_points_do_not_change_events(data: bytes, cuts: list[int]) -> None:
    whole = LogParser(fmt="stderr")
    expected = whole.feed(data) + whole.finish()
    parser = LogParser(fmt="stderr")
    events = []
    start = 0
    for cut in sorted(cuts):
        events += parser.feed(data[start:cut])
        start = max(start, cut)
    events += parser.feed(data[start:]) + parser.finish()
    assert events == expected
    assert parser.stats == whole.stats
