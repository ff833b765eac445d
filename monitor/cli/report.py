"""`pgwarden report ...`: the access review, and the reviewers' decisions back in."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from monitor.cli.common import Obj, config_option, example, open_store, pass_obj, print_table
from monitor.cli.progress import progress


@click.group(epilog=example("pgwarden report access-review --week 2026-W47"))
def report() -> None:
    """Reports for reviewers."""


@report.command(
    "access-review",
    epilog=example(
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
    with open_store(obj) as store, progress(f"writing the access review {period.label}"):
        files = write_report(StageContext(config, store, clock), period, out, wanted)
    summary = stage_report(files)
    print_table(summary.columns, summary.rows)


@report.command(
    "apply-decisions",
    epilog=example("pgwarden report apply-decisions access-review-2026-W47-users.csv"),
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
    with open_store(obj, writer=True) as store:
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


COMMANDS = (report,)
