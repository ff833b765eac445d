"""The access review: who can get into which database, and do they still need to?

For a period (an ISO week by default) it writes, into the reports directory:

- `access-review-<label>-users.csv`: one row per (account, target, db user);
- `access-review-<label>-principals.csv`: one row per IAM principal allowed to connect;
- `access-review-<label>.html`: one self-contained page with counts, charts and a table;
- `access-review-<label>-revoke.sql` and `-revoke-iam.json`: the revocation plan.

Everything is aggregated in the store (monitor/store/reports.py) on a read-only connection
of its own, inside one read transaction, so the files agree with each other while the
daemon keeps writing. Rows come back in chunks and are written as they arrive: memory
stays flat however many users there are. `weekly_report` (the scheduler's
job) and `pgwarden report access-review` share `write_report`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, cast

from monitor.config import Config
from monitor.errors import PgwardenError
from monitor.judge.detectors.unused_db_user import UnusedDbUserOptions
from monitor.judge.detectors.unused_iam_grant import UnusedIamGrantOptions
from monitor.outputs.formats import write_csv
from monitor.outputs.reports.period import Period, last_complete_week
from monitor.outputs.reports.plan import RevokeSql, write_iam_plan
from monitor.outputs.reports.rows import (
    PRINCIPAL_COLUMNS,
    USER_COLUMNS,
    failed_by_principal,
    principal_row,
    report_time,
    user_row,
)
from monitor.outputs.reports.summary import Review
from monitor.store.reports import CHUNK_ROWS, Record, ReviewSnapshot, review_snapshot
from monitor.store.sqlite import Store

if TYPE_CHECKING:
    from monitor.stages.base import StageContext, StageReport

log = logging.getLogger(__name__)

FILE_KINDS = ("users", "principals", "html", "revoke-sql", "revoke-iam")


def parse_formats(text: str) -> list[str]:
    """`--format csv,html` as a list; an unknown name lists the known ones."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ("csv", "html")]
    if unknown or not names:
        raise PgwardenError(
            f"--format {text}: unknown format {unknown[0] if unknown else '(none)'}; "
            "known: csv, html"
        )
    return names


def file_names(label: str) -> dict[str, str]:
    base = f"access-review-{label}"
    return {
        "users": f"{base}-users.csv",
        "principals": f"{base}-principals.csv",
        "html": f"{base}.html",
        "revoke-sql": f"{base}-revoke.sql",
        "revoke-iam": f"{base}-revoke-iam.json",
    }


@dataclass(frozen=True)
class ReportFile:
    kind: str
    path: Path
    rows: int
    s3_uri: str | None = None


# -- entry points ---------------------------------------------------------------------------


def weekly_report(ctx: StageContext) -> StageReport:
    """The last complete ISO week's report, written as [reports] says (the scheduler's job)."""
    if not ctx.config.reports.enabled:
        return stage_report([])
    period = last_complete_week(ctx.clock.now(), ctx.config.reports.timezone)
    return stage_report(write_report(ctx, period))


def stage_report(files: Sequence[ReportFile]) -> StageReport:
    from monitor.stages.base import StageReport

    rows: list[tuple[str, ...]] = [
        (f.kind, str(f.path), str(f.rows), f.s3_uri or "-") for f in files
    ]
    return StageReport("report", ("file", "path", "rows", "s3"), rows)


def write_report(
    ctx: StageContext,
    period: Period,
    out_dir: Path | None = None,
    formats: Sequence[str] | None = None,
) -> list[ReportFile]:
    """Write the period's files, then upload them when [reports].s3_uri is set."""
    reports = ctx.config.reports
    out = out_dir or reports.dir
    wanted = set(formats or reports.formats)
    out.mkdir(parents=True, exist_ok=True)
    store = Store.open(
        ctx.store.path, writer=False, busy_timeout_ms=ctx.config.store.busy_timeout_ms
    )
    with contextlib.closing(store):
        files = generate(store, ctx.config, period, out, wanted, ctx.clock.now())
    log.info(
        "access review %s written to %s",
        period.label,
        out,
        extra={"period": period.label, "files": len(files)},
    )
    if reports.s3_uri:
        from monitor.outputs.reports.publish import upload

        files = upload(ctx.aws(), reports, files)
    return files


def generate(
    store: Store,
    config: Config,
    period: Period,
    out: Path,
    formats: set[str],
    now: datetime,
) -> list[ReportFile]:
    """Aggregate, recommend and write; one read transaction, so the files agree."""
    names = file_names(period.label)
    review = Review(period, now)
    with review_snapshot(store, period.start, period.end) as data:
        job = _Job(data, config, review, out, names, "csv" in formats)
        written = [*_users(job), *_principals(job)]
        mode = config.reports.file_mode
        with _atomic(out / names["revoke-iam"], mode) as f:
            count = write_iam_plan(data.plan_grants(), period, now, f)
        written.append(ReportFile("revoke-iam", out / names["revoke-iam"], count))
        if "html" in formats:
            from monitor.outputs.reports.html import render

            _daily(data, review)
            with _atomic(out / names["html"], mode) as f:
                f.write(render(review))
            written.append(ReportFile("html", out / names["html"], review.table_total))
    return sorted(written, key=lambda f: FILE_KINDS.index(f.kind))


@dataclass(frozen=True)
class _Job:
    """One report's snapshot of the store, settings and destination, shared by its passes."""

    data: ReviewSnapshot
    config: Config
    review: Review
    out: Path
    names: Mapping[str, str]
    csv: bool

    @property
    def mode(self) -> int:
        return self.config.reports.file_mode


# -- the users CSV and the SQL half of the plan -------------------------------------------------


def _users(job: _Job) -> list[ReportFile]:
    data, review, out, names = job.data, job.review, job.out, job.names
    opts = UnusedDbUserOptions.from_config(job.config, "unused-db-user")
    accounts = {a.id: a.name for a in job.config.accounts}
    end = review.period.end
    count = 0

    def rows(plan: RevokeSql) -> Iterator[Record]:
        nonlocal count
        for chunk in data.users():
            revoke: list[tuple[str, str, str]] = []
            for raw in chunk:
                row = user_row(raw, accounts, end, opts)
                review.add_user(row)
                if row["recommendation"] == "revoke":
                    plan.add(row)
                    revoke.append((row["target"], row["db_user"], row["reason"]))
                count += 1
                yield row
            data.revoke_users(revoke)

    with _atomic(out / names["revoke-sql"], job.mode) as sql_out:
        plan = RevokeSql(sql_out, review.period, review.generated)
        _write(rows(plan), USER_COLUMNS, out / names["users"] if job.csv else None, job.mode)
        plan.close()
    files = [ReportFile("revoke-sql", out / names["revoke-sql"], plan.statements)]
    if job.csv:
        files.append(ReportFile("users", out / names["users"], count))
    return files


# -- the principals CSV ------------------------------------------------------------------------


def _principals(job: _Job) -> list[ReportFile]:
    data, review, out, names = job.data, job.review, job.out, job.names
    opts = UnusedIamGrantOptions.from_config(job.config, "unused-iam-grant")
    history = report_time(data.trail_history_start())
    failed = failed_by_principal(data.failed_logins_by_caller())
    end = review.period.end
    count = 0

    def grouped() -> Iterator[list[Record]]:
        group: list[Record] = []
        for chunk in data.principals():
            for raw in chunk:
                if group and raw["principal_arn"] != group[0]["principal_arn"]:
                    yield group
                    group = []
                group.append(raw)
        if group:
            yield group

    def rows() -> Iterator[Record]:
        nonlocal count
        revoke: list[tuple[str, str]] = []
        for group in grouped():
            row = principal_row(group, end, history, opts, failed)
            review.principals[row["recommendation"]] += 1
            if row["recommendation"] == "revoke":
                revoke.append((row["principal_arn"], row["reason"]))
            if len(revoke) >= CHUNK_ROWS:
                data.revoke_principals(revoke)
                revoke.clear()
            count += 1
            yield row
        data.revoke_principals(revoke)

    _write(rows(), PRINCIPAL_COLUMNS, out / names["principals"] if job.csv else None, job.mode)
    return [ReportFile("principals", out / names["principals"], count)] if job.csv else []


# -- chart data --------------------------------------------------------------------------------


def _daily(data: ReviewSnapshot, review: Review) -> None:
    """Per-hour counts from the store, folded into the period's local days with pandas."""
    import pandas as pd

    frame = data.hourly()
    if frame.empty:
        return
    hours = pd.to_datetime(frame["hour"] + ":00:00+00:00", utc=True)
    frame["day"] = hours.dt.tz_convert(review.period.timezone).dt.strftime("%Y-%m-%d")
    sessions = frame[frame["series"] == "sessions"]
    per_target = sessions.groupby(["target", "day"])["n"].sum()
    for key, n in per_target.items():
        target, day = cast("tuple[str, str]", key)
        review.daily_sessions.setdefault(target, {})[day] = int(n)
    failures = frame[frame["series"] == "auth_failures"].groupby("day")["n"].sum()
    review.daily_failures = {str(day): int(n) for day, n in failures.items()}
    review.auth_failures = int(failures.sum())


# -- helpers -----------------------------------------------------------------------------------


def _write(rows: Iterator[Record], columns: Sequence[str], path: Path | None, mode: int) -> None:
    """RFC 4180 CSV through monitor.outputs.formats; without a path, the rows are only consumed."""
    if path is None:
        for _ in rows:
            pass
        return
    with _atomic(path, mode) as f:
        write_csv(rows, columns, f)


@contextlib.contextmanager
def _atomic(path: Path, mode: int) -> Iterator[TextIO]:
    """Write beside `path`, then move into place: nobody reads (or uploads) half a file.

    The file gets `mode` ([reports] file_mode, 0600 unless set) from its first byte, and
    exactly that mode: the umask would only narrow an explicit choice, never widen 0600.
    """
    part = path.with_name(path.name + ".part")
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, mode)
        # newline="" so the CSV writer's CRLF line ends reach the file as they are.
        with open(fd, "w", encoding="utf-8", newline="") as f:
            yield f
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
