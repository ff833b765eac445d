"""The TOML configuration: pydantic models, and a loader that reports every mistake at once.

Every problem is reported with its dotted path, one line each:

    accounts[1].role_arn: not an IAM role ARN: "arn:aws:iam::12:role"

Unknown keys are errors. Secrets are never written in the file, only referenced: `env:NAME`
for an environment variable, or a Secrets Manager secret ARN.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
import urllib.parse
import zoneinfo
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from monitor.errors import ConfigError
from monitor.outputs.alerts import budget

CONFIG_ENV = "PGWARDEN_CONFIG"
DEFAULT_CONFIG = Path("pgwarden.toml")
DEFAULT_LOG_LINE_PREFIX = "%t:%r:%u@%d:[%p]:"

_ACCOUNT_ID = re.compile(r"\d{12}")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}")
_SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+")
_ENV_REF = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d")
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9-]{1,63})*"
)
_ORG_ID = re.compile(r"o-[a-z0-9]{10,32}")
_S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?")


def _account_id(value: object) -> object:
    if isinstance(value, int):
        # pydantic turns only ValueError into a validation error, so not TypeError here.
        raise ValueError(  # noqa: TRY004
            f"write account ids as quoted strings, or leading zeros are lost: {value}"
        )
    if isinstance(value, str) and not _ACCOUNT_ID.fullmatch(value):
        raise ValueError(f'not a 12-digit AWS account id: "{value}"')
    return value


def _role_arn(value: str) -> str:
    if not _ROLE_ARN.fullmatch(value):
        raise ValueError(f'not an IAM role ARN: "{value}"')
    return value


def _secret_ref(value: str) -> str:
    if _ENV_REF.fullmatch(value) or _SECRET_ARN.fullmatch(value):
        return value
    # Never echo the value: it may be the very secret someone pasted in by mistake.
    raise ValueError(
        "not a secret reference: write env:VARIABLE_NAME or a Secrets Manager secret ARN, "
        "never the secret itself"
    )


def _region(value: str) -> str:
    if not _REGION.fullmatch(value):
        raise ValueError(f'not an AWS region: "{value}"')
    return value


def _hostname(value: str) -> str:
    if not _HOSTNAME.fullmatch(value):
        raise ValueError(f'not a host name: "{value}"')
    return value


def _ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f'not an IP address: "{value}"') from None
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'unknown time zone: "{value}"') from None
    return value


def _hhmm(value: str) -> str:
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value)
    if not match:
        raise ValueError(f'not a time of day as HH:MM: "{value}"')
    return value


def _org_id(value: str) -> str:
    if not _ORG_ID.fullmatch(value):
        raise ValueError(f'not an AWS organisation id (o-...): "{value}"')
    return value


def _s3_uri(value: str) -> str:
    if not _S3_URI.fullmatch(value):
        raise ValueError(f'not an S3 URI (s3://bucket/prefix): "{value}"')
    return value


def check_endpoint_url(value: str) -> str:
    """https://, or http:// to a loopback address only (a local moto or Slack stand-in).

    Plain http elsewhere would carry Slack tokens and AWS-signed requests in clear text.
    """
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme == "https" and parsed.hostname:
        return value
    if parsed.scheme == "http" and parsed.hostname and _loopback(parsed.hostname):
        return value
    raise ValueError(
        f'not an https:// URL: "{value}" (http:// is allowed only to 127.0.0.1, ::1 or localhost)'
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


AccountId = Annotated[str, BeforeValidator(_account_id)]
RoleArn = Annotated[str, AfterValidator(_role_arn)]
SecretRef = Annotated[str, AfterValidator(_secret_ref)]
# The fields typed SecretRef (tests/unit/test_config.py holds this list to them).
SECRET_FIELDS = frozenset({"token", "webhook_url", "external_id"})
Region = Annotated[str, AfterValidator(_region)]
Hostname = Annotated[str, AfterValidator(_hostname)]
IpAddress = Annotated[str, AfterValidator(_ip_address)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
TimeOfDay = Annotated[str, AfterValidator(_hhmm)]
S3Uri = Annotated[str, AfterValidator(_s3_uri)]
EndpointUrl = Annotated[str, AfterValidator(check_endpoint_url)]
OrgId = Annotated[str, AfterValidator(_org_id)]
Port = Annotated[int, Field(ge=1, le=65535)]
Severity = Literal["critical", "high", "medium", "low", "info"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(Section):
    path: Path = Path("pgwarden.db")
    busy_timeout_ms: int = Field(default=5000, ge=0)
    min_free_mb: int = Field(default=256, ge=0)  # doctor warns below this much free space


class AwsConfig(Section):
    region: Region = "us-east-1"
    credential_source: Literal["default-chain", "profile"] = "default-chain"
    profile: str | None = None
    endpoint_url: EndpointUrl | None = None
    assume_role_duration_s: int = Field(default=3600, ge=900, le=43200)
    management_accounts: list[AccountId] = []
    # The role pgwarden runs as: the only principal the monitor roles' trust policy names.
    runner_role_arn: RoleArn | None = None
    # With it, the trust policy also requires the caller to be in this AWS organisation.
    principal_org_id: OrgId | None = None


class AccountConfig(Section):
    id: AccountId
    name: str = Field(min_length=1)
    role_arn: RoleArn | None = None
    profile: str | None = None
    external_id: SecretRef | None = None
    regions: list[Region] = []
    discover: bool = False
    discover_tags: dict[str, str] = {}
    discover_readers: bool = False
    db_user: str = "pgmonitor"
    database: str = "postgres"


class TargetConfig(Section):
    name: str = Field(min_length=1)
    account: str
    region: Region | None = None
    cluster_id: str | None = None
    instance_id: str | None = None
    proxy_name: str | None = None
    endpoint: Hostname
    endpoint_type: Literal["cluster", "reader", "instance", "proxy"] = "cluster"
    port: Port = 5432
    database: str = "postgres"
    db_user: str = "pgmonitor"
    ca_bundle: Path | None = None
    hostaddr: IpAddress | None = None
    insecure_tls: bool = False
    tags: dict[str, str] = {}


class ActivityConfig(Section):
    enabled: bool = True
    interval_s: float = Field(default=10, gt=0)
    max_parallel: int = Field(default=16, ge=1, le=1024)
    connect_timeout_s: int = Field(default=5, ge=1, le=120)
    statement_timeout_ms: int = Field(default=5000, ge=100)
    poll_deadline_s: float = Field(default=8, gt=0)
    capture_query_text: Literal["none", "masked"] = "none"
    max_new_connections_per_s: float = Field(default=20, gt=0, le=200)
    roles_refresh_s: int = Field(default=3600, ge=60)
    ca_bundle: Path | None = None
    reconnect_backoff_s: float = Field(default=1, gt=0)
    # 30 s: after an outage, the database is polled again at most ~30 s after it returns;
    # 20 targets that stay dead cost at most one login attempt each per 15-30 s.
    reconnect_backoff_max_s: float = Field(default=30, gt=0)


class LogFilesConfig(Section):
    """`[[pglogs.files]]`: the log files of one target, so their events are its events."""

    target: str = Field(min_length=1)
    paths: list[Path] = Field(min_length=1)


class PgLogsAthenaConfig(Section):
    """`[pglogs.athena]`: Firehose-delivered logs in S3, read through Athena, or DuckDB over
    a local copy of them (`engine = "local"`, the embedded default)."""

    engine: Literal["local", "athena"] = "local"
    local_dir: Path | None = None
    database: str = "default"
    table: str = "pgwarden_rds_logs"
    workgroup: str = "primary"
    output_location: S3Uri | None = None
    # Where Firehose delivers the logs (the table's LOCATION): the policy grants reading it.
    logs_location: S3Uri | None = None
    region: Region | None = None
    query_deadline_s: float = Field(default=300, gt=0)


class PgLogsConfig(Section):
    enabled: bool = True
    interval_s: float = Field(default=60, gt=0)
    sources: list[Literal["cloudwatch", "rds-api", "athena", "files"]] = ["cloudwatch"]
    log_line_prefix: str = DEFAULT_LOG_LINE_PREFIX
    format: Literal["auto", "stderr", "csvlog", "jsonlog", "iam-db-auth-error"] = "auto"
    files: list[LogFilesConfig] = []
    initial_lookback_hours: int = Field(default=24, ge=1)
    athena: PgLogsAthenaConfig = PgLogsAthenaConfig()


class CloudTrailConfig(Section):
    enabled: bool = True
    engine: Literal["local", "athena"] = "local"
    local_dir: Path | None = None
    bucket: str | None = None
    prefix: str = ""
    org_id: str | None = None
    region: Region | None = None
    athena_database: str = "default"
    athena_table: str = "cloudtrail"
    workgroup: str = "primary"
    output_location: S3Uri | None = None
    query_deadline_s: float = Field(default=600, gt=0)
    result_reuse_minutes: int = Field(default=60, ge=0, le=10080)
    interval_s: float = Field(default=900, gt=0)
    overlap_s: int = Field(default=900, ge=0)
    initial_lookback_days: int = Field(default=7, ge=1)
    watched_roles: list[RoleArn] = []


class SlackConfig(Section):
    enabled: bool = False
    mode: Literal["bot", "webhook"] = "bot"
    token: SecretRef | None = None
    webhook_url: SecretRef | None = None
    base_url: EndpointUrl | None = None
    channel: str = "#pgwarden"
    channels: dict[Severity, str] = {}
    max_per_run: int = Field(default=20, ge=1)
    max_per_detector: int = Field(default=budget.MAX_PER_DETECTOR, ge=1)
    max_per_host: int = Field(default=budget.MAX_PER_HOST, ge=1)
    max_age_hours: float = Field(default=24, gt=0)


class AlertsConfig(Section):
    slack: SlackConfig = SlackConfig()


class ReportsConfig(Section):
    enabled: bool = True
    dir: Path = Path("reports")
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: TimeOfDay = "07:00"
    timezone: TimeZone = "UTC"
    formats: list[Literal["csv", "html"]] = ["csv", "html"]
    s3_uri: S3Uri | None = None
    s3_kms_key_id: str | None = None
    keep_days: int = Field(default=90, ge=1)
    # Report files name users and who may reach which database: owner-only unless set
    # (a TOML octal integer, e.g. 0o640 for a reviewers' group).
    file_mode: int = Field(default=0o600, ge=0, le=0o777)


class SchedulerConfig(Section):
    """`pgwarden run`: intervals of the jobs whose stage has no section of its own (activity,
    pglogs and cloudtrail keep theirs in `interval_s`), and how missed runs are handled."""

    grants_interval_s: float = Field(default=3600, gt=0)
    detect_interval_s: float = Field(default=60, gt=0)
    alerts_interval_s: float = Field(default=15, gt=0)
    misfire_grace_s: int = Field(default=30, ge=1)
    jitter_s: float = Field(default=1, ge=0)


class MetricsConfig(Section):
    enabled: bool = False
    address: IpAddress = "127.0.0.1"
    port: Port = 9187
    # /readyz says no when more than this share of the targets is down at the last poll.
    ready_max_targets_down: float = Field(default=0.5, ge=0, le=1)


class SuppressionConfig(Section):
    detector: str
    # A glob over the finding's subject, e.g. "orders-writer/host/10.0.*".
    subject: str = "*"
    until: date
    reason: str = Field(min_length=1)


class Config(Section):
    """The whole file. Relative paths are relative to the file's directory."""

    store: StoreConfig = StoreConfig()
    aws: AwsConfig = AwsConfig()
    accounts: list[AccountConfig] = []
    targets: list[TargetConfig] = []
    activity: ActivityConfig = ActivityConfig()
    pglogs: PgLogsConfig = PgLogsConfig()
    cloudtrail: CloudTrailConfig = CloudTrailConfig()
    detectors: dict[str, dict[str, Any]] = {}
    suppressions: list[SuppressionConfig] = []
    alerts: AlertsConfig = AlertsConfig()
    reports: ReportsConfig = ReportsConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    metrics: MetricsConfig = MetricsConfig()

    def account(self, ref: str) -> AccountConfig:
        """The account a target names, by id or by name."""
        for account in self.accounts:
            if ref in (account.id, account.name):
                return account
        raise KeyError(ref)


def named_config(explicit: Path | None) -> tuple[Path, str] | None:
    """The config file named by `--config`, then `$PGWARDEN_CONFIG`, and which named it."""
    if explicit is not None:
        return explicit, "--config"
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]), f"${CONFIG_ENV}"
    return None


def find_config(explicit: Path | None) -> Path:
    """`--config`, then `$PGWARDEN_CONFIG`, then `./pgwarden.toml`."""
    candidate, origin = named_config(explicit) or (DEFAULT_CONFIG, "the default")
    if not candidate.is_file():
        raise ConfigError(
            [
                f"{candidate}: config file not found (from {origin}); "
                "copy config.example.toml there or pass --config PATH"
            ]
        )
    return candidate


def load_config(path: Path) -> Config:
    """Read, parse and validate a config file; raise `ConfigError` with every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read config: {exc}"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)".
        raise ConfigError([f"{path}: TOML syntax error: {exc}"]) from None
    return resolve_paths(validate(raw), path.resolve().parent)


def validate(raw: Mapping[str, Any]) -> Config:
    """Validate a parsed document; raise `ConfigError` listing every problem."""
    problems: list[str] = []
    config: Config | None = None
    moved = _moved_pglogs_keys(raw)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        # A moved key gets its hint below instead of pydantic's complaints about its shape.
        problems.extend(line for line in _describe(exc) if not line.startswith(tuple(moved)))
    problems.extend(moved.values())
    problems.extend(_cross_checks(raw))
    problems.extend(_pglogs_checks(raw))
    problems.extend(_detector_checks(raw.get("detectors")))
    problems.extend(_suppression_checks(raw.get("suppressions")))
    if problems or config is None:
        raise ConfigError(sorted(set(problems), key=problems.index))
    return config


def resolve_paths(config: Config, base: Path) -> Config:
    """Make the file's relative paths relative to its own directory, not the caller's."""

    def fix(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    def fix_optional(p: Path | None) -> Path | None:
        return None if p is None else fix(p)

    return config.model_copy(
        update={
            "store": config.store.model_copy(update={"path": fix(config.store.path)}),
            "targets": [
                t.model_copy(update={"ca_bundle": fix_optional(t.ca_bundle)})
                for t in config.targets
            ],
            "activity": config.activity.model_copy(
                update={"ca_bundle": fix_optional(config.activity.ca_bundle)}
            ),
            "pglogs": config.pglogs.model_copy(
                update={
                    "files": [
                        f.model_copy(update={"paths": [fix(p) for p in f.paths]})
                        for f in config.pglogs.files
                    ],
                    "athena": config.pglogs.athena.model_copy(
                        update={"local_dir": fix_optional(config.pglogs.athena.local_dir)}
                    ),
                }
            ),
            "cloudtrail": config.cloudtrail.model_copy(
                update={"local_dir": fix_optional(config.cloudtrail.local_dir)}
            ),
            "reports": config.reports.model_copy(update={"dir": fix(config.reports.dir)}),
        }
    )


def dotted(loc: Iterable[int | str]) -> str:
    """('accounts', 1, 'role_arn') -> 'accounts[1].role_arn'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False):
        loc = prefix + tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            message = "unknown key"
        elif kind == "missing":
            message = "required"
        elif kind == "value_error":
            message = str(error["ctx"]["error"])
        elif SECRET_FIELDS.intersection(str(part) for part in loc):
            # A secret field's input may be the secret itself, pasted in: never echo it.
            message = f"{error['msg']} (value not shown: write env:NAME or a secret ARN)"
        else:
            shown = json.dumps(error["input"], default=str)
            message = f"{error['msg']} (got {shown[:80]})"
        lines.append(f"{dotted(loc)}: {message}")
    return lines


def _cross_checks(raw: Mapping[str, Any]) -> list[str]:
    """Checks across sections. They read the raw document so they run even when fields fail."""
    problems: list[str] = []
    accounts = _list_of_tables(raw.get("accounts"))
    known_accounts: set[str] = set()
    for i, account in accounts:
        ident, name = account.get("id"), account.get("name")
        for key in (ident, name):
            if isinstance(key, str):
                known_accounts.add(key)
        if account.get("role_arn") and account.get("profile"):
            problems.append(f"accounts[{i}]: set role_arn or profile, not both")
        role = account.get("role_arn")
        match = _ROLE_ARN.fullmatch(role) if isinstance(role, str) else None
        if match and isinstance(ident, str) and match.group(1) != ident:
            problems.append(
                f"accounts[{i}].role_arn: role is in account {match.group(1)}, "
                f"but the account id is {ident}"
            )
    _duplicates(problems, "accounts", accounts, "id")
    _duplicates(problems, "accounts", accounts, "name")

    targets = _list_of_tables(raw.get("targets"))
    _duplicates(problems, "targets", targets, "name")
    for i, target in targets:
        account_ref = target.get("account")
        if isinstance(account_ref, str) and account_ref not in known_accounts:
            problems.append(
                f'targets[{i}].account: no [[accounts]] entry has id or name "{account_ref}"'
            )
        ids = [k for k in ("cluster_id", "instance_id", "proxy_name") if target.get(k)]
        if len(ids) != 1:
            problems.append(
                f"targets[{i}]: set exactly one of cluster_id, instance_id or proxy_name"
                + (f" (found {', '.join(ids)})" if ids else "")
            )
        if target.get("endpoint_type") == "proxy" and not target.get("proxy_name"):
            problems.append(f"targets[{i}].proxy_name: required when endpoint_type is proxy")
    activity = _table(raw, "activity")
    interval, deadline = activity.get("interval_s", 10), activity.get("poll_deadline_s", 8)
    numbers = all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in (interval, deadline)
    )
    if numbers and deadline >= interval:
        # A poll that may outlast its interval would push every later poll back.
        problems.append(
            f"activity.poll_deadline_s: {deadline} must be shorter than interval_s ({interval})"
        )

    aws = _table(raw, "aws")
    runner = aws.get("runner_role_arn")
    match = _ROLE_ARN.fullmatch(runner) if isinstance(runner, str) else None
    mgmt = aws.get("management_accounts")
    if match and isinstance(mgmt, list) and mgmt and match.group(1) not in mgmt:
        problems.append(
            f"aws.runner_role_arn: role is in account {match.group(1)}, which "
            "aws.management_accounts does not list"
        )
    slack = _table(_table(raw, "alerts"), "slack")
    if slack.get("enabled"):
        needed = "token" if slack.get("mode", "bot") == "bot" else "webhook_url"
        if not slack.get(needed):
            problems.append(f"alerts.slack.{needed}: required when alerts are enabled")
    trail = _table(raw, "cloudtrail")
    if trail.get("enabled", True):
        engine = trail.get("engine", "local")
        if engine == "athena" and not trail.get("output_location"):
            problems.append("cloudtrail.output_location: required when engine is athena")
    return problems


def _table(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def _list_of_tables(value: object) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _duplicates(
    problems: list[str], section: str, items: list[tuple[int, dict[str, Any]]], key: str
) -> None:
    first: dict[object, int] = {}
    for i, item in items:
        value = item.get(key)
        if not isinstance(value, str):
            continue
        if value in first:
            problems.append(
                f'{section}[{i}].{key}: duplicate "{value}" (also {section}[{first[value]}])'
            )
        else:
            first[value] = i


def _detector_checks(raw: object) -> list[str]:
    from monitor.judge.detectors.registry import known_detectors

    if not isinstance(raw, dict):
        return []
    known = known_detectors()
    problems: list[str] = []
    for name, options in raw.items():
        if name not in known:
            listed = ", ".join(sorted(known)) or "none yet"
            problems.append(f"detectors.{name}: unknown detector; known: {listed}")
            continue
        try:
            known[name].model_validate(options)
        except ValidationError as exc:
            problems.extend(_describe(exc, ("detectors", name)))
    return problems


def _suppression_checks(raw: object) -> list[str]:
    from monitor.judge.detectors.registry import known_detectors

    known = known_detectors()
    return [
        f"suppressions[{i}].detector: unknown detector; known: {', '.join(sorted(known))}"
        for i, item in _list_of_tables(raw)
        if isinstance(item.get("detector"), str) and item["detector"] not in known
    ]


def _moved_pglogs_keys(raw: Mapping[str, Any]) -> dict[str, str]:
    """Keys of `[pglogs]` written the old way: the dotted prefix, and how to write it now."""
    pglogs = _table(raw, "pglogs")
    moved: dict[str, str] = {}
    files = pglogs.get("files")
    if isinstance(files, list) and any(not isinstance(f, dict) for f in files):
        moved["pglogs.files"] = (
            "pglogs.files: a flat list no longer says whose logs they are; write one "
            '[[pglogs.files]] table per target: target = "NAME", paths = ["..."]'
        )
    for old, new in (("athena_table", "table"), ("athena_local_dir", "local_dir")):
        if old in pglogs:
            moved[f"pglogs.{old}"] = f"pglogs.{old}: moved; write {new} = ... under [pglogs.athena]"
    return moved


def _pglogs_checks(raw: Mapping[str, Any]) -> list[str]:
    """Which targets file lists name, and what the Athena log source needs."""
    problems: list[str] = []
    pglogs = _table(raw, "pglogs")
    named = {t.get("name") for _, t in _list_of_tables(raw.get("targets"))}
    discovers = any(a.get("discover") for _, a in _list_of_tables(raw.get("accounts")))
    for i, entry in _list_of_tables(pglogs.get("files")):
        target = entry.get("target")
        # A discovered target's name ("account/region/cluster") is known only at run time.
        if isinstance(target, str) and target not in named and not discovers:
            problems.append(
                f'pglogs.files[{i}].target: no [[targets]] entry is named "{target}" and no '
                "account has discover = true"
            )
    sources = pglogs.get("sources", ["cloudwatch"])
    athena = _table(pglogs, "athena")
    if pglogs.get("enabled", True) and isinstance(sources, list) and "athena" in sources:
        engine = athena.get("engine", "local")
        if engine == "local" and not athena.get("local_dir"):
            problems.append(
                "pglogs.athena.local_dir: required when the athena source runs locally "
                '(or set engine = "athena")'
            )
        for key in ("output_location", "logs_location"):
            if engine == "athena" and not athena.get(key):
                problems.append(f"pglogs.athena.{key}: required when engine is athena")
    return problems
