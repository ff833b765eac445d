"""`pgwarden demo`: the whole pipeline on an embedded sandbox (monitor/demo.py)."""

from __future__ import annotations

from pathlib import Path

import click

from monitor.cli.common import example
from monitor.cli.progress import progress


@click.command(epilog=example("pgwarden demo --out ./demo-output\npgwarden demo --keep --no-pam"))
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
    with progress("running the demo") as bar:
        result = run_demo(out, keep=keep, pam=pam, echo=bar.echo)
    print_result(result, click.echo)


COMMANDS = (demo,)
