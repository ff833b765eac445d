"""RDS Proxy checks, per proxy in front of a target (discovered, or a configured
`endpoint_type = "proxy"` target), as target resolution described it: what could not be
described of it, what it fronts, its log group `/aws/rds/proxy/<name>` exists and receives
events, whether DebugLogging is on, its IAM auth mode per secret, and whether each database
behind it also takes direct password logins (from the store, as the proxy-bypass detector
reads it and over its window: logins no proxy's log wrote, from outside the subnets of the
proxies in front of it, whose pooled connections log in with the secret's password).

This group is the one place a proxy's auth and its registered targets are judged (the rds
group checks the database behind a proxy target, not the proxy). A proxy with no registered
cluster or instance fails its fronts row. IAM auth, one row per secret:
- REQUIRED: ok, IAM tokens only.
- DISABLED while pgwarden's own monitor user logs in through the proxy (a proxy target's
  `db_user`, always with an IAM token): fail, the proxy refuses that token, so pgwarden
  cannot log in. A secret counts as the monitor user's unless its UserName names another
  user (describe_db_proxies states UserName only where it was set).
- otherwise ENABLED or DISABLED: warn, password logins are possible through the proxy.
Each fix sets every secret of the proxy to REQUIRED in one `modify-db-proxy --auth`, which
replaces the whole list: any of them run alone, or all in turn, leave the same settings.

AWS documents no proxy log line, and not which lines a proxy writes without DebugLogging
(see the README's section on proxy logs): the debug-logging row says so either way. The
per-instance `iam-db-auth-error` export is the rds group's log-export row, for the
databases behind a proxy too (each is a target, or the proxy target's backing database).

IAM (monitor role): rds:DescribeDBProxies and what describing a proxy takes
(rds:DescribeDBProxyEndpoints, rds:DescribeDBProxyTargetGroups, rds:DescribeDBProxyTargets,
ec2:DescribeSubnets; monitor/sources/proxies.py), logs:DescribeLogGroups,
logs:DescribeLogStreams.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from monitor.config import Config
from monitor.doctor.accounts import account_key
from monitor.doctor.checks import DoctorContext, Outcome, fail, group, ok, warn
from monitor.doctor.rds import register_fix
from monitor.models import Proxy, ProxyAuth
from monitor.sources.proxies import PROXY_ACTIONS, Note

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

    from monitor.store.evidence import PasswordLogin

CHECKS = (
    "described", "fronts", "log-group", "log-events", "debug-logging", "iam-auth",
    "direct-password",
)  # fmt: skip
IAM_ACTIONS = (*PROXY_ACTIONS, "logs:DescribeLogGroups", "logs:DescribeLogStreams")
DIRECT_LOGINS = "proxies:direct-logins"  # ctx.facts: proxy-bypass's direct logins
QUIET = timedelta(hours=24)  # a proxy log with no event for this long is worth a look
UNDOCUMENTED = (
    "AWS does not document which lines a proxy writes without DebugLogging, "
    "connections and authentication failures included"
)


def _has_proxies(config: Config) -> bool:
    return any(a.discover for a in config.accounts) or any(
        t.endpoint_type == "proxy" for t in config.targets
    )


@group("proxies", CHECKS, IAM_ACTIONS, applies=_has_proxies)
def check_proxies(ctx: DoctorContext) -> None:
    wanted = {a.id for a in ctx.accounts()}
    for note in ctx.notes:  # a region whose proxies could not be listed at all
        if note.region and note.proxy is None and note.account_id in wanted:
            where = f"{note.account_id} {note.region}"
            ctx.record("proxies", where, "described", fail(note.text, describe_fix(note)))
    names = {t.name for t in ctx.targets}
    chosen = {(t.account_id, t.region, t.proxy_name) for t in ctx.targets if t.proxy_name}
    for proxy in ctx.proxies:
        key = (proxy.account_id, proxy.region, proxy.name)
        if ctx.only_targets and key not in chosen and not names & set(proxy.fronts):
            continue
        check_proxy(ctx, proxy)


def check_proxy(ctx: DoctorContext, proxy: Proxy) -> None:
    subject = f"proxy {proxy.name}"
    for note in ctx.notes:
        if (note.account_id, note.region, note.proxy) == (
            proxy.account_id,
            proxy.region,
            proxy.name,
        ):
            ctx.record("proxies", subject, "described", warn(note.text, describe_fix(note)))
    ctx.record("proxies", subject, "fronts", judge_fronts(proxy))
    if not ctx.skip_if_blocked(
        "proxies", subject, ("log-group", "log-events"), account_key(proxy.account_id)
    ):
        logs = ctx.aws.logs(proxy.region, proxy.account_id)
        if (
            ctx.attempt("proxies", subject, "log-group", lambda: log_group(logs, proxy)).status
            == "ok"
        ):
            now = ctx.clock.now()
            ctx.attempt("proxies", subject, "log-events", lambda: log_events(logs, proxy, now))
    ctx.record("proxies", subject, "debug-logging", judge_debug_logging(proxy))
    for outcome in judge_auth(proxy, monitor_users(ctx, proxy)):
        ctx.record("proxies", subject, "iam-auth", outcome)
    for target in proxy.fronts:
        ctx.attempt(
            "proxies",
            subject,
            "direct-password",
            lambda target=target: direct_password(ctx, proxy, target),  # type: ignore[misc]
        )


def describe_fix(note: Note) -> str:
    actions = ",".join(PROXY_ACTIONS)
    return (
        f"if the error is AccessDenied, allow {actions} to the monitor role of "
        f"{note.account_id}; then run pgwarden doctor again"
    )


def monitor_users(ctx: DoctorContext, proxy: Proxy) -> set[str]:
    """The users pgwarden logs in as through this proxy: its proxy targets' `db_user`."""
    key = (proxy.account_id, proxy.region, proxy.name)
    return {
        t.db_user
        for t in ctx.every_target or ctx.targets
        if t.proxy_name and (t.account_id, t.region, t.proxy_name) == key
    }


def judge_fronts(proxy: Proxy) -> Outcome:
    if proxy.databases == ():
        return fail(
            f"proxy {proxy.name} has no registered cluster or instance: it reaches no database",
            register_fix(proxy.region, proxy.name),
        )
    if proxy.fronts:
        return ok(f"fronts {', '.join(proxy.fronts)}")
    behind = ", ".join(f"{kind} {ident}" for kind, ident in proxy.databases or ())
    return warn(
        "fronts no target pgwarden watches: its logins cannot be tied to a database"
        + (f" ({behind} is registered behind it)" if behind else ""),
        f"aws rds describe-db-proxy-targets --region {proxy.region} "
        f"--db-proxy-name {proxy.name}  # and watch the database it lists",
    )


def log_group(logs: CloudWatchLogsClient, proxy: Proxy) -> Outcome:
    name = proxy.log_group
    found = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    if any(g.get("logGroupName") == name for g in found):
        return ok(f"{name} exists")
    return fail(
        f"no log group {name}: the proxy has written no log, so its logins go unseen",
        f"aws rds modify-db-proxy --region {proxy.region} --db-proxy-name {proxy.name} "
        f"--debug-logging  # {UNDOCUMENTED}",
    )


def log_events(logs: CloudWatchLogsClient, proxy: Proxy, now: datetime) -> Outcome:
    name = proxy.log_group
    streams = logs.describe_log_streams(
        logGroupName=name, orderBy="LastEventTime", descending=True, limit=1
    ).get("logStreams", [])
    last_ms = streams[0].get("lastEventTimestamp") if streams else None
    tail = f"aws logs tail {name} --since 1d --region {proxy.region}"
    if last_ms is None:
        return fail(f"{name} has no events: nothing to read", tail)
    last = datetime.fromtimestamp(last_ms / 1000, UTC)
    if now - last > QUIET:
        return warn(f"{name}: last event at {last:%Y-%m-%d %H:%M} UTC, over a day ago", tail)
    return ok(f"{name}: last event at {last:%Y-%m-%d %H:%M} UTC")


def judge_debug_logging(proxy: Proxy) -> Outcome:
    if proxy.debug_logging:
        return ok("DebugLogging on")
    return warn(
        f"DebugLogging off: {UNDOCUMENTED}",
        f"aws rds modify-db-proxy --region {proxy.region} --db-proxy-name {proxy.name} "
        "--debug-logging  # it can also log SQL text",
    )


def judge_auth(proxy: Proxy, monitor: AbstractSet[str]) -> list[Outcome]:
    """One row per secret (the rule is the module's): REQUIRED is IAM only; ENABLED and
    DISABLED let a password in; DISABLED refuses the token of `monitor`, the users pgwarden
    logs in as through this proxy."""
    if not proxy.auth:
        return [warn("no Auth entries: how clients log in is unknown", auth_fix(proxy))]
    return [_judge_secret(proxy, a, monitor) for a in proxy.auth]


def _judge_secret(proxy: Proxy, a: ProxyAuth, monitor: AbstractSet[str]) -> Outcome:
    who = a.user_name or a.secret_arn or "end-to-end IAM"
    if a.iam_auth == "REQUIRED":
        return ok(f"{who}: IAMAuth REQUIRED")
    refused = sorted(monitor if a.user_name is None else monitor & {a.user_name})
    if a.iam_auth == "DISABLED" and refused:
        return fail(
            f"{who}: IAMAuth DISABLED: pgwarden logs in through this proxy as "
            f"{', '.join(refused)} with an IAM token, and the proxy refuses it"
            + ("" if a.user_name else " (if this secret is that user's)"),
            auth_fix(proxy),
        )
    return warn(
        f"{who}: IAMAuth {a.iam_auth}: password logins are possible through the proxy",
        auth_fix(proxy),
    )


def auth_fix(proxy: Proxy) -> str:
    auth = [
        {
            k: v
            for k, v in {
                "AuthScheme": "SECRETS",
                "SecretArn": a.secret_arn,
                "IAMAuth": "REQUIRED",
                "ClientPasswordAuthType": a.client_password_auth_type,
            }.items()
            if v
        }
        for a in proxy.auth
        if a.secret_arn
    ] or [{"AuthScheme": "SECRETS", "SecretArn": "SECRET_ARN", "IAMAuth": "REQUIRED"}]
    return (
        f"aws rds modify-db-proxy --region {proxy.region} --db-proxy-name {proxy.name} "
        f"--auth {shlex.quote(json.dumps(auth, separators=(',', ':')))}"
    )


def direct_password(ctx: DoctorContext, proxy: Proxy, target: str) -> Outcome:
    """What the proxy-bypass detector reads (its window, the stored proxies' subnets)."""
    from monitor.judge.detectors.proxy_bypass import ProxyBypassOptions, is_direct
    from monitor.store.evidence import proxy_bypass
    from monitor.store.proxies import auth_event_count
    from monitor.store.sqlite import Store

    path = ctx.config.store.path
    if not path.exists():
        return warn(f"{target}: no evidence in the store (no store yet)", "pgwarden once")
    opts = ProxyBypassOptions.from_config(ctx.config, "proxy-bypass")
    now = ctx.clock.now()
    with Store.open(path, writer=False) as store:
        events = auth_event_count(store, target, now - timedelta(days=opts.window_days))
        # The evidence of every target, read once a doctor run.
        found = ctx.facts.get(DIRECT_LOGINS)
        if not isinstance(found, list):
            found = [x for x in proxy_bypass(store.conn, now, opts).logins if is_direct(x)]
            ctx.facts[DIRECT_LOGINS] = found
    direct = [x for x in found if x.target == target]
    return judge_direct(proxy, target, direct, events, opts.window_days)


def judge_direct(
    proxy: Proxy, target: str, direct: Sequence[PasswordLogin], events: int, days: float
) -> Outcome:
    """Password logins at `target` that came through no proxy (`direct`), out of `events`."""
    window = f"the last {days:g} days"
    if events == 0:
        return warn(
            f"{target}: no evidence in the store: no auth events in {window}",
            f"pgwarden doctor --target {target}  # its logs rows: are its logs read?",
        )
    if not direct:
        return ok(f"{target}: no direct password login in {window} ({events} auth events)")
    around = " around the proxy's IAM requirement" if proxy.iam_only else ""
    hosts = ", ".join(sorted({x.host or "an unknown address" for x in direct}))  # rendered inert
    return warn(
        f"{target}: {sum(x.logins for x in direct)} direct password logins in {window}{around}, "
        f"from {hosts}",
        f"route the password logins to {target} through {proxy.name}, "
        "or take those users' passwords away (ALTER ROLE ... PASSWORD NULL)",
    )
