"""AWS sessions and clients: the only module that makes them.

The management account's *source* credentials come from boto3's default chain (or a named
profile). For each database account pgwarden assumes its monitor role with STS AssumeRole
(RoleSessionName `pgwarden-<hostname>`, the ExternalId from its reference) and keeps the
result as botocore refreshable credentials: refreshed ahead of expiry, at least 5 minutes
before it, and never re-assumed per call. An account may instead name an AWS profile
(e.g. `role_arn` + `credential_source = Ec2InstanceMetadata`), which boto3 resolves.

Callers take typed clients from the factories (`rds()`, `logs()`, ...), so every AWS call
is checked against boto3-stubs; the stubs are imported for type checking only.

IAM actions needed: `sts:AssumeRole` on each monitor role (source credentials);
`rds-db:connect` for the db user (monitor role); `secretsmanager:GetSecretValue` for
ExternalId secrets. Discovery's are in monitor/sources/discovery.py.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypedDict, cast

from monitor.clock import Clock, SystemClock
from monitor.config import AccountConfig, AwsConfig, Config
from monitor.errors import AssumeRoleDenied, AwsError, SecretError
from monitor.sources.targets import Target

if TYPE_CHECKING:
    import boto3
    from botocore.client import BaseClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sts import STSClient
    from mypy_boto3_sts.type_defs import AssumeRoleRequestTypeDef

log = logging.getLogger(__name__)

# Refresh windows for assumed-role credentials. botocore's defaults (15 and 10 minutes)
# would refresh on every call with the shortest allowed duration (900 s); these keep a
# refresh strictly before the last 5 minutes whatever the duration.
MANDATORY_REFRESH_S = 5 * 60
MAX_ADVISORY_REFRESH_S = 15 * 60
# After a denial, don't ask STS again for this long: every target of the account would.
DENIAL_BACKOFF_S = 60
_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "InvalidClientTokenId"}
_SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]")


class GlueTable(TypedDict, total=False):
    Parameters: dict[str, str]


class GlueTableResponse(TypedDict):
    Table: GlueTable


class GlueCatalog(Protocol):
    """The one Glue call pgwarden makes: its stubs (mypy-boto3-glue) are not installed."""

    def get_table(self, *, DatabaseName: str, Name: str) -> GlueTableResponse: ...


def role_session_name(hostname: str | None = None) -> str:
    """`pgwarden-<hostname>`, cut to STS's 64 characters of `[\\w+=,.@-]`."""
    host = _SESSION_NAME_CHARS.sub("-", hostname or socket.gethostname())
    return f"pgwarden-{host}"[:64]


def refresh_windows(duration_s: int) -> tuple[int, int]:
    """(advisory, mandatory) refresh times before expiry for a role session of this length."""
    advisory = max(MANDATORY_REFRESH_S + 60, min(MAX_ADVISORY_REFRESH_S, duration_s // 2))
    return advisory, MANDATORY_REFRESH_S


class AwsSessions:
    """Source and per-account boto3 sessions, and the clients made from them (cached)."""

    def __init__(
        self,
        aws: AwsConfig,
        accounts: list[AccountConfig],
        *,
        clock: Clock | None = None,
        hostname: str | None = None,
    ) -> None:
        self.aws = aws
        self.accounts = {a.id: a for a in accounts}
        self.clock = clock or SystemClock()
        self.session_name = role_session_name(hostname)
        self._lock = threading.RLock()
        self._source: boto3.Session | None = None
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str], BaseClient] = {}
        self._secrets: dict[str, str] = {}
        self._denied: dict[str, tuple[datetime, AssumeRoleDenied]] = {}
        self.assume_role_calls = 0

    @classmethod
    def from_config(
        cls, config: Config, *, clock: Clock | None = None, hostname: str | None = None
    ) -> AwsSessions:
        return cls(config.aws, config.accounts, clock=clock, hostname=hostname)

    # -- sessions ---------------------------------------------------------------------------

    def source(self) -> boto3.Session:
        """The management account's session: default chain, or `[aws].profile`."""
        import boto3

        with self._lock:
            if self._source is None:
                profile = self.aws.profile if self.aws.credential_source == "profile" else None
                self._source = boto3.Session(profile_name=profile, region_name=self.aws.region)
            return self._source

    def account(self, account_id: str) -> boto3.Session:
        """The session for one database account: its monitor role, or its profile."""
        import boto3

        with self._lock:
            if account_id in self._sessions:
                return self._sessions[account_id]
            account = self.accounts[account_id]
            if account.profile:
                session = boto3.Session(profile_name=account.profile, region_name=self.aws.region)
            elif account.role_arn:
                session = self._assumed(account)
            else:
                # No role and no profile: the source credentials already live in the account.
                session = self.source()
            self._sessions[account_id] = session
            return session

    def _assumed(self, account: AccountConfig) -> boto3.Session:
        import boto3
        import botocore.session
        from botocore.credentials import (
            CredentialProvider,
            CredentialResolver,
            DeferredRefreshableCredentials,
        )

        credentials = DeferredRefreshableCredentials(
            refresh_using=lambda: self._assume(account),
            method="pgwarden-assume-role",
            time_fetcher=self.clock.now,
        )
        advisory, mandatory = refresh_windows(self.aws.assume_role_duration_s)
        # botocore reads these per instance; there is no public argument for them.
        credentials._advisory_refresh_timeout = advisory  # type: ignore[attr-defined]
        credentials._mandatory_refresh_timeout = mandatory  # type: ignore[attr-defined]

        class Provider(CredentialProvider):
            METHOD = "pgwarden-assume-role"
            CANONICAL_NAME = "custom-pgwarden-assume-role"

            def load(self) -> DeferredRefreshableCredentials:
                return credentials

        core = botocore.session.Session()
        core.register_component("credential_provider", CredentialResolver([Provider()]))
        core.set_config_variable("region", self.aws.region)
        return boto3.Session(botocore_session=core)

    def _assume(self, account: AccountConfig) -> dict[str, str]:
        """botocore's refresh callback: one AssumeRole, as credential metadata."""
        from botocore.exceptions import ClientError

        assert account.role_arn is not None
        now = self.clock.now()
        denied = self._denied.get(account.id)
        if denied and now < denied[0]:
            raise denied[1]
        params: AssumeRoleRequestTypeDef = {
            "RoleArn": account.role_arn,
            "RoleSessionName": self.session_name,
            "DurationSeconds": self.aws.assume_role_duration_s,
        }
        if account.external_id:
            params["ExternalId"] = self.resolve_secret(account.external_id)
        self.assume_role_calls += 1
        try:
            response = self.sts().assume_role(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") in _DENIED_CODES:
                reason = f"{error.get('Code')}: {error.get('Message', '')}".strip()
                failure = AssumeRoleDenied(account.id, account.role_arn, reason)
                self._denied[account.id] = (now + timedelta(seconds=DENIAL_BACKOFF_S), failure)
                log.warning("%s", failure, extra={"account": account.id})
                raise failure from None
            raise AwsError(f"account {account.id}: AssumeRole failed: {exc}") from None
        self._denied.pop(account.id, None)
        creds = response["Credentials"]
        log.info(
            "assumed %s until %s",
            account.role_arn,
            creds["Expiration"],
            extra={"account": account.id},
        )
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    # -- clients ----------------------------------------------------------------------------

    def client(
        self, service: str, region: str | None = None, account_id: str | None = None
    ) -> BaseClient:
        """A cached client: the source session's, or `account_id`'s (its assumed role).

        Typed only as a botocore client: the factories below give each service's client its
        boto3-stubs type, from this same cache.
        """
        region = region or self.aws.region
        key = (account_id or "", service, region)
        with self._lock:
            if key not in self._clients:
                from botocore.config import Config as BotoConfig

                session = self.account(account_id) if account_id else self.source()
                # The stubs type `client` per service name; this cache takes any name.
                create: Callable[..., BaseClient] = session.client
                self._clients[key] = create(
                    service,
                    region_name=region,
                    endpoint_url=self.aws.endpoint_url,
                    # botocore waits 60 s per attempt by default; a stuck endpoint must not
                    # hold a poll (or a credential refresh) that long.
                    config=BotoConfig(
                        connect_timeout=5,
                        read_timeout=15,
                        retries={"mode": "standard", "max_attempts": 3},
                    ),
                )
            return self._clients[key]

    # Each factory returns the client that `client` made for its service: the cast names
    # the type boto3-stubs gives that service's client.

    def rds(self, region: str | None = None, account_id: str | None = None) -> RDSClient:
        return cast("RDSClient", self.client("rds", region, account_id))

    def ec2(self, region: str | None = None, account_id: str | None = None) -> EC2Client:
        return cast("EC2Client", self.client("ec2", region, account_id))

    def logs(
        self, region: str | None = None, account_id: str | None = None
    ) -> CloudWatchLogsClient:
        return cast("CloudWatchLogsClient", self.client("logs", region, account_id))

    def iam(self, account_id: str | None = None) -> IAMClient:
        return cast("IAMClient", self.client("iam", None, account_id))

    def sts(self, account_id: str | None = None) -> STSClient:
        return cast("STSClient", self.client("sts", None, account_id))

    def s3(self, region: str | None = None) -> S3Client:
        return cast("S3Client", self.client("s3", region))

    def secretsmanager(self, region: str | None = None) -> SecretsManagerClient:
        return cast("SecretsManagerClient", self.client("secretsmanager", region))

    def glue(self, region: str | None = None) -> GlueCatalog:
        return cast("GlueCatalog", self.client("glue", region))

    def token_generator(self, account_id: str, region: str) -> Callable[[str, int, str], str]:
        """A function (host, port, user) -> RDS IAM auth token, signed with the account's role."""
        rds = self.rds(region, account_id)

        def generate(host: str, port: int, user: str) -> str:
            return rds.generate_db_auth_token(
                DBHostname=host, Port=port, DBUsername=user, Region=region
            )

        return generate

    def token_for(self, target: Target) -> str:
        """An RDS IAM token for the target's exact endpoint, port and db user.

        This is the activity source's `TokenSource`: signing is local, but the first call per
        account may assume its role (and raise `AssumeRoleDenied` or `SecretError`).
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            generate = self.token_generator(target.account_id, target.region)
            return generate(target.endpoint, target.port, target.db_user)
        except (BotoCoreError, ClientError) as exc:
            raise AwsError(f"account {target.account_id}: cannot make an IAM token: {exc}") from exc

    # -- secrets ----------------------------------------------------------------------------

    def resolve_secret(self, ref: str) -> str:
        """The value behind `env:NAME` or a Secrets Manager ARN. Never logged."""
        with self._lock:
            if ref in self._secrets:
                return self._secrets[ref]
        if ref.startswith("env:"):
            name = ref[4:]
            value = os.environ.get(name)
            if not value:
                raise SecretError(f"{ref}: environment variable {name} is not set")
        else:
            from botocore.exceptions import BotoCoreError, ClientError

            region = ref.split(":")[3]
            try:
                response = self.secretsmanager(region).get_secret_value(SecretId=ref)
            except (ClientError, BotoCoreError) as exc:
                raise SecretError(f"{ref}: cannot read the secret: {exc}") from None
            value = response.get("SecretString")
            if not value:
                raise SecretError(f"{ref}: the secret has no string value")
        with self._lock:
            self._secrets[ref] = value
        return value
