"""The `pgwarden` command line. Thin: parse arguments, load config, call the pipeline.

Heavy libraries are imported inside the commands that use them, so `pgwarden --help`
starts fast. A `PgwardenError` becomes its message on stderr, one line per problem, and
exit code 2; never a traceback.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from monitor.errors import LogInputError, PgwardenError, Terminated
from monitor.launch import DAEMON_SIGNALS

if TYPE_CHECKING:
    from datetime import datetime

    from monitor.config import Config
    from monitor.parsing.pglog import LogParser
    from monitor.sources.cloudtrail import TrailEngine, TrailWindow
    from monitor.sources.trail_local import TrailResult
    from monitor.store.sqlite import Store


F = TypeVar("F", bound=Callable[..., Any])


class PgwardenGroup(click.Group):
    """Maps user errors to exit code 2 with one line per problem, Ctrl-C to 130 and
    SIGTERM to 143."""

    def invoke(self, ctx: click.Context) -> Any:
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


# `findings show` prints a value up to this many characters, then says how many more.
SHOW_LIMIT = 2000
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

    # Blocked since the first statement (monitor/launch.py): `run`'s daemon takes them in
    # its signal thread; any other command gets them back, a pending one at once.
    how = signal.SIG_BLOCK if ctx.invoked_subcommand == "run" else signal.SIG_UNBLOCK
    signal.pthread_sigmask(how, DAEMON_SIGNALS)
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


def _print_table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    from monitor.outputs.formats import write_table

    # No cutting: the error column is the reason a person needs in full.
    rows_ = (dict(zip(columns, row, strict=True)) for row in rows)
    write_table(rows_, columns, sys.stdout, width=10_000)


@main.command(
    epilog=_example("pgwarden once --only activity\npgwarden once --only activity --only pglogs")
)
@click.option("--only", "stages", multiple=True, help="Run only these stages (repeatable).")
@config_option
@pass_obj
def once(obj: Obj, stages: tuple[str, ...]) -> None:
    """Run every stage once, in order, and print a summary (for cron and systemd timers).

    Exits 1 when a stage reports a failure (e.g. a target is down), 2 on a user error.
    """
    from monitor.stages import run_once

    reports = run_once(obj.config(), stages)
    for report in reports:
        click.echo(f"== {report.stage}")
        if report.rows:
            _print_table(report.columns, report.rows)
        else:
            click.echo("(nothing to do)")
    if any(r.failures for r in reports):
        sys.exit(1)


@main.command(epilog=_example("pgwarden targets\npgwarden targets --no-discover"))
@click.option(
    "--discover/--no-discover",
    default=True,
    show_default=True,
    help="Also list what discovery finds now in accounts with discover = true.",
)
@config_option
@pass_obj
def targets(obj: Obj, discover: bool) -> None:
    """List the configured and discovered targets, and how each one's logs are read.

    The logs column names the [pglogs] sources reading the target's logs, `via NAME` when
    they are read with its cluster's target, and `none` when nothing reads them (every
    stage run then reports the target as a failure).
    """
    from monitor.aws import AwsSessions
    from monitor.sources.targets import collect_targets

    config = obj.config()
    found = collect_targets(config, AwsSessions.from_config(config), discover=discover)
    columns = (
        "target", "source", "account", "region", "type", "endpoint", "db_user", "resource",
        "logs",
    )  # fmt: skip
    rows: list[tuple[str, ...]] = [
        (
            t.name,
            "discovered" if t.discovered else "config",
            t.account_name,
            t.region,
            t.endpoint_type,
            f"{t.endpoint}:{t.port}",
            t.db_user,
            t.resource_id or "-",
            ", ".join(t.log_sources) or (f"via {t.logs_via}" if t.logs_via else "none"),
        )
        for t in found
    ]
    if rows:
        _print_table(columns, rows)
    else:
        click.echo("no targets configured or discovered")


@main.command(
    epilog=_example(
        """
pgwarden --log-format json run --config /etc/pgwarden/pgwarden.toml
systemctl reload pgwarden    # SIGHUP: re-read the config"""
    )
)
@config_option
@pass_obj
def run(obj: Obj) -> None:
    """Run the scheduler daemon: every stage on its own interval until SIGTERM.

    SIGHUP re-reads the config; an invalid file is rejected and the running config stays.
    SIGTERM or SIGINT stop it within 10 s, after the transaction in flight, with exit 0.
    """
    import logging

    from monitor.config import find_config
    from monitor.scheduler import Daemon

    config = obj.config()
    abandoned = Daemon(find_config(obj.config_path), config).run()
    if abandoned:
        # A job overran the stop deadline; its thread would keep the process alive.
        logging.shutdown()
        os._exit(0)


@main.command(
    "iam-policy",
    epilog=_example(
        """
pgwarden iam-policy --config /etc/pgwarden/pgwarden.toml --out deploy/
pgwarden iam-policy | jq '."monitor-policy"'"""
    ),
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write iam-<document>.json files into this directory instead of printing them.",
)
@config_option
@pass_obj
def iam_policy(obj: Obj, out: Path | None) -> None:
    """Print the least-privilege IAM policies this config needs, as one JSON object.

    management-policy: pgwarden's own role (AssumeRole into the monitor roles, secrets,
    Athena/Glue/S3 for the trail). monitor-policy: the monitor role in every database
    account. monitor-trust-policy: who may assume that role, with an ExternalId to fill in.
    """
    from monitor.outputs.policies import documents, render

    docs = documents(obj.config())
    if out is None:
        click.echo(render(docs), nl=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, document in docs.items():
        path = out / f"iam-{name}.json"
        path.write_text(render(document), encoding="utf-8")
        click.echo(f"wrote {path}")


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
            _report_parse(name, parser, READS)
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


def _report_parse(name: str, parser: LogParser, reads: str) -> None:
    """What a file gave that is not events, on stderr: unreadable, unparsed, suspicious."""
    stats = parser.stats
    if parser.unknown:
        click.echo(f"{name}: looks like {parser.unknown}; pgwarden reads {reads}", err=True)
    elif stats.lines and not stats.entries:
        click.echo(f"{name}: no entry could be read ({stats.lines} lines)", err=True)
    if stats.unparsed and not parser.unknown:
        click.echo(f"{name}: {stats.unparsed} unparsed lines; first:", err=True)
        for sample in stats.samples:
            click.echo(f"  {sample!r}", err=True)
    if stats.suspicious:
        click.echo(
            f"{name}: {stats.suspicious} suspicious entries refused as evidence"
            " (possible log injection; see the suspicious_entry records)",
            err=True,
        )


@main.group(epilog=_example("pgwarden trail assume-role --since 2026-11-01"))
def trail() -> None:
    """CloudTrail role assumptions and access changes, through Athena or local files."""


@trail.command(
    "ddl",
    epilog=_example(
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
    epilog=_example(
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
    from monitor.parsing.cloudtrail import ASSUME_ROLE_COLUMNS
    from monitor.sources.cloudtrail import (
        assume_role_events,
        check_role_arns,
        role_account,
        watched_roles,
    )

    config = _trail_config(obj, local_dir)
    roles: list[str] | None
    if all_roles:
        roles = None
    elif role_arns:
        roles = check_role_arns(role_arns)
    elif config is not None:
        roles = watched_roles(config)
    else:
        roles = None
    accounts = None if roles is None else sorted({role_account(r) or "" for r in roles} - {""})
    _trail_listing(
        config, since, until, accounts, regions, local_dir, fmt, ASSUME_ROLE_COLUMNS,
        lambda engine, window: assume_role_events(engine, window, roles),
    )  # fmt: skip


@trail.command(
    "access-changes",
    epilog=_example(
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
    from monitor.parsing.cloudtrail import ACCESS_CHANGE_COLUMNS
    from monitor.sources.cloudtrail import access_change_events, check_role_arns, watched_roles

    config = _trail_config(obj, local_dir)
    if role_arns:
        roles = check_role_arns(role_arns)
    else:
        roles = watched_roles(config) if config is not None else []
    accounts = sorted({a.id for a in config.accounts}) if config is not None else []
    _trail_listing(
        config, since, until, accounts, regions, local_dir, fmt, ACCESS_CHANGE_COLUMNS,
        lambda engine, window: access_change_events(engine, window, roles),
    )  # fmt: skip


def _trail_config(obj: Obj, local_dir: Path | None) -> Config | None:
    """`--local` works without a config file; otherwise the config is required."""
    return None if local_dir is not None and not _has_config(obj) else obj.config()


def _trail_listing(
    config: Config | None,
    since: str,
    until: str | None,
    accounts: list[str] | None,
    regions: tuple[str, ...],
    local_dir: Path | None,
    fmt: str,
    columns: Sequence[str],
    query: Callable[[TrailEngine, TrailWindow], tuple[Sequence[Any], TrailResult]],
) -> None:
    """Run one trail query over the window and print its events; name unreadable files."""
    from monitor.clock import SystemClock
    from monitor.outputs.formats import write
    from monitor.sources.cloudtrail import make_window, parse_moment

    start = parse_moment(since, "--since")
    end = parse_moment(until, "--until") if until else SystemClock().now()
    window = make_window(start, end, accounts or None, list(regions) or None)
    engine = _trail_engine(config, local_dir)
    try:
        events, result = query(engine, window)
    finally:
        engine.close()
    write(fmt, (e.as_dict() for e in events), [*columns, "hidden"], sys.stdout)
    for bad in result.bad_files:
        click.echo(f"skipped unreadable trail file {bad.path}: {bad.reason}", err=True)
    for path, count in result.bad_records.items():
        click.echo(f"skipped {count} records without eventID or eventTime in {path}", err=True)


def _trail_engine(config: Config | None, local_dir: Path | None) -> TrailEngine:
    from monitor.stages.grants import trail_engine

    if config is None:  # --local without a config file
        from monitor.config import CloudTrailConfig
        from monitor.sources.cloudtrail import open_engine

        return open_engine(CloudTrailConfig(), local_dir=local_dir)
    return trail_engine(config, local_dir)


def _has_config(obj: Obj) -> bool:
    import os

    from monitor.config import CONFIG_ENV, DEFAULT_CONFIG

    return bool(obj.config_path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG.is_file())


@main.command(
    epilog=_example(
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


_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="A table for people; a JSON array or CSV for programs.",
)


def _open_store(obj: Obj, *, writer: bool = False) -> Store:
    from monitor.store.sqlite import Store

    config = obj.config()
    return Store.open(
        config.store.path,
        writer=writer,
        exclusive=False,
        busy_timeout_ms=config.store.busy_timeout_ms,
    )


@main.group(epilog=_example("pgwarden findings list --status open"))
def findings() -> None:
    """List, show, acknowledge and suppress findings."""


@findings.command(
    "list", epilog=_example("pgwarden findings list --status open --format csv > open.csv")
)
@click.option(
    "--status",
    type=click.Choice(["open", "acknowledged", "suppressed", "resolved", "all"]),
    default="open",
    show_default=True,
)
@click.option("--detector", help="Only this detector's findings.")
@_FORMAT
@config_option
@pass_obj
def findings_list(obj: Obj, status: str, detector: str | None, fmt: str) -> None:
    """List findings, worst and newest first."""
    from monitor.judge.findings import FINDING_COLUMNS, list_findings
    from monitor.outputs.formats import write

    with _open_store(obj) as store:
        rows = list_findings(store, None if status == "all" else status, detector)
    write(fmt, rows, FINDING_COLUMNS, sys.stdout)


@findings.command("show", epilog=_example("pgwarden findings show failure-burst:3f2a9c1d0e4b5a67"))
@click.argument("fingerprint")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@config_option
@pass_obj
def findings_show(obj: Obj, fingerprint: str, fmt: str) -> None:
    """Show one finding: why, the evidence, the linked principals and what to do."""
    import json

    from monitor.judge.findings import get_finding
    from monitor.outputs.formats import inert

    with _open_store(obj) as store:
        lifecycle, finding = get_finding(store, fingerprint)
    if fmt == "json":
        click.echo(json.dumps({**lifecycle, "finding": finding.to_json()}, default=str, indent=2))
        return

    # Every value here may hold what a client chose: shown with control characters escaped.
    def show(value: object) -> str:
        return inert(value, "terminal", limit=SHOW_LIMIT)

    for key, value in lifecycle.items():
        click.echo(f"{key:12} {show(value)}")
    for label, value in (
        ("account", finding.account),
        ("target", finding.target),
        ("db user", finding.db_user),
    ):
        if value:
            click.echo(f"{label:12} {show(value)}")
    click.echo(f"\nwhy: {show(finding.why)}\n\nevidence:")
    for e in finding.evidence:
        host = f" from {show(e.host)}" if e.host else ""
        click.echo(f"  {e.time.isoformat()}  {show(e.what)}{host}  x{e.count}")
    if finding.principals:
        click.echo("\nprobably behind it (a guess, not a fact):")
        for p in finding.principals:
            click.echo(f"  {show(p.arn)}  [{p.confidence}] {show(p.why)}")
    click.echo(f"\nwhat to do:\n  {show(finding.remedy)}")


@findings.command(
    "suppress",
    epilog=_example(
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

    with _open_store(obj, writer=True) as store:
        suppress(store, fingerprint, until.replace(tzinfo=UTC), reason, SystemClock().now())
    click.echo(f"{fingerprint}: suppressed until {until.date()}")


@findings.command("ack", epilog=_example("pgwarden findings ack failure-burst:3f2a9c1d0e4b5a67"))
@click.argument("fingerprint")
@config_option
@pass_obj
def findings_ack(obj: Obj, fingerprint: str) -> None:
    """Acknowledge a finding: it stays open, without repeat alerts."""
    from monitor.judge.findings import acknowledge

    with _open_store(obj, writer=True) as store:
        acknowledge(store, fingerprint)
    click.echo(f"{fingerprint}: acknowledged")


@main.group(epilog=_example("pgwarden alerts test\npgwarden alerts deliver --dry-run"))
def alerts() -> None:
    """Deliver and test Slack alerts."""


@alerts.command(
    "deliver", epilog=_example("pgwarden alerts deliver\npgwarden alerts deliver --dry-run")
)
@click.option("--dry-run", is_flag=True, help="Print the exact Slack payloads; send nothing.")
@config_option
@pass_obj
def alerts_deliver(obj: Obj, dry_run: bool) -> None:
    """Send the alerts waiting in the outbox, oldest first (what the daemon does every 15 s)."""
    from monitor.aws import AwsSessions
    from monitor.clock import SystemClock
    from monitor.outputs.alerts.budget import Limits
    from monitor.outputs.alerts.outbox import deliver, preview
    from monitor.outputs.alerts.sinks import SINKS, make_sink

    config = obj.config()
    slack = config.alerts.slack
    limits = Limits.of(slack)
    now = SystemClock().now()
    if dry_run:
        console = SINKS["console"].make(slack, AwsSessions.from_config(config).resolve_secret)
        with _open_store(obj) as store:
            count = preview(store, console, now, limits)
        click.echo(f"{count} messages would be sent; nothing was marked sent", err=True)
        return
    if not slack.enabled:
        raise PgwardenError("alerts.slack.enabled is false: enable it, or use --dry-run")
    sink = make_sink(slack, AwsSessions.from_config(config).resolve_secret)
    with _open_store(obj, writer=True) as store:
        summary = deliver(store, sink, now, limits)
    if summary.busy:
        click.echo(
            "another pgwarden process is delivering the outbox: this run sent nothing "
            f"(waiting {summary.pending})"
        )
        return
    click.echo(
        f"sent {summary.sent}, in digests {summary.digested}, waiting {summary.pending}"
        + (f" ({summary.parked} for parked channels)" if summary.parked else "")
        + (f", found already in Slack {summary.found}" if summary.found else "")
        + (f"; {summary.error}" if summary.error else "")
    )
    if summary.error:
        sys.exit(1)


@alerts.command(
    "retry-parked",
    epilog=_example("pgwarden alerts retry-parked\npgwarden alerts retry-parked --channel '#sec'"),
)
@click.option(
    "--channel", "channels", multiple=True, help="Only this channel (repeatable). Default: all."
)
@config_option
@pass_obj
def alerts_retry_parked(obj: Obj, channels: tuple[str, ...]) -> None:
    """Resume channels parked after a permanent Slack error, once the channel is fixed.

    Their alerts waited in the outbox and go out, in order, at the next delivery. A channel
    still broken is parked again and alerted once more.
    """
    from monitor.outputs.alerts.parking import resume

    with _open_store(obj, writer=True) as store:
        resumed = resume(store, channels)
    missing = sorted(set(channels) - set(resumed))
    for channel in resumed:
        click.echo(f"{channel}: resumed")
    if missing:
        raise PgwardenError(f"not parked: {', '.join(missing)}; see pgwarden doctor")
    if not resumed:
        click.echo("no channel is parked")


@alerts.command(
    "test", epilog=_example("pgwarden alerts test --config /etc/pgwarden/pgwarden.toml")
)
@config_option
@pass_obj
def alerts_test(obj: Obj) -> None:
    """Send a test message to every configured channel and report each result."""
    from monitor.aws import AwsSessions
    from monitor.outputs.alerts.render import render_test
    from monitor.outputs.alerts.sinks import make_sink
    from monitor.outputs.alerts.slack import configured_channels

    config = obj.config()
    slack = config.alerts.slack
    if not slack.enabled:
        raise PgwardenError("alerts.slack.enabled is false: enable it to test delivery")
    sink = make_sink(slack, AwsSessions.from_config(config).resolve_secret)
    failed = 0
    for severity, channel in configured_channels(slack):
        try:
            sink.send(render_test(severity, channel), 0, None)
        except PgwardenError as exc:
            failed += 1
            click.echo(f"✖ {channel}: {exc}")
        else:
            click.echo(f"✔ {channel}: delivered")
    if failed:
        sys.exit(1)


@main.command(
    epilog=_example(
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


@main.group(epilog=_example("pgwarden report access-review --week 2026-W47"))
def report() -> None:
    """Reports for reviewers."""


@report.command(
    "access-review",
    epilog=_example(
        """
pgwarden report access-review
pgwarden report access-review --week 2026-W47 --out ./reports
pgwarden report access-review --since 2026-10-01 --until 2026-11-01 --format csv"""
    ),
)
@click.option("--week", help="ISO week (YYYY-Www). Default: the last complete week.")
@click.option("--since", help="First day (YYYY-MM-DD), with --until instead of --week.")
@click.option("--until", help="The day after the last (YYYY-MM-DD): not included.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory for the files. Default: [reports].dir.",
)
@click.option("--format", "formats", help="Comma-separated: csv,html. Default: [reports].formats.")
@config_option
@pass_obj
def report_access_review(
    obj: Obj,
    week: str | None,
    since: str | None,
    until: str | None,
    out: Path | None,
    formats: str | None,
) -> None:
    """Write the access review: users and principals CSVs, an HTML page, a revocation plan.

    Days are in [reports].timezone. Files are named access-review-<week>-*, or
    access-review-<since>_<until>-* for a --since/--until period; with [reports].s3_uri
    they are uploaded to S3, encrypted.
    """
    from monitor.clock import SystemClock
    from monitor.outputs.reports.access_review import parse_formats, stage_report, write_report
    from monitor.outputs.reports.period import choose
    from monitor.stages.base import StageContext

    config = obj.config()
    clock = SystemClock()
    period = choose(week, since, until, clock.now(), config.reports.timezone)
    wanted = parse_formats(formats) if formats is not None else None
    with _open_store(obj) as store:
        files = write_report(StageContext(config, store, clock), period, out, wanted)
    summary = stage_report(files)
    _print_table(summary.columns, summary.rows)


@report.command(
    "apply-decisions",
    epilog=_example("pgwarden report apply-decisions access-review-2026-W47-users.csv"),
)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@config_option
@pass_obj
def report_apply_decisions(obj: Obj, file: Path) -> None:
    """Apply what reviewers wrote in the reviewer, decision and notes columns.

    keep mutes the subject's unused findings for [reports].keep_days; revoke is
    remembered and flagged if the access is still there after a week. Every row is
    checked first: bad rows are listed by line number and skipped, and the command exits 1.
    """
    from monitor.clock import SystemClock
    from monitor.outputs.reports.decisions import apply

    config = obj.config()
    with _open_store(obj, writer=True) as store:
        outcome = apply(store, file, config.reports.keep_days, SystemClock().now())
    for problem in outcome.problems:
        click.echo(f"{file.name}: {problem}", err=True)
    counts = {d: sum(x.decision == d for x in outcome.decisions) for d in ("keep", "revoke")}
    click.echo(
        f"applied {len(outcome.decisions)} decisions (keep {counts['keep']}, revoke "
        f"{counts['revoke']}; {outcome.muted} findings muted), {outcome.blank} rows without "
        f"a decision, {len(outcome.problems)} bad rows skipped"
    )
    if outcome.problems:
        sys.exit(1)


@main.command(epilog=_example("pgwarden demo --out ./demo-output\npgwarden demo --keep --no-pam"))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("demo-output"),
    show_default=True,
    help="Where the reports, findings and Slack payloads go.",
)
@click.option("--keep", is_flag=True, help="Keep the sandbox's work directory (config, store).")
@click.option(
    "--pam/--no-pam",
    default=True,
    show_default=True,
    help="Check IAM tokens through PAM (needs root and libpam-python; writes /etc/pam.d).",
)
def demo(out: Path, keep: bool, pam: bool) -> None:
    """Run the whole pipeline on an embedded sandbox (moto + local PostgreSQL).

    No AWS account is used: moto stands in for AWS on 127.0.0.1, and a local PostgreSQL for
    each Aurora cluster. Processes and temporary files are cleaned up on exit and on Ctrl-C.
    """
    import logging

    from monitor.demo import print_result, run_demo

    root = click.get_current_context().find_root()
    if root.get_parameter_source("log_level") is click.core.ParameterSource.DEFAULT:
        # The demo narrates its own steps; the stages' INFO lines would drown them.
        logging.getLogger("monitor").setLevel(logging.WARNING)
    print_result(run_demo(out, keep=keep, pam=pam, echo=click.echo), click.echo)


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
