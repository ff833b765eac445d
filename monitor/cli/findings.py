"""`pgwarden findings ...`: list, show, acknowledge and suppress findings."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from monitor.cli.common import Obj, config_option, example, open_store, pass_obj

if TYPE_CHECKING:
    from datetime import datetime


FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="A table for people; a JSON array or CSV for programs.",
)


@click.group(epilog=example("pgwarden findings list --status open"))
def findings() -> None:
    """List, show, acknowledge and suppress findings."""


@findings.command(
    "list", epilog=example("pgwarden findings list --status open --format csv > open.csv")
)
@click.option(
    "--status",
    type=click.Choice(["open", "acknowledged", "suppressed", "resolved", "all"]),
    default="open",
    show_default=True,
)
@click.option("--detector", help="Only this detector's findings.")
@FORMAT
@config_option
@pass_obj
def findings_list(obj: Obj, status: str, detector: str | None, fmt: str) -> None:
    """List findings, worst and newest first."""
    from monitor.outputs.formats import write
    from monitor.store.findings import FINDING_COLUMNS, list_findings

    with open_store(obj) as store:
        rows = list_findings(store, None if status == "all" else status, detector)
    write(fmt, rows, FINDING_COLUMNS, sys.stdout)


@findings.command("show", epilog=example("pgwarden findings show failure-burst:3f2a9c1d0e4b5a67"))
@click.argument("fingerprint")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@config_option
@pass_obj
def findings_show(obj: Obj, fingerprint: str, fmt: str) -> None:
    """Show one finding: why, the evidence, the linked principals and what to do."""
    from monitor.judge.findings import get_finding
    from monitor.outputs.finding_text import finding_json, finding_lines

    with open_store(obj) as store:
        lifecycle, finding = get_finding(store, fingerprint)
    if fmt == "json":
        click.echo(finding_json(lifecycle, finding))
    else:
        click.echo("\n".join(finding_lines(lifecycle, finding)))


@findings.command(
    "suppress",
    epilog=example(
        "pgwarden findings suppress new-source:3f2a9c1d0e4b5a67 --until 2026-12-31 "
        "--reason 'pentest'"
    ),
)
@click.argument("fingerprint")
@click.option("--until", "until", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--reason", required=True, help="Why: shown in audits of the suppression.")
@config_option
@pass_obj
def findings_suppress(obj: Obj, fingerprint: str, until: datetime, reason: str) -> None:
    """Mute a finding until a date; it lapses by itself afterwards."""
    from datetime import UTC

    from monitor.clock import SystemClock
    from monitor.judge.findings import suppress

    with open_store(obj, writer=True) as store:
        suppress(store, fingerprint, until.replace(tzinfo=UTC), reason, SystemClock().now())
    click.echo(f"{fingerprint}: suppressed until {until.date()}")


@findings.command("ack", epilog=example("pgwarden findings ack failure-burst:3f2a9c1d0e4b5a67"))
@click.argument("fingerprint")
@config_option
@pass_obj
def findings_ack(obj: Obj, fingerprint: str) -> None:
    """Acknowledge a finding: it stays open, without repeat alerts."""
    from monitor.judge.findings import acknowledge

    with open_store(obj, writer=True) as store:
        acknowledge(store, fingerprint)
    click.echo(f"{fingerprint}: acknowledged")


COMMANDS = (findings,)
