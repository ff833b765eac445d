"""Sliding windows over sorted times, shared by the burst detectors."""

from __future__ import annotations

from datetime import datetime, timedelta


def densest(times: list[datetime], window: timedelta) -> tuple[int, int]:
    """Indices [i, j) of the span no longer than `window` holding the most of sorted `times`.

    A sliding window, not fixed buckets: a burst across a bucket edge is still one burst.
    """
    best, start = (0, 0), 0
    for end in range(len(times)):
        while times[end] - times[start] > window:
            start += 1
        if end + 1 - start > best[1] - best[0]:
            best = (start, end + 1)
    return best
