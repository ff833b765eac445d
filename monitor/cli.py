"""The `pgwarden` command line. Thin: parse arguments, load config, call the pipeline.

Heavy libraries are imported inside the commands that use them, so `pgwarden --help`
starts fast. A `PgwardenError` becomes its message on stderr, one line per problem, and
exit code 2; never a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor.errors import LogInputError, NotBuiltYet, PgwardenError

if TYPE_CHECKING:
    from monitor.config import Config


class PgwardenGroup(click.Group):
    """Maps user errors to exit code 2 with one line per problem."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PgwardenError as exc:
            for line in str(exc).splitlines() or [type(exc).__name__]:
                click.echo(line, err=True)
            ctx.exit(2)


class Obj:
    """What the group passes to its commands."""

    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    def config(self) -> Config:
        from monitor.config import find_config, load_config

        if self._config is None:
            self._config = load_config(find_config(self.config_path))
        return self._config


pass_obj = click.make_pass_decorator(Obj)


def _set_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.find_object(Obj).config_path = value  # type: ignore[union-attr]


_CONFIG_HELP = "Config file. Default: $PGWARDEN_CONFIG, then ./pgwarden.toml."
config_option = click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    expose_value=False,
    callback=_set_config,
    help=_CONFIG_HELP,
)


def _example(text: str) -> str:
    # \b stops click from re-wrapping the example lines.
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in text.strip().splitlines())


@click.group(
    cls=PgwardenGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=_example("pgwarden --config /etc/pgwarden/pgwarden.toml validate"),
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=_CONFIG_HELP,
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
def main(ctx: click.Context, config_path: Path | None, log_format: str, log_level: str) -> None:
    """pgwarden: who really gets into your Aurora / RDS PostgreSQL databases through IAM."""
    from monitor.logs import configure

    configure(log_format, log_level)  # type: ignore[arg-type]
    ctx.obj = Obj(config_path)


@main.command(epilog=_example("pgwarden validate --config config.example.toml"))
@config_option
@pass_obj
def validate(obj: Obj) -> None:
    """Check the config file and the store path; print every problem at once."""
    from monitor.store.sqlite import check_store_path

    config = obj.config()
    check_store_path(config.store.path)
    click.echo(
        f"config valid: {len(config.accounts)} accounts, {len(config.targets)} targets, "
        f"store {config.store.path}"
    )


def _not_built(command: str, issue: str) -> NotBuiltYet:
    return NotBuiltYet(f"pgwarden {command}: not built yet (coming with the {issue} work)")


@main.command(epilog=_example("pgwarden once --only activity --only pglogs"))
@click.option("--only", "stages", multiple=True, help="Run only these stages (repeatable).")
def once(stages: tuple[str, ...]) -> None:
    """Run every stage once, in order, and print a summary (for cron and systemd timers)."""
    raise _not_built("once", "scheduler")


@main.command(epilog=_example("pgwarden --log-format json run"))
def run() -> None:
    """Run the scheduler daemon: every stage on its own interval until SIGTERM."""
    raise _not_built("run", "scheduler")


@main.command(
    "parse-logs",
    epilog=_example(
        """
pgwarden parse-logs --summary postgresql.log.2026-11-23-03
pgwarden parse-logs /var/log/postgresql/ | jq 'select(.kind == "auth_failed")'
aws logs tail /aws/rds/cluster/prod/postgresql | pgwarden parse-logs -"""
    ),
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "stderr", "csvlog", "jsonlog", "iam-db-auth-error"]),
    default="auto",
    show_default=True,
    help="Log format; auto decides from the first lines of each file.",
)
@click.option(
    "--prefix",
    default="%t:%r:%u@%d:[%p]:",
    show_default=True,
    help="The server's log_line_prefix (stderr format).",
)
@click.option("--summary", is_flag=True, help="Print one JSON object of counts instead of events.")
@click.argument("files", nargs=-1, required=True)
def parse_logs(fmt: str, prefix: str, summary: bool, files: tuple[str, ...]) -> None:
    """Turn PostgreSQL log files into auth and connection events (JSON Lines).

    FILE may be a plain, .gz or .bz2 file, a directory (every file in it), or - for stdin.
    Lines that cannot be read are counted; the first few are shown on stderr.
    """
    import json

    from monitor.parsing.pglog import LogParser, Summary, parse_stream
    from monitor.parsing.pglog_prefix import PrefixError
    from monitor.parsing.pglog_stats import ParseStats
    from monitor.sources.logfiles import log_paths, open_log

    totals = Summary()
    all_stats: list[ParseStats] = []
    out = sys.stdout
    try:
        for name in log_paths(files):
            try:
                parser = LogParser(fmt, prefix, source="stdin" if name == "-" else name)
            except PrefixError as exc:
                raise LogInputError(f"--prefix: {exc}") from None
            with open_log(name) as stream:
                for event in parse_stream(stream, parser):
                    if summary:
                        totals.add((event,))
                    else:
                        out.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
            all_stats.append(parser.stats)
            if parser.stats.unparsed:
                click.echo(f"{name}: {parser.stats.unparsed} unparsed lines; first:", err=True)
                for sample in parser.stats.samples:
                    click.echo(f"  {sample!r}", err=True)
        if summary:
            out.write(json.dumps(totals.to_json(all_stats), ensure_ascii=False) + "\n")
        out.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly with SIGPIPE's status, as Unix
        # tools do, and keep Python from complaining about stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except OSError as exc:
        # Read errors arrive as LogInputError (LogStream), so this is stdout failing.
        raise PgwardenError(f"stdout: cannot write: {exc.strerror or exc}") from None


@main.group(epilog=_example("pgwarden trail assume-role --since 2026-11-01"))
def trail() -> None:
    """CloudTrail role assumptions, through Athena or local files."""


@trail.command("ddl", epilog=_example("pgwarden trail ddl > cloudtrail.sql"))
def trail_ddl() -> None:
    """Print the Athena table DDL for the organisation trail."""
    raise _not_built("trail ddl", "CloudTrail")


@trail.command("assume-role", epilog=_example("pgwarden trail assume-role --since 2026-11-01"))
@click.option("--since", required=True, help="Start of the window (inclusive), YYYY-MM-DD.")
def trail_assume_role(since: str) -> None:
    """List AssumeRole events into the watched roles."""
    raise _not_built("trail assume-role", "CloudTrail")


@main.group(epilog=_example("pgwarden findings list --status open"))
def findings() -> None:
    """List, show and suppress findings."""


@findings.command("list", epilog=_example("pgwarden findings list --status open"))
def findings_list() -> None:
    """List findings."""
    raise _not_built("findings list", "findings")


@main.group(epilog=_example("pgwarden report access-review --week 2026-W47"))
def report() -> None:
    """Reports for reviewers."""


@report.command("access-review", epilog=_example("pgwarden report access-review --week 2026-W47"))
def report_access_review() -> None:
    """Write the weekly access-review CSV and HTML."""
    raise _not_built("report access-review", "access review")


@main.command(epilog=_example("pgwarden demo --out ./demo-output"))
def demo() -> None:
    """Run the whole pipeline on an embedded sandbox (moto + local PostgreSQL)."""
    raise _not_built("demo", "demo")


def entry() -> None:
    try:
        main(prog_name="pgwarden")
    except KeyboardInterrupt:
        sys.exit(130)
