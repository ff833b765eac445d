"""The `pgwarden` command line. Thin: parse arguments, load config, call one library
function, render what it returns. One module per command group.

Heavy libraries are imported inside the commands that use them, so `pgwarden --help`
starts fast. A `PgwardenError` becomes its message on stderr, one line per problem, and
exit code 2; never a traceback.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.alerts import COMMANDS as ALERTS
from monitor.cli.common import CONFIG_HELP, Obj, example
from monitor.cli.demo import COMMANDS as DEMO
from monitor.cli.doctor import COMMANDS as DOCTOR
from monitor.cli.findings import COMMANDS as FINDINGS
from monitor.cli.grants import COMMANDS as GRANTS
from monitor.cli.logs import COMMANDS as LOGS
from monitor.cli.report import COMMANDS as REPORT
from monitor.cli.run import COMMANDS as RUN
from monitor.cli.trail import COMMANDS as TRAIL
from monitor.errors import PgwardenError, Terminated
from monitor.launch import DAEMON_SIGNALS

if TYPE_CHECKING:
    from monitor.logs import LogFormat


class PgwardenGroup(click.Group):
    """Maps user errors to exit code 2 with one line per problem, Ctrl-C to 130 and
    SIGTERM to 143."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except PgwardenError as exc:
            for line in str(exc).splitlines() or [type(exc).__name__]:
                click.echo(line, err=True)
            ctx.exit(2)
        except Terminated:
            click.echo("terminated", err=True)
            ctx.exit(143)
        except KeyboardInterrupt:
            # Ctrl-C: the shell's 128 + SIGINT, rather than click's "Aborted!" and 1.
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(
    cls=PgwardenGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=example("pgwarden --config /etc/pgwarden/pgwarden.toml validate"),
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=CONFIG_HELP,
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "text"]),
    default="auto",
    show_default=True,
    help="JSON lines, readable text, or auto: text on a terminal, JSON otherwise.",
)
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING...")
@click.version_option(package_name="pgwarden")
@click.pass_context
def main(
    ctx: click.Context, config_path: Path | None, log_format: LogFormat, log_level: str
) -> None:
    """pgwarden: who really gets into your Aurora / RDS PostgreSQL databases through IAM."""
    from monitor.logs import configure

    # Blocked since the first statement (monitor/launch.py): `run`'s daemon takes them in
    # its signal thread; any other command gets them back, a pending one at once.
    how = signal.SIG_BLOCK if ctx.invoked_subcommand == "run" else signal.SIG_UNBLOCK
    signal.pthread_sigmask(how, DAEMON_SIGNALS)
    configure(log_format, log_level)
    ctx.obj = Obj(config_path)


for command in (*RUN, *LOGS, *TRAIL, *GRANTS, *FINDINGS, *ALERTS, *DOCTOR, *REPORT, *DEMO):
    main.add_command(command)


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def entry() -> None:
    # SIGTERM's default kills the process on the spot, so nothing would clean up after it.
    # (`pgwarden run` blocks the signal and takes it in its own thread; see scheduler.py.)
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        main(prog_name="pgwarden")
    except Terminated:
        sys.exit(143)
    except KeyboardInterrupt:
        sys.exit(130)
