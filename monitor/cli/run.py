"""Running pgwarden: `validate`, `once`, `run`, `targets` and `iam-policy`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from monitor.cli.common import Obj, config_option, example, pass_obj, print_table


@click.command(epilog=example("pgwarden validate --config config.example.toml"))
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


@click.command(
    epilog=example("pgwarden once --only activity\npgwarden once --only activity --only pglogs")
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
            print_table(report.columns, report.rows)
        else:
            click.echo("(nothing to do)")
    if any(r.failures for r in reports):
        sys.exit(1)


@click.command(epilog=example("pgwarden targets\npgwarden targets --no-discover"))
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

    The proxies column names the RDS Proxies in front of a database. The logs column names
    the [pglogs] sources reading the target's logs, `via NAME` when they are read with its
    cluster's target, and `none` when nothing reads them (every stage run then reports the
    target as a failure). What could not be described (a proxy's targets, an account) is
    printed as a note on stderr.
    """
    from monitor.aws import AwsSessions
    from monitor.sources.targets import collect_targets

    config = obj.config()
    found = collect_targets(config, AwsSessions.from_config(config), discover=discover)
    columns = (
        "target", "source", "account", "region", "type", "endpoint", "db_user", "resource",
        "proxies", "logs",
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
            ", ".join(t.proxies) or "-",
            ", ".join(t.log_sources) or (f"via {t.logs_via}" if t.logs_via else "none"),
        )
        for t in found.targets
    ]
    if rows:
        print_table(columns, rows)
    else:
        click.echo("no targets configured or discovered")
    for note in found.notes:
        click.echo(f"note: {note}", err=True)


@click.command(
    epilog=example(
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

    from monitor.scheduler import Daemon

    config = obj.config()
    abandoned = Daemon(obj.config_file(), config).run()
    if abandoned:
        # A job overran the stop deadline; its thread would keep the process alive.
        logging.shutdown()
        os._exit(0)


@click.command(
    "iam-policy",
    epilog=example(
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


COMMANDS = (validate, once, targets, run, iam_policy)
