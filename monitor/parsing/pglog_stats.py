"""Counts a parse keeps: lines, entries, unreadable lines and a few samples of them."""

from __future__ import annotations

from dataclasses import dataclass, field

SAMPLE_CHARS = 300


@dataclass
class ParseStats:
    """`events <= entries <= lines` always holds; `unparsed` lines are not entries.

    `suspicious` entries are entries refused as evidence (see `SuspiciousEntry`).
    """

    lines: int = 0
    entries: int = 0
    unparsed: int = 0
    suspicious: int = 0
    max_samples: int = 5
    samples: list[str] = field(default_factory=list)

    def add_sample(self, line: bytes) -> None:
        if len(self.samples) < self.max_samples:
            self.samples.append(line[:SAMPLE_CHARS].decode("utf-8", "replace").rstrip("\r"))
