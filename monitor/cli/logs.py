"""`pgwarden parse-logs`: PostgreSQL log files to auth events, with no config and no AWS.

Start-up is part of every benchmark of this command: nothing heavy is imported here.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from monitor.cli.common import example
from monitor.cli.progress import Bar, progress
from monitor.errors import LogInputError, PgwardenError

if TYPE_CHECKING:
    from monitor.parsing.pglog import LogParser


@click.command(
    "parse-logs",
    epilog=example(
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
    Lines that cannot be read are counted; the first few are shown on stderr. Entries a
    client could have forged are refused as evidence: they come out as `suspicious_entry`
    records (raw line escaped). Exit 1 when nothing in the input could be read.
    """
    import json

    from monitor.parsing.pglog import READS, LogParser, Summary, parse_stream
    from monitor.parsing.pglog_prefix import PrefixError
    from monitor.parsing.pglog_stats import ParseStats
    from monitor.sources.logfiles import log_paths, open_log

    totals = Summary()
    all_stats: list[ParseStats] = []
    out = sys.stdout
    names = log_paths(files)
    # Events streamed to the terminal the bar would be drawn on: no bar.
    show = len(names) > 1 and (summary or not out.isatty())
    try:
        with progress("reading logs", len(names), show=show) as bar:
            for done, name in enumerate(names, 1):
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
                _report_parse(name, parser, READS, bar)
                bar.advance(done)
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
    if not any(s.entries for s in all_stats):
        click.echo("nothing in the input could be read as a PostgreSQL log", err=True)
        sys.exit(1)


def _report_parse(name: str, parser: LogParser, reads: str, bar: Bar) -> None:
    """What a file gave that is not events, on stderr: unreadable, unparsed, suspicious."""
    stats = parser.stats
    if parser.unknown:
        bar.echo(f"{name}: looks like {parser.unknown}; pgwarden reads {reads}", err=True)
    elif stats.lines and not stats.entries:
        bar.echo(f"{name}: no entry could be read ({stats.lines} lines)", err=True)
    if stats.unparsed and not parser.unknown:
        bar.echo(f"{name}: {stats.unparsed} unparsed lines; first:", err=True)
        for sample in stats.samples:
            bar.echo(f"  {sample!r}", err=True)
    if stats.suspicious:
        bar.echo(
            f"{name}: {stats.suspicious} suspicious entries refused as evidence"
            " (possible log injection; see the suspicious_entry records)",
            err=True,
        )


COMMANDS = (parse_logs,)
