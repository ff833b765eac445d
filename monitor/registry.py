"""One registry per plugin kind: detectors, stages, doctor groups, log sources, sinks.

The registered name is kebab-case and is the config key (`[detectors.unused-db-user]`,
`pglogs.sources = ["rds-api"]`, `pgwarden once --only pglogs`). A name registered twice is
a bug and raises at import; an unknown name is a user error that lists the known ones:

    detectors.unsued-user: unknown detector; known: failure-burst, new-source, unused-user

Every entry states its contract next to its code (STYLE rule 4): an Options model, a
docstring with a TOML example of its section, and the access it needs (`Access`).
tests/unit/test_registries.py walks every registry and holds each entry to that, and
`pgwarden iam-policy` and the README's reference tables are derived from the entries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

_KEBAB = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")

# What queries through Athena take (the trail's engine, the athena log source), with
# pgwarden's own role: the workgroup, the table's Glue catalog, the data's bucket and the
# results location; monitor/outputs/policies.py scopes each.
ATHENA_ACTIONS = (
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
    "glue:GetDatabase",
    "glue:GetTable",
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "s3:GetObject",
    "s3:PutObject",
    "s3:AbortMultipartUpload",
)


@dataclass(frozen=True)
class Access:
    """What a plugin needs: IAM actions of the monitor role in each database account, of
    pgwarden's own role in the management account, and database privileges."""

    monitor: tuple[str, ...] = ()
    management: tuple[str, ...] = ()
    pg: tuple[str, ...] = ()

    def __or__(self, other: Access) -> Access:
        return Access(
            self.monitor + other.monitor, self.management + other.management, self.pg + other.pg
        )


NO_ACCESS = Access()


class Plugin(Protocol):
    """What every registry entry states."""

    @property
    def name(self) -> str: ...

    @property
    def options(self) -> type[BaseModel] | None:
        """Its config section's model (None: it has no options of its own)."""
        ...

    @property
    def section(self) -> str | None:
        """The dotted config path its TOML example and its options sit under."""
        ...

    @property
    def doc(self) -> str:
        """Its docstring, with a TOML example after `Example:` when it has options."""
        ...

    @property
    def access(self) -> Access:
        """All it may need, whatever the config."""
        ...


P = TypeVar("P", bound=Plugin)


class Registry(Generic[P]):
    """Entries of one kind by name, in registration order (the stages' run order).

    `ordered`: the order means something (it is run order), so an error lists the known
    names in it; otherwise they are listed sorted."""

    def __init__(self, kind: str, *, ordered: bool = False) -> None:
        self.kind = kind
        self.ordered = ordered
        self._entries: dict[str, P] = {}

    def add(self, entry: P) -> P:
        if not _KEBAB.fullmatch(entry.name):
            raise ValueError(f"{self.kind} {entry.name!r}: a registered name is kebab-case")
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name} registered twice")
        self._entries[entry.name] = entry
        return entry

    def unknown(self, name: str, where: str) -> str:
        """The error for a name nothing is registered under: `where` (a dotted config path,
        `--only NAME`) and the known names."""
        names = list(self._entries) if self.ordered else sorted(self._entries)
        known = ", ".join(names) or "none yet"
        return f"{where}: unknown {self.kind}; known: {known}"

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> P:
        return self._entries[name]

    def __iter__(self) -> Iterator[P]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)
