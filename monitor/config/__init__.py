"""The TOML configuration: pydantic models, and a loader that reports every mistake at once.

Every problem is reported with its dotted path, one line each:

    accounts[1].role_arn: not an IAM role ARN: "arn:aws:iam::12:role"

Unknown keys are errors. Secrets are never written in the file, only referenced: `env:NAME`
for an environment variable, or a Secrets Manager secret ARN.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from monitor.config.checks import (
    cross_checks,
    detector_checks,
    moved_pglogs_keys,
    pglogs_checks,
    retention_checks,
    suppression_checks,
)
from monitor.config.fields import (
    SECTION,
    AccountId,
    EndpointUrl,
    Hostname,
    IpAddress,
    OrgId,
    Port,
    Region,
    RoleArn,
    S3Uri,
    SecretRef,
    TimeOfDay,
    TimeZone,
    describe,
)
from monitor.errors import ConfigError
from monitor.outputs.alerts import budget
from monitor.outputs.alerts.sinks import SlackBotOptions, SlackWebhookOptions
from monitor.sources.pglogs import PgLogsConfig

CONFIG_ENV = "PGWARDEN_CONFIG"
DEFAULT_CONFIG = Path("pgwarden.toml")


class Section(BaseModel):
    model_config = SECTION


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


class SlackConfig(SlackBotOptions, SlackWebhookOptions):
    """`[alerts.slack]`: which Slack sink (monitor/outputs/alerts/sinks.py), its options,
    and the alert budget."""

    enabled: bool = False
    mode: Literal["bot", "webhook"] = "bot"
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
    pglogs and cloudtrail keep theirs in `interval_s`), how missed runs are handled, and how
    long the jobs share one resolution of the targets (`discovery_interval_s`)."""

    grants_interval_s: float = Field(default=3600, gt=0)
    detect_interval_s: float = Field(default=60, gt=0)
    alerts_interval_s: float = Field(default=15, gt=0)
    discovery_interval_s: float = Field(default=300, gt=0)
    misfire_grace_s: int = Field(default=30, ge=1)
    jitter_s: float = Field(default=1, ge=0)


class MetricsConfig(Section):
    enabled: bool = False
    address: IpAddress = "127.0.0.1"
    port: Port = 9187
    # /readyz says no when more than this share of the targets is down at the last poll.
    ready_max_targets_down: float = Field(default=0.5, ge=0, le=1)


class RetentionConfig(Section):
    """`[retention]`: how long the store keeps history (monitor/store/retention.py). `days`
    must cover the longest look-back of an enabled detector (monitor/config/checks.py)."""

    enabled: bool = True
    days: int = Field(default=400, ge=30)
    interval_s: float = Field(default=86400, gt=0)


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
    detectors: dict[str, dict[str, object]] = {}
    suppressions: list[SuppressionConfig] = []
    alerts: AlertsConfig = AlertsConfig()
    reports: ReportsConfig = ReportsConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    metrics: MetricsConfig = MetricsConfig()
    retention: RetentionConfig = RetentionConfig()

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


def validate(raw: Mapping[str, object]) -> Config:
    """Validate a parsed document; raise `ConfigError` listing every problem."""
    problems: list[str] = []
    config: Config | None = None
    moved = moved_pglogs_keys(raw)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        # A moved key gets its hint below instead of pydantic's complaints about its shape.
        problems.extend(line for line in describe(exc) if not line.startswith(tuple(moved)))
    problems.extend(moved.values())
    problems.extend(cross_checks(raw))
    problems.extend(pglogs_checks(raw))
    problems.extend(detector_checks(raw.get("detectors")))
    problems.extend(suppression_checks(raw.get("suppressions")))
    problems.extend(retention_checks(raw))
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
