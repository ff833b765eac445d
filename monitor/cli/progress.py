"""Progress on long work, shared by the commands: a rich bar on stderr when stderr is a
terminal, and nothing at all otherwise (CI, pipes, cron, the daemon), so what a command
prints is the same as without it.

Lines a command prints while the bar is up go through `Bar.echo`, which prints them above
the bar; stdout that is not a terminal is written as ever, so data (CSV, JSON) never
passes through the bar's console.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

import click

if TYPE_CHECKING:
    import rich.progress


class Bar:
    """No bar: stderr is not a terminal. Lines go where they always went."""

    def advance(self, done: int, total: int | None = None) -> None:
        """`done` of `total` steps (None: the total stays as it is)."""

    def echo(self, text: str, *, err: bool = False) -> None:
        click.echo(text, err=err)


class _RichBar(Bar):
    def __init__(
        self, bar: rich.progress.Progress, description: str, total: int | None, stdout_tty: bool
    ) -> None:
        self._bar, self._total, self._stdout_tty = bar, total, stdout_tty
        self._task = bar.add_task(description, total=total, count="")

    def advance(self, done: int, total: int | None = None) -> None:
        self._total = self._total if total is None else total
        count = str(done) if self._total is None else f"{done}/{self._total}"
        self._bar.update(self._task, completed=done, total=self._total, count=count)

    def echo(self, text: str, *, err: bool = False) -> None:
        if err or self._stdout_tty:
            # On the terminal the bar is drawn on: printed above it, exactly as given.
            self._bar.console.print(
                text, markup=False, highlight=False, emoji=False, soft_wrap=True
            )
        else:
            click.echo(text)


@contextmanager
def progress(
    description: str,
    total: int | None = None,
    *,
    show: bool = True,
    stream: TextIO | None = None,
) -> Iterator[Bar]:
    """A bar on `stream` (default: stderr) while the block runs, if it is a terminal and
    `show` (False where the command streams its output to that terminal as it goes).

    Without `total` the bar pulses, beside the time taken; rich is imported only when
    the bar is shown, so start-up stays fast everywhere else.
    """
    stream = stream or sys.stderr
    if not (show and stream.isatty()):
        yield Bar()
        return
    import logging

    from rich.console import Console
    from rich.file_proxy import FileProxy
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(file=stream)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TimeElapsedColumn(),
    )
    # Log records go to the same terminal: through the bar's console, above the bar.
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and h.stream is stream
    ]
    with Progress(
        *columns, console=console, transient=True, redirect_stdout=False, redirect_stderr=False
    ) as bar:
        for handler in handlers:
            handler.setStream(FileProxy(console, stream))
        try:
            yield _RichBar(bar, description, total, sys.stdout.isatty())
        finally:
            for handler in handlers:
                handler.setStream(stream)
