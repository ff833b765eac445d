"""Per-target checks through the database itself, logged in exactly as the activity poller
does (an IAM token for the endpoint, verify-full TLS: `activity.conninfo`).

The login works; the user holds `rds_iam` and `pg_monitor` (or `pg_read_all_stats`);
`log_line_prefix` is the one pgwarden parses with; whether the log format lets a client
forge log lines; the server version; and whether `pg_stat_activity` shows other users'
`client_addr`.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from monitor import sql
from monitor.doctor.accounts import account_key, role_policy_fix
from monitor.doctor.checks import DoctorContext, Outcome, fail, group, ok, warn
from monitor.doctor.rds import DbFacts, connect_key, modify_command, rds_facts
from monitor.judge.remedy import quote_ident
from monitor.sources.targets import Target

CHECKS = ("login", "tls", "roles", "log_line_prefix", "log_forgery", "version", "client_addr")
# `connection authenticated` lines (who logged in, and how) start with PostgreSQL 14.
MIN_VERSION_NUM = 140000
RDS_CA_BUNDLE = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"


@dataclass(frozen=True)
class ServerFacts:
    """One row of queries/doctor/database.sql."""

    db_user: str
    rds_iam: bool
    pg_monitor: bool
    read_all_stats: bool
    log_line_prefix: str
    server_version: str
    server_version_num: int
    other_sessions: int
    hidden_sessions: int
    log_destination: str = "stderr"


@group("database", CHECKS)
def check_database(ctx: DoctorContext) -> None:
    for target in ctx.targets:
        name = target.name
        if ctx.skip_if_blocked("database", name, CHECKS, account_key(target.account_id)):
            continue
        found: list[ServerFacts] = []

        def login(target: Target = target, found: list[ServerFacts] = found) -> Outcome:
            return log_in(ctx, target, found)

        if ctx.attempt("database", name, "login", login).status == "fail" or not found:
            ctx.block(f"login:{name}", "the login failed", f"the database {name} login row")
            ctx.skip_if_blocked("database", name, CHECKS[1:], f"login:{name}")
            continue
        facts = found[0]
        ctx.record("database", name, "tls", judge_tls(target))
        ctx.record("database", name, "roles", judge_roles(facts))
        prefix = ctx.config.pglogs.log_line_prefix
        ctx.record("database", name, "log_line_prefix", judge_prefix(facts, prefix))
        fmt = ctx.config.pglogs.format
        ctx.record("database", name, "log_forgery", judge_log_forgery(facts, fmt))
        ctx.record("database", name, "version", judge_version(facts, rds_facts(ctx, target)))
        ctx.record("database", name, "client_addr", judge_client_addr(facts))


def log_in(ctx: DoctorContext, target: Target, found: list[ServerFacts]) -> Outcome:
    import psycopg

    from monitor.sources.activity import conninfo

    if target.ca_bundle is not None and not target.ca_bundle.is_file():
        return fail(f"CA bundle not found: {target.ca_bundle}", bundle_fix(target))
    if target.insecure_tls and target.ca_bundle is None:
        return fail("insecure_tls needs a ca_bundle to check the chain against", bundle_fix(target))
    token = ctx.aws.token_for(target)
    params = conninfo(target, token, ctx.config.activity)
    try:
        with psycopg.connect(autocommit=True, **params) as conn:
            conn.execute(
                sql.load("doctor/session"), (str(ctx.config.activity.statement_timeout_ms),)
            )
            row = conn.execute(sql.load("doctor/database")).fetchall()[0]
    except psycopg.OperationalError as exc:
        message = " ".join(str(exc).split())
        resource = ctx.facts.get(connect_key(target))
        role_arn = ctx.config.account(target.account_id).role_arn
        fix = login_fix(message, target, rds_facts(ctx, target), resource, role_arn)
        return fail(message[:300], fix)
    found.append(ServerFacts(*row))
    return ok(f"{target.db_user}@{target.endpoint}:{target.port} with an IAM token")


# -- judges (pure) ------------------------------------------------------------------------------


def judge_tls(target: Target) -> Outcome:
    if not target.insecure_tls:
        return ok("verify-full: the chain and the host name are checked")
    return fail(
        "insecure_tls: verify-ca, the chain is checked but not the host name; a server with"
        " any certificate from this CA would receive the IAM token",
        f"dial the name on the certificate as endpoint (with hostaddr = the IP to dial, if"
        f" DNS cannot resolve it), then remove insecure_tls from the {target.name} target",
    )


def bundle_fix(target: Target) -> str:
    path = target.ca_bundle or "/etc/pgwarden/rds-global-bundle.pem"
    return f"curl -fsSo {shlex.quote(str(path))} {RDS_CA_BUNDLE}"


def login_fix(
    message: str,
    target: Target,
    db: DbFacts | None,
    resource_id: object,
    role_arn: str | None,
) -> str:
    """The fix for a refused login, from libpq's message."""
    user = quote_ident(target.db_user)
    if "PAM authentication failed" in message:
        # RDS checks the token: signed by a principal allowed rds-db:connect on this
        # resource and user, for the host name and port that are dialled.
        resource = resource_id if isinstance(resource_id, str) and resource_id else "RESOURCE_ID"
        arn = (
            f"arn:aws:rds-db:{target.region}:{target.account_id}:dbuser:{resource}/{target.db_user}"
        )
        return role_policy_fix(role_arn, "pgwarden-connect", ["rds-db:connect"], arn)
    if "password authentication failed" in message or "no pg_hba.conf entry" in message:
        # Without rds_iam, RDS checks the token as if it were a password.
        return f"GRANT rds_iam TO {user};"
    if "role" in message and "does not exist" in message:
        return f"CREATE ROLE {user} LOGIN; GRANT rds_iam, pg_monitor TO {user};"
    if "database" in message and "does not exist" in message:
        return f'database = "postgres"  # in [[targets]] {target.name}: a database that exists'
    if "does not match host name" in message:
        return (
            f'endpoint = "THE_RDS_ENDPOINT_NAME"  # in [[targets]] {target.name}; the '
            'certificate names it; to dial another address, add hostaddr = "IP"'
        )
    if "certificate" in message or "SSL" in message:
        return bundle_fix(target)
    if any(s in message for s in ("timeout", "timed out", "refused", "translate host", "route")):
        group_id = db.security_groups[0] if db and db.security_groups else "SECURITY_GROUP_ID"
        return (
            f"aws ec2 authorize-security-group-ingress --region {target.region} --group-id "
            f"{group_id} --protocol tcp --port {target.port} --cidr THIS_HOST_IP/32"
        )
    return (
        f"PGPASSWORD=$(aws rds generate-db-auth-token --region {target.region} --hostname "
        f"{target.endpoint} --port {target.port} --username {target.db_user}) psql "
        f"'host={target.endpoint} port={target.port} dbname={target.database} "
        f"user={target.db_user} sslmode=verify-full'"
    )


def judge_roles(facts: ServerFacts) -> Outcome:
    held = [n for n, has in (("rds_iam", facts.rds_iam), ("pg_monitor", facts.pg_monitor)) if has]
    if facts.read_all_stats and not facts.pg_monitor:
        held.append("pg_read_all_stats")
    user = quote_ident(facts.db_user)
    missing = []
    if not facts.rds_iam:
        missing.append(("rds_iam", f"GRANT rds_iam TO {user};"))
    if not facts.read_all_stats:
        missing.append(("pg_monitor", f"GRANT pg_monitor TO {user};"))
    if not missing:
        return ok(f"{facts.db_user} holds {', '.join(held)}")
    names = " and ".join(n for n, _ in missing)
    return fail(
        f"{facts.db_user} lacks {names} (holds {', '.join(held) or 'neither'})",
        " ".join(statement for _, statement in missing),
    )


def judge_prefix(facts: ServerFacts, configured: str) -> Outcome:
    if facts.log_line_prefix == configured:
        return ok(f"log_line_prefix = {facts.log_line_prefix!r}, as [pglogs] expects")
    return fail(
        f"the server writes log_line_prefix {facts.log_line_prefix!r}, [pglogs] parses "
        f"{configured!r}: login lines would not be read",
        # A JSON string is a valid TOML basic string.
        f"log_line_prefix = {json.dumps(facts.log_line_prefix)}  # in [pglogs]",
    )


def judge_log_forgery(facts: ServerFacts, fmt: str) -> Outcome:
    """Which setup resists forged log lines, and whether this one does.

    PostgreSQL writes a refused client's user and database names (and application_name)
    into the stderr prefix as sent, before authentication, newlines included; the message
    is safe, as elog.c puts a tab after each of its newlines. csvlog quotes every field and
    doubles the quotes in it, jsonlog escapes them (PostgreSQL 15 docs, 20.8.4 and 20.8.5),
    so no name can end its field or start an entry. RDS offers stderr and csvlog; adding
    csvlog to log_destination writes both (AWS RDS User Guide, "Setting the log
    destination (stderr, csvlog)"). With stderr, pgwarden refuses entries a name could
    have forged, and counts them from the time and host the prefix writes before any
    client-chosen value: a prefix must start with those.
    """
    from monitor.parsing.pglog_prefix import HOSTILE, PrefixError, compile_prefix

    written = [d.strip() for d in facts.log_destination.split(",")]
    found = f"log_destination = {facts.log_destination!r}, pgwarden reads {fmt}"
    robust = next((d for d in written if d in ("csvlog", "jsonlog")), None)
    if robust and fmt == robust:
        return ok(f"{found}: fields are quoted, no client-chosen name can forge a log line")
    if robust:
        return warn(
            f"{found}: the server also writes {robust}, whose quoted fields no client can "
            "forge; stderr lets a user or database name write what looks like log lines",
            f'format = "{robust}"  # in [pglogs], with the .{robust[:-3]} files as sources',
        )
    prefix = facts.log_line_prefix
    chosen = [f"%{e}" for e in sorted(HOSTILE) if f"%{e}" in prefix]
    if not chosen:
        return ok(f"{found}; log_line_prefix {prefix!r} holds no client-chosen value")
    try:
        trusted = compile_prefix(prefix).trusted
    except PrefixError:
        trusted = frozenset()
    if trusted & {"t", "m", "n"} and trusted & {"r", "h"}:
        return ok(
            f"{found}; log_line_prefix {prefix!r} holds {', '.join(chosen)}, which a client "
            "sets before it logs in: entries such names could forge are refused as "
            "evidence (log-injection findings). csvlog cannot be forged at all: "
            "log_destination = 'stderr,csvlog' (on RDS, in the DB parameter group)"
        )
    return warn(
        f"{found}; log_line_prefix {prefix!r} writes {', '.join(chosen)} (client-chosen) "
        "before the time or the client host: a forged entry cannot be traced to its sender",
        "log_line_prefix = '%t:%r:%u@%d:[%p]:' (time and host first), or "
        "log_destination = 'stderr,csvlog' and format = \"csvlog\" in [pglogs]",
    )


def judge_version(facts: ServerFacts, db: DbFacts | None) -> Outcome:
    found = f"PostgreSQL {facts.server_version}"
    if facts.server_version_num >= MIN_VERSION_NUM:
        return ok(found)
    return warn(
        f"{found}: before 14 the log has no 'connection authenticated' lines (who, by which "
        "method)",
        f"{modify_command(db) if db else 'aws rds modify-db-cluster --db-cluster-identifier ID'}"
        " --engine-version NEW_VERSION --allow-major-version-upgrade --apply-immediately",
    )


def judge_client_addr(facts: ServerFacts) -> Outcome:
    if facts.read_all_stats:
        return ok(f"sees client_addr of other users' sessions ({facts.other_sessions} now)")
    return fail(
        f"{facts.hidden_sessions} of {facts.other_sessions} other users' sessions show "
        "client_addr NULL: without pg_read_all_stats (pg_monitor grants it), "
        "pg_stat_activity hides other users' address, state and query",
        f"GRANT pg_monitor TO {quote_ident(facts.db_user)};",
    )
