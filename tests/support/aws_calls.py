"""Counting the AWS API calls pgwarden makes, at botocore's event hooks: the calls still go
to the moto server over HTTP. Used by the daemon's discovery tests and bench/daemon_discovery.py.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from monitor.aws import AwsSessions
from monitor.clock import Clock
from monitor.config import Config

# Discovery's calls (monitor/sources/discovery.py, proxies.py): RDS and EC2 describes. Log
# reads describe log streams too; those are not discovery.
DISCOVERY_SERVICES = ("rds", "ec2")


class AwsCalls:
    """Every API call of the sessions made by `sessions` (a Daemon's `aws` factory), by
    (service, operation), counted once per call whatever its retries (`before-call`).

    `before[operation]` runs just before each call of that operation, in the calling
    thread: a test holds a call there to make two jobs meet.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: Counter[tuple[str, str]] = Counter()
        self.before: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()

    def sessions(self, config: Config) -> AwsSessions:
        return CountingSessions(config.aws, config.accounts, clock=self.clock, counter=self)

    def count(self, service: str, operation: str) -> None:
        with self._lock:
            self.calls[(service, operation)] += 1
        hook = self.before.get(operation)
        if hook is not None:
            hook()

    def describes(self) -> Counter[tuple[str, str]]:
        """Discovery's describe calls so far."""
        with self._lock:
            return Counter(
                {
                    (service, op): n
                    for (service, op), n in self.calls.items()
                    if service in DISCOVERY_SERVICES and op.startswith("Describe")
                }
            )

    def discoveries(self) -> int:
        """How many times discovery ran: it lists the clusters once per account and region."""
        with self._lock:
            return self.calls[("rds", "DescribeDBClusters")]


class CountingSessions(AwsSessions):
    """AwsSessions whose every client tells `counter` of each call it makes."""

    def __init__(self, *args: Any, counter: AwsCalls, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counter = counter
        self._hooked: set[int] = set()

    def client(self, service: str, region: str | None = None, account_id: str | None = None) -> Any:
        with self._lock:  # AwsSessions' own (reentrant) lock: one hook per cached client
            made = super().client(service, region, account_id)
            if id(made) not in self._hooked:
                self._hooked.add(id(made))
                made.meta.events.register("before-call", self._count)
        return made

    def _count(self, model: Any, **_: Any) -> None:
        self.counter.count(model.service_model.service_name, model.name)
