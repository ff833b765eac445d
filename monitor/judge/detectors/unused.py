"""How long something went unused, worded one way for every unused-* detector.

Unused for the whole period (`days`) is said at medium severity. When the record (the
store's history, CloudTrail held, the grant's own age) is shorter than the period, the
finding still stands, at low severity, and says how many days were observed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from monitor.models import Severity


@dataclass(frozen=True)
class Unused:
    days: int  # the period the detector asks for
    observed: timedelta  # how far back the record reaches

    @property
    def full(self) -> bool:
        """Whether the record covers the whole period."""
        return self.observed >= timedelta(days=self.days)

    @property
    def severity(self) -> Severity:
        return "medium" if self.full else "low"

    @property
    def span(self) -> str:
        """The period as a finding words it: "90 days", or "the 12 days observed"."""
        return f"{self.days} days" if self.full else f"the {self.observed.days} days observed"
