"""`pgwarden trail ...`: the Athena DDL, AssumeRole history and access changes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import click

from monitor.cli.common import Obj, config_option, example, pass_obj
from monitor.cli.progress import progress

if TYPE_CHECKING:
    from monitor.sources.trail_local import TrailResult

F = TypeVar("F", bound=Callable[..., object])


class _Event(Protocol):
    def as_dict(self) -> Mapping[str, object]: ...


@click.group(epilog=example("pgwarden trail assume-role --since 2026-11-01"))
def trail() -> None:
    """CloudTrail role assumptions and access changes, through Athena or local files."""


@trail.command(
    "ddl",
    epilog=example(
        """
pgwarden trail ddl > cloudtrail.sql
pgwarden trail ddl --start 2024-01-01 > cloudtrail.sql"""
    ),
)
@click.option(
    "--start",
    default="2020-01-01",
    show_default=True,
    help="First day the table projects (the trail's first day).",
)
@config_option
@pass_obj
def trail_ddl(obj: Obj, start: str) -> None:
    """Print the Athena table DDL for the organisation trail (partition projection).

    Uses [cloudtrail] bucket, prefix, org_id, athena_database and athena_table, and projects
    the account partition over the configured accounts and management accounts.
    """
    from monitor.sources.cloudtrail import ddl, parse_moment

    click.echo(ddl(obj.config(), parse_moment(start, "--start").date()), nl=False)


_TRAIL_FORMATS = click.Choice(["table", "jsonl", "csv"])
_TRAIL_WINDOW = (
    click.option(
        "--since", required=True, help="Start of the window (inclusive): a date or UTC time."
    ),
    click.option("--until", help="End of the window (exclusive). Default: now."),
    click.option(
        "--region", "regions", multiple=True, help="Read only these regions (repeatable)."
    ),
    click.option(
        "--local",
        "local_dir",
        type=click.Path(path_type=Path),
        help="Read a local copy of the trail (AWSLogs/...), or a file or folder of exported "
        "events (JSON, JSON array, JSON Lines; gzipped or not), with DuckDB; no config needed.",
    ),
    click.option("--format", "fmt", type=_TRAIL_FORMATS, default="table", show_default=True),
)


def _trail_window(command: F) -> F:
    """The options every `trail` listing takes: the window, regions, a local copy, format."""
    for option in reversed(_TRAIL_WINDOW):
        command = option(command)
    return command


@trail.command(
    "assume-role",
    epilog=example(
        """
pgwarden trail assume-role --since 2026-11-01
pgwarden trail assume-role --local ./trail-copy --since 2026-11-01 --until 2026-11-02 --format csv
pgwarden trail assume-role --since 2026-11-01T08:00Z \\
    --role-arn arn:aws:iam::222222222222:role/pg-monitor-role"""
    ),
)
@_trail_window
@click.option(
    "--role-arn",
    "role_arns",
    multiple=True,
    help="Role to report (repeatable). Default: the watched roles of the config.",
)
@click.option("--all-roles", is_flag=True, help="Report assumptions of every role.")
@config_option
@pass_obj
def trail_assume_role(
    obj: Obj,
    since: str,
    until: str | None,
    role_arns: tuple[str, ...],
    all_roles: bool,
    regions: tuple[str, ...],
    local_dir: Path | None,
    fmt: str,
) -> None:
    """List AssumeRole, AssumeRoleWithWebIdentity and AssumeRoleWithSAML into the watched roles.

    Unreadable trail files (bad gzip, bad JSON, not UTF-8) and records without eventID or
    eventTime are named on stderr and skipped; the rest of the window is read.
    """
    from monitor.clock import SystemClock
    from monitor.parsing.cloudtrail import ASSUME_ROLE_COLUMNS
    from monitor.sources.trail_query import TrailRequest, assume_roles

    request = TrailRequest(since, until, regions, local_dir)
    config = obj.config_if_any() if local_dir is not None else obj.config()
    with progress("reading the trail") as bar:
        events, result = assume_roles(
            config, request, role_arns, all_roles=all_roles, now=SystemClock().now(),
            progress=bar.advance,
        )  # fmt: skip
    _print_events(events, result, ASSUME_ROLE_COLUMNS, fmt)


@trail.command(
    "access-changes",
    epilog=example(
        """
pgwarden trail access-changes --since 2026-11-01
pgwarden trail access-changes --local ./trail-copy --since 2026-11-01 --format csv"""
    ),
)
@_trail_window
@click.option(
    "--role-arn",
    "role_arns",
    multiple=True,
    help="Role whose policy changes to report (repeatable). Default: the watched roles.",
)
@config_option
@pass_obj
def trail_access_changes(
    obj: Obj,
    since: str,
    until: str | None,
    role_arns: tuple[str, ...],
    regions: tuple[str, ...],
    local_dir: Path | None,
    fmt: str,
) -> None:
    """List changes that open a way in or blind the monitor: IAM database auth toggled, log
    exports or logging parameters changed, master password set, RDS Proxy created, changed or
    deleted, RDS Protection or activity streams stopped, and policy or trust changes on the
    watched roles or mentioning rds-db: (the access-change detector raises them)."""
    from monitor.clock import SystemClock
    from monitor.parsing.cloudtrail import ACCESS_CHANGE_COLUMNS
    from monitor.sources.trail_query import TrailRequest, access_changes

    request = TrailRequest(since, until, regions, local_dir)
    config = obj.config_if_any() if local_dir is not None else obj.config()
    with progress("reading the trail") as bar:
        events, result = access_changes(
            config, request, role_arns, now=SystemClock().now(), progress=bar.advance
        )
    _print_events(events, result, ACCESS_CHANGE_COLUMNS, fmt)


def _print_events(
    events: Sequence[_Event], result: TrailResult, columns: Sequence[str], fmt: str
) -> None:
    """The events on stdout; the files and records skipped named on stderr."""
    from monitor.outputs.formats import write

    write(fmt, (e.as_dict() for e in events), [*columns, "hidden"], sys.stdout)
    for bad in result.bad_files:
        click.echo(f"skipped unreadable trail file {bad.path}: {bad.reason}", err=True)
    for path, count in result.bad_records.items():
        click.echo(f"skipped {count} records without eventID or eventTime in {path}", err=True)


COMMANDS = (trail,)
