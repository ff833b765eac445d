"""`pgwarden demo`: the whole pipeline on an embedded sandbox, in one command.

The sandbox stands in for AWS and RDS (monitor/sandbox/): moto holds a management account
and two database accounts, each with an Aurora PostgreSQL cluster record, its
`pg-monitor-role` and connect grants (and in one, an RDS Proxy in front of the cluster); a
local PostgreSQL per cluster logs in like RDS (TLS, and IAM tokens checked through PAM
where that can run); the server logs, and the proxy's own log, go to moto's CloudWatch
Logs and the role assumptions to CloudTrail files. Then the demo writes a real config file
pointing at those endpoints and runs the real stages. Nothing in the pipeline knows it is
a demo: only endpoints and paths differ.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from monitor.errors import PgwardenError
from monitor.sandbox.story import MGMT

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.sandbox.aws import MotoSandbox
    from monitor.sandbox.story import BuiltAccount

EXTERNAL_ID_ENV = "PGWARDEN_DEMO_EXTERNAL_ID"
SLACK_TOKEN_ENV = "PGWARDEN_DEMO_SLACK_TOKEN"  # noqa: S105 - the name of a variable
SLACK_CHANNEL, SECURITY_CHANNEL = "#pgwarden", "#security"

Echo = Callable[[str], None]


@dataclass
class DemoRun:
    """What the demo did and produced."""

    out: Path
    workdir: Path
    config_path: Path
    iam_checked: bool
    notes: list[str] = field(default_factory=list)
    summary: list[tuple[str, str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    slack_messages: list[dict[str, object]] = field(default_factory=list)


def run_demo(out: Path, *, keep: bool = False, pam: bool = True, echo: Echo = print) -> DemoRun:
    """Build the sandbox, run the pipeline against it, and tear it all down again.

    Processes stop and the work directory goes away on every exit, Ctrl-C included; with
    `keep` the work directory (config, store, server logs) stays for a look afterwards.
    """
    from monitor.sandbox.pg import find_pg_bindir

    bindir = find_pg_bindir(bundled=True)
    if bindir is None:
        raise PgwardenError(
            "demo: no PostgreSQL server found: install Debian's (apt-get install postgresql) "
            "or the demo extra (pip install 'pgwarden[demo]', which brings pgserver)"
        )
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="pgwarden-demo-"))
    if os.geteuid() == 0:
        workdir.chmod(0o711)  # the servers run as postgres and must reach their data dirs
    try:
        with contextlib.ExitStack() as stack:
            return _run(stack, bindir, out, workdir, pam, echo)
    finally:
        if keep:
            echo(f"kept the sandbox's files in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(
    stack: contextlib.ExitStack, bindir: Path, out: Path, workdir: Path, pam: bool, echo: Echo
) -> DemoRun:
    from monitor.sandbox.aws import MotoSandbox
    from monitor.sandbox.pam import pam_available
    from monitor.sandbox.pg import built_with
    from monitor.sandbox.slack import SlackEndpoint
    from monitor.sandbox.story import ACCOUNTS, build_account, write_trail

    started = time.monotonic()

    def step(text: str) -> None:
        echo(f"[{time.monotonic() - started:5.1f}s] {text}")

    tls = built_with(bindir, "openssl")
    missing = None if pam else "--no-pam was given"
    missing = missing or pam_available()
    if missing is None and not built_with(bindir, "pam"):
        missing = f"the PostgreSQL in {bindir} is built without PAM"
    run = DemoRun(out, workdir, workdir / "pgwarden.toml", iam_checked=tls and missing is None)
    run.notes += _limits(bindir, tls, missing)
    step(f"PostgreSQL from {bindir}; work directory {workdir}")
    for note in run.notes:
        step(f"note: {note}")

    moto = MotoSandbox()
    stack.callback(moto.close)
    _use_management_account(moto)
    slack = SlackEndpoint((SLACK_CHANNEL, SECURITY_CHANNEL))
    stack.callback(slack.close)
    step(f"moto (AWS) on {moto.url}; Slack-compatible endpoint on {slack.base_url}")

    targets = []
    for spec in ACCOUNTS:
        built = build_account(
            stack, moto, spec, bindir, workdir,
            tls=tls, pam=missing is None, external_id=os.environ[EXTERNAL_ID_ENV],
        )  # fmt: skip
        targets.append(built)
        step(
            f"account {spec.account_id} ({spec.name}): cluster {built.cluster.endpoint}, "
            f"{len(built.connections)} sessions held open"
        )
    trail_dir = workdir / "trail"
    count = write_trail(trail_dir, targets, datetime.now(UTC).replace(microsecond=0))
    step(f"{count} CloudTrail records written in {trail_dir}")

    write_config(run.config_path, moto.url, slack.base_url, targets, trail_dir, out)
    step(f"config written: {run.config_path}")
    run.summary, run.files = _pipeline(run, echo=step)
    run.slack_messages = list(slack.messages)
    (out / "slack-messages.json").write_text(
        json.dumps(run.slack_messages, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    run.files.append(out / "slack-messages.json")
    step("done")
    return run


def _limits(bindir: Path, tls: bool, missing: str | None) -> list[str]:
    """What this host's PostgreSQL and PAM leave out of the demo, said up front."""
    if not tls:
        return [
            f"the PostgreSQL in {bindir} is built without SSL, and pgwarden connects only with "
            "TLS: the targets will show as down. Install Debian's PostgreSQL for the full demo."
        ]
    if missing:
        return [
            f"IAM tokens are generated but NOT checked ({missing}): as root with libpam-python, "
            "PostgreSQL checks each token's SigV4 signature through PAM, as RDS does."
        ]
    return []


def _use_management_account(moto: MotoSandbox) -> None:
    """pgwarden's source credentials: a role session in the management account, through the
    environment as boto3's default chain reads it (never the user's own AWS credentials)."""
    from monitor.sandbox.aws import role_arn

    creds = moto.assume(role_arn(MGMT, "pgwarden-runner"), "pgwarden-demo")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_ROLE_ARN"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID=creds["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=creds["aws_secret_access_key"],
        AWS_SESSION_TOKEN=creds["aws_session_token"],
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    os.environ[EXTERNAL_ID_ENV] = secrets.token_hex(16)
    os.environ[SLACK_TOKEN_ENV] = "xoxb-sandbox-" + secrets.token_hex(8)


def _pipeline(run: DemoRun, echo: Echo) -> tuple[list[tuple[str, str]], list[Path]]:
    """The real stages, from the config file the demo wrote."""
    from monitor.config import load_config
    from monitor.stages import run_once

    config = load_config(run.config_path)
    reports = run_once(config)
    for report in reports:
        state = f"{report.failures} failed" if report.failures else "ok"
        echo(f"stage {report.stage}: {state}")
        for row in report.rows if report.failures else []:
            echo(f"  {' | '.join(row)}")
    activity = next(r for r in reports if r.stage == "activity")
    polled = sum(row[1] == "ok" for row in activity.rows)
    summary = [("targets polled", f"{polled} of {len(activity.rows)}")]
    summary += _store_counts(config.store.path)
    summary.append(("doctor checks", _doctor(config, echo)))
    files = _write_findings_csv(config.store.path, run.out / "findings.csv")
    return summary, [*files, *_access_review(config, echo)]


def _doctor(config: Config, echo: Echo) -> str:
    """`pgwarden doctor` on the sandbox: every prerequisite as pgwarden checks a real one;
    the rows that are not fine are shown."""
    from monitor.doctor.checks import diagnose
    from monitor.doctor.render import render_table

    results = diagnose(config, ())
    counts = Counter(r.status for r in results)
    echo(f"doctor: {counts['ok']} ok, {counts['warn']} warnings, {counts['fail']} failed")
    not_ok = [r for r in results if r.status != "ok"]
    for line in render_table(not_ok, 100) if not_ok else []:
        echo(f"  {line}")
    return f"{counts['ok']} ok, {counts['warn']} warnings, {counts['fail']} failed"


def _access_review(config: Config, echo: Echo) -> list[Path]:
    """The access review of the seven days up to today (the sandbox's data is from today),
    as `pgwarden report access-review --since D-6 --until D+1` writes it."""
    from monitor.clock import SystemClock
    from monitor.outputs.reports.access_review import write_report
    from monitor.outputs.reports.period import date_range
    from monitor.stages.base import StageContext
    from monitor.store.sqlite import Store

    clock = SystemClock()
    today = clock.now().astimezone(ZoneInfo(config.reports.timezone)).date()
    since, until = today - timedelta(days=6), today + timedelta(days=1)
    period = date_range(since.isoformat(), until.isoformat(), config.reports.timezone)
    with Store.open(config.store.path, writer=False) as store:
        written = write_report(StageContext(config, store, clock), period)
    echo(f"access review {since} to {today}: {len(written)} files")
    return [f.path for f in written]


def _store_counts(path: Path) -> list[tuple[str, str]]:
    from monitor.store.findings import open_by_severity
    from monitor.store.metrics import row_counts
    from monitor.store.sqlite import Store

    with Store.open(path, writer=False) as store:
        rows = row_counts(store)
        by_severity = open_by_severity(store)
    found = [
        (f"findings: {s}", by_severity.get(s, 0))
        for s in ("critical", "high", "medium", "low", "info")
    ]
    return [(label, str(value)) for label, value in (*rows.items(), *found)]


def _write_findings_csv(path: Path, dest: Path) -> list[Path]:
    from monitor.outputs.formats import write
    from monitor.store.findings import FINDING_COLUMNS, list_findings
    from monitor.store.sqlite import Store

    with Store.open(path, writer=False) as store:
        rows = list_findings(store, "open")
    with dest.open("w", encoding="utf-8", newline="") as fh:
        write("csv", rows, FINDING_COLUMNS, fh)
    return [dest]


def print_result(run: DemoRun, echo: Echo) -> None:
    """The summary table, one Slack payload as Slack would receive it, and the files."""
    from io import StringIO

    from monitor.outputs.formats import write_table

    if run.slack_messages:
        first = run.slack_messages[0]
        echo(
            f"\n{len(run.slack_messages)} alerts posted to the local Slack endpoint; "
            f"the first, exactly as chat.postMessage received it:"
        )
        echo(json.dumps({k: v for k, v in first.items() if k != "token"}, indent=2))
    table = StringIO()
    write_table(
        ({"what": what, "count": count} for what, count in run.summary), ("what", "count"), table
    )
    echo("\n" + table.getvalue().rstrip())
    for note in run.notes:
        echo(f"note: {note}")
    echo("\nfiles:")
    for path in run.files:
        echo(f"  {path}")
    if run.workdir.exists():
        echo(f"\nexplore: pgwarden --config {run.config_path} findings list")


# -- the config file ----------------------------------------------------------------------------


def write_config(
    path: Path,
    moto_url: str,
    slack_url: str,
    targets: list[BuiltAccount],
    trail_dir: Path,
    out: Path,
) -> None:
    """A real pgwarden.toml aimed at the sandbox's endpoints."""
    doc: dict[str, object] = {
        "store": {"path": "pgwarden.db"},
        "aws": {
            "region": "us-east-1",
            "endpoint_url": moto_url,
            "management_accounts": [MGMT],
        },
        "accounts": [
            {
                "id": t.spec.account_id,
                "name": t.spec.name,
                "role_arn": t.monitor_role,
                "external_id": f"env:{EXTERNAL_ID_ENV}",
                "discover": True,
            }
            for t in targets
        ],
        "targets": _target_tables(targets),
        "activity": {"connect_timeout_s": 5, "poll_deadline_s": 8},
        "pglogs": {"sources": ["cloudwatch", "rds-proxy"]},
        "cloudtrail": {"engine": "local", "local_dir": str(trail_dir)},
        "detectors": {"privileged-session": {"allowed_hosts": ["10.0.0.0/8"]}},
        "alerts": {
            "slack": {
                "enabled": True,
                "mode": "bot",
                "token": f"env:{SLACK_TOKEN_ENV}",
                "base_url": slack_url,
                "channel": SLACK_CHANNEL,
                "channels": {"critical": SECURITY_CHANNEL, "high": SECURITY_CHANNEL},
            }
        },
        "reports": {"dir": str(out), "formats": ["csv", "html"]},
    }
    path.write_text(
        "# Written by pgwarden demo: the sandbox's endpoints, otherwise a normal config.\n"
        + "".join(_toml(doc)),
        encoding="utf-8",
    )


def _target_tables(targets: list[BuiltAccount]) -> list[dict[str, object]]:
    """A [[targets]] table per cluster, and one per proxy in front of it."""
    tables: list[dict[str, object]] = []
    for t in targets:
        common = {"account": t.spec.name, "port": t.cluster.port, "hostaddr": "127.0.0.1"}
        common["ca_bundle"] = str(t.ca_bundle)
        cluster = {"cluster_id": t.spec.cluster_id, "endpoint": t.cluster.endpoint}
        tables.append({"name": t.spec.cluster_id, **cluster, **common})
        if t.proxy is not None:
            proxy = {"proxy_name": t.proxy.name, "endpoint": t.proxy.endpoint}
            tables.append({"name": t.proxy.name, "endpoint_type": "proxy", **proxy, **common})
    return tables


def _toml(doc: Mapping[str, object], prefix: str = "") -> Iterator[str]:
    """TOML for the shapes above: scalars and lists first, then tables, arrays of tables."""
    tables = {k: v for k, v in doc.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in doc.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
    for key, value in doc.items():
        if key not in tables and key not in arrays:
            yield f"{_key(key)} = {_value(value)}\n"
    for key, value in tables.items():
        name = f"{prefix}{_key(key)}"
        if any(not isinstance(v, dict) for v in value.values()):
            yield f"\n[{name}]\n"
        yield from _toml(value, f"{name}.")
    for key, items in arrays.items():
        for item in items:
            yield f"\n[[{prefix}{_key(key)}]]\n"
            yield from _toml(item, f"{prefix}{_key(key)}.")


def _key(key: str) -> str:
    return key if key.replace("-", "").replace("_", "").isalnum() else json.dumps(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    # A JSON string is a valid TOML basic string for the text written here.
    return json.dumps(str(value))
