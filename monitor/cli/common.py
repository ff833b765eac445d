"""What the command modules share: the object the group passes down, `--config`, the store,
tables and `--help` examples."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store.sqlite import Store


class Obj:
    """What the group passes to its commands: the config, found and read once."""

    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        self._file: Path | None = None
        self._config: Config | None = None

    def config_file(self) -> Path:
        from monitor.config import find_config

        if self._file is None:
            self._file = find_config(self.config_path)
        return self._file

    def config(self) -> Config:
        from monitor.config import load_config

        if self._config is None:
            self._config = load_config(self.config_file())
        return self._config

    def config_if_any(self) -> Config | None:
        """The config when one is named or the default file exists, else None: for the
        commands that can do without one (`trail --local`)."""
        from monitor.config import DEFAULT_CONFIG, named_config

        if named_config(self.config_path) is None and not DEFAULT_CONFIG.is_file():
            return None
        return self.config()


pass_obj = click.make_pass_decorator(Obj)


def _set_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    obj = ctx.find_object(Obj)
    if value is not None and obj is not None:
        obj.config_path = value


CONFIG_HELP = "Config file. Default: $PGWARDEN_CONFIG, then ./pgwarden.toml."
config_option = click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    expose_value=False,
    callback=_set_config,
    help=CONFIG_HELP,
)


def example(text: str) -> str:
    # \b stops click from re-wrapping the example lines.
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in text.strip().splitlines())


def print_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    from monitor.outputs.formats import write_table

    # No cutting: the error column is the reason a person needs in full.
    rows_ = (dict(zip(columns, row, strict=True)) for row in rows)
    write_table(rows_, columns, sys.stdout, width=10_000)


def open_store(obj: Obj, *, writer: bool = False) -> Store:
    from monitor.store.sqlite import Store

    config = obj.config()
    return Store.open(
        config.store.path,
        writer=writer,
        exclusive=False,
        busy_timeout_ms=config.store.busy_timeout_ms,
    )
