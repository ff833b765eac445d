"""The daemon's poll job: an `ActivitySource` whose event loop outlives each job run.

The activity stage runs once per job, as a synchronous call. The loop the connections
belong to runs in a thread of its own for as long as the poller lives, so connections are
reused between rounds and the reconnects of targets that are down (tasks of their own, see
`ActivitySource.poll_all`) carry on between them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import TypeVar

from monitor.clock import Clock
from monitor.config import ActivityConfig
from monitor.sources.activity import ActivitySource, PollResult, TokenSource
from monitor.sources.targets import Target

T = TypeVar("T")


class ActivityPoller:
    """An `ActivitySource` and its event loop, kept between polls so connections are reused.

    A changed target list (a discovered cluster, say) starts a new source.
    """

    def __init__(self, options: ActivityConfig, tokens: TokenSource, clock: Clock) -> None:
        self.options = options
        self.tokens = tokens
        self.clock = clock
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="activity", daemon=True)
        self._thread.start()
        self._source: ActivitySource | None = None

    def poll(self, targets: Sequence[Target]) -> list[PollResult]:
        if self._source is None or self._source.targets != list(targets):
            self._close_source()
            self._source = ActivitySource(targets, self.options, self.tokens, self.clock)
        return self._run(self._source.poll_all())

    def close(self) -> None:
        """Close every connection, then the loop."""
        self._close_source()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _run(self, work: Coroutine[object, object, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def _close_source(self) -> None:
        if self._source is not None:
            source, self._source = self._source, None
            self._run(source.close())
