"""`pgwarden alerts ...`: deliver the outbox, resume parked channels, test the channels."""

from __future__ import annotations

import sys

import click

from monitor.cli.common import Obj, config_option, example, open_store, pass_obj
from monitor.errors import PgwardenError


@click.group(epilog=example("pgwarden alerts test\npgwarden alerts deliver --dry-run"))
def alerts() -> None:
    """Deliver and test Slack alerts."""


@alerts.command(
    "deliver", epilog=example("pgwarden alerts deliver\npgwarden alerts deliver --dry-run")
)
@click.option("--dry-run", is_flag=True, help="Print the exact Slack payloads; send nothing.")
@config_option
@pass_obj
def alerts_deliver(obj: Obj, dry_run: bool) -> None:
    """Send the alerts waiting in the outbox, oldest first (what the daemon does every 15 s)."""
    from monitor.aws import AwsSessions
    from monitor.clock import SystemClock
    from monitor.outputs.alerts.delivery import deliver_alerts, preview_alerts
    from monitor.outputs.alerts.sinks import make_sink

    config = obj.config()
    slack = config.alerts.slack
    now = SystemClock().now()
    if dry_run:
        with open_store(obj) as store:
            count = preview_alerts(store, slack, now)
        click.echo(f"{count} messages would be sent; nothing was marked sent", err=True)
        return
    if not slack.enabled:
        raise PgwardenError("alerts.slack.enabled is false: enable it, or use --dry-run")
    sink = make_sink(slack, AwsSessions.from_config(config).resolve_secret)
    with open_store(obj, writer=True) as store:
        summary = deliver_alerts(store, sink, slack, now)
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
    epilog=example("pgwarden alerts retry-parked\npgwarden alerts retry-parked --channel '#sec'"),
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

    with open_store(obj, writer=True) as store:
        resumed = resume(store, channels)
    missing = sorted(set(channels) - set(resumed))
    for channel in resumed:
        click.echo(f"{channel}: resumed")
    if missing:
        raise PgwardenError(f"not parked: {', '.join(missing)}; see pgwarden doctor")
    if not resumed:
        click.echo("no channel is parked")


@alerts.command("test", epilog=example("pgwarden alerts test --config /etc/pgwarden/pgwarden.toml"))
@config_option
@pass_obj
def alerts_test(obj: Obj) -> None:
    """Send a test message to every configured channel and report each result."""
    from monitor.aws import AwsSessions
    from monitor.outputs.alerts.delivery import send_test_messages
    from monitor.outputs.alerts.sinks import make_sink

    config = obj.config()
    slack = config.alerts.slack
    if not slack.enabled:
        raise PgwardenError("alerts.slack.enabled is false: enable it to test delivery")
    sink = make_sink(slack, AwsSessions.from_config(config).resolve_secret)
    results = send_test_messages(sink, slack)
    for channel, error in results:
        click.echo(f"✔ {channel}: delivered" if error is None else f"✖ {channel}: {error}")
    if any(error is not None for _, error in results):
        sys.exit(1)


COMMANDS = (alerts,)
