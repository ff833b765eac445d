"""files: local PostgreSQL log files, each tied to the target whose logs they are (a
self-managed server, a copy of RDS logs); see monitor/sources/logfiles.py.

Example:
    [pglogs]
    sources = ["files"]

    [[pglogs.files]]
    target = "orders"
    paths = ["/var/log/postgresql"]

IAM: none, and no database privilege: it reads files on pgwarden's own host.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from monitor.config.fields import SECTION
from monitor.registry import Access
from monitor.sources.pglogs.ingest import LOG_SOURCES, LogSource, ReadResult, SourceRun

if TYPE_CHECKING:
    from monitor.sources.targets import Target


class LogFilesConfig(BaseModel):
    """`[[pglogs.files]]`: the log files of one target, so their events are its events."""

    model_config = SECTION

    target: str = Field(min_length=1)
    paths: list[Path] = Field(min_length=1)


class FilesOptions(BaseModel):
    """`[pglogs]` keys of the files source."""

    model_config = SECTION

    files: list[LogFilesConfig] = []


def _read(run: SourceRun, target: Target) -> list[ReadResult]:
    from monitor.sources.logfiles import read_files

    return read_files(run.store, target, run.opts, run.now)


SOURCE = LOG_SOURCES.add(LogSource("files", FilesOptions, _read, Access()))
