"""Pacing for new connections: a global rate limit, and reconnect backoff with jitter."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable


class ConnectLimiter:
    """Spaces new connections at most `rate` per second, across every target."""

    def __init__(self, rate: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self._monotonic = monotonic
        self._next = 0.0

    def reserve(self) -> float:
        """Take the next slot; return how long to wait for it (0 if free now)."""
        now = self._monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        return slot - now

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)


def backoff_s(failures: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped."""
    step: float = min(cap, base * 2.0 ** max(0, failures - 1))
    return step / 2 + rng.uniform(0, step / 2)
