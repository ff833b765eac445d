"""`pgwarden doctor`: every prerequisite checked, with the exact fix for each."""

from __future__ import annotations

import sys

import click

from monitor.cli.common import Obj, config_option, example, pass_obj


@click.command(
    epilog=example(
        """
pgwarden doctor
pgwarden doctor --target orders-writer --target orders-reader
pgwarden doctor --format json | jq '.[] | select(.status != "ok")'"""
    ),
)
@click.option(
    "--target",
    "target_names",
    multiple=True,
    help="Check only these targets and their accounts (repeatable). Default: every target.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@config_option
@pass_obj
def doctor(obj: Obj, target_names: tuple[str, ...], fmt: str) -> None:
    """Check every prerequisite and print what is missing, with the exact fix for each.

    Accounts (role, ExternalId), each target through the RDS API (IAM auth, log exports,
    parameters, RDS Proxy) and through the database (login, grants, log_line_prefix),
    CloudTrail, the log sources, Slack and the store. Exits 1 when a check fails (✖);
    warnings (⚠) alone exit 0.
    """
    import shutil

    from monitor.doctor.checks import COLUMNS, diagnose
    from monitor.doctor.render import render_table
    from monitor.outputs.formats import write_json

    results = diagnose(obj.config(), target_names)
    if fmt == "json":
        write_json((r.as_dict() for r in results), COLUMNS, sys.stdout)
    else:
        width = shutil.get_terminal_size((100, 24)).columns
        click.echo("\n".join(render_table(results, width)))
    if any(r.status == "fail" for r in results):
        sys.exit(1)


COMMANDS = (doctor,)
