"""What the report page needs, gathered while the CSV rows stream past: small and bounded."""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.outputs.reports.period import Period
from monitor.outputs.reports.recommend import RECOMMENDATIONS

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparisonT

TABLE_ROWS = 500  # rows of the HTML table: the most urgent first; the CSV has them all
TOP_USERS = 10


@dataclass
class Review:
    """Counts, chart series, the busiest users and the most urgent rows."""

    period: Period
    generated: datetime
    users: Counter[str] = field(default_factory=Counter)
    principals: Counter[str] = field(default_factory=Counter)
    targets: set[str] = field(default_factory=set)
    sessions: int = 0
    auth_failures: int = 0
    top: list[tuple[int, str, str]] = field(default_factory=list)  # min-heap of the busiest
    table: list[tuple[tuple[int, int, str, str], dict[str, Any]]] = field(default_factory=list)
    table_total: int = 0
    daily_sessions: dict[str, dict[str, int]] = field(default_factory=dict)  # target -> day
    daily_failures: dict[str, int] = field(default_factory=dict)  # day -> count

    def add_user(self, row: dict[str, Any]) -> None:
        self.users[row["recommendation"]] += 1
        self.targets.add(row["target"])
        sessions = row["sessions_in_period"]
        self.sessions += sessions
        _keep_top(self.top, (sessions, row["target"], row["db_user"]), TOP_USERS)
        # Most urgent first, then the busiest: negate so the heap drops the least urgent.
        rank = RECOMMENDATIONS.index(row["recommendation"])
        key = (-rank, sessions, row["target"], row["db_user"])
        _keep_top(self.table, (key, row), TABLE_ROWS)
        self.table_total += 1

    def table_rows(self) -> list[dict[str, Any]]:
        return [row for _, row in sorted(self.table, key=lambda kr: kr[0], reverse=True)]

    def top_users(self) -> list[tuple[str, int]]:
        ranked = sorted(self.top, key=lambda t: (-t[0], t[1], t[2]))
        return [(f"{target}/{user}", n) for n, target, user in ranked if n]


def _keep_top(
    heap: list[SupportsRichComparisonT], item: SupportsRichComparisonT, size: int
) -> None:
    if len(heap) < size:
        heapq.heappush(heap, item)
    else:
        # Replaces the smallest only when `item` is larger: ties keep the one already in.
        heapq.heappushpop(heap, item)
