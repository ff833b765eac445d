"""`pgwarden grants`: who may rds-db:connect as which database user."""

from __future__ import annotations

import sys

import click

from monitor.cli.common import Obj, config_option, example, pass_obj


@click.command(
    epilog=example(
        """
pgwarden grants --target orders-writer --db-user pgmonitor
pgwarden grants --format csv > grants.csv"""
    ),
)
@click.option("--target", help="Only grants on this target (a [[targets]] name).")
@click.option("--db-user", help="Only grants that let someone connect as this database user.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@config_option
@pass_obj
def grants(obj: Obj, target: str | None, db_user: str | None, fmt: str) -> None:
    """Who may rds-db:connect as which database user, and through which policy.

    Reads the grants inventory from the store (written by the iam stage of pgwarden once or
    pgwarden run). A grant for the pattern * or pgm* matches --db-user pgmonitor.
    """
    from monitor.outputs.formats import write
    from monitor.sources.iam import GRANT_COLUMNS, current_grants
    from monitor.store.sqlite import Store

    config = obj.config()
    with Store.open(config.store.path, writer=False) as store:
        rows = current_grants(store, target=target, db_user=db_user)
    write(fmt, rows, GRANT_COLUMNS, sys.stdout)


COMMANDS = (grants,)
