"""AWS sessions and clients: the only module that makes them.

The management account's *source* credentials come from boto3's default chain (or a named
profile). For each database account pgwarden assumes its monitor role with STS AssumeRole
(RoleSessionName `pgwarden-<hostname>`, the ExternalId from its reference) and keeps the
result as botocore refreshable credentials: refreshed ahead of expiry, at least 5 minutes
before it, and never re-assumed per call. An account may instead name an AWS profile
(e.g. `role_arn` + `credential_source = Ec2InstanceMetadata`), which boto3 resolves.

IAM actions needed: `sts:AssumeRole` on each monitor role (source credentials);
`rds:DescribeDBClusters`, `rds:DescribeDBInstances` for discovery and `rds-db:connect` for
the db user (monitor role); `secretsmanager:GetSecretValue` for ExternalId secrets.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.clock import Clock, SystemClock
from monitor.config import AccountConfig, AwsConfig, Config
from monitor.errors import AssumeRoleDenied, AwsError, DiscoveryError, SecretError
from monitor.sources.targets import Target

if TYPE_CHECKING:
    import boto3

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
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._secrets: dict[str, str] = {}
        self._denied: dict[str, tuple[datetime, AssumeRoleDenied]] = {}
        self.assume_role_calls = 0

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> AwsSessions:
        return cls(config.aws, config.accounts, **kwargs)

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
        params: dict[str, Any] = {
            "RoleArn": account.role_arn,
            "RoleSessionName": self.session_name,
            "DurationSeconds": self.aws.assume_role_duration_s,
        }
        if account.external_id:
            params["ExternalId"] = self.resolve_secret(account.external_id)
        self.assume_role_calls += 1
        try:
            response = self.client("sts").assume_role(**params)
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

    def client(self, service: str, region: str | None = None, account_id: str | None = None) -> Any:
        """A cached client: the source session's, or `account_id`'s (its assumed role)."""
        region = region or self.aws.region
        key = (account_id or "", service, region)
        with self._lock:
            if key not in self._clients:
                from botocore.config import Config as BotoConfig

                session: Any = self.account(account_id) if account_id else self.source()
                self._clients[key] = session.client(
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

    def token_generator(self, account_id: str, region: str) -> Callable[[str, int, str], str]:
        """A function (host, port, user) -> RDS IAM auth token, signed with the account's role."""
        rds = self.client("rds", region, account_id)

        def generate(host: str, port: int, user: str) -> str:
            return str(
                rds.generate_db_auth_token(
                    DBHostname=host, Port=port, DBUsername=user, Region=region
                )
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
                response = self.client("secretsmanager", region).get_secret_value(SecretId=ref)
            except (ClientError, BotoCoreError) as exc:
                raise SecretError(f"{ref}: cannot read the secret: {exc}") from None
            value = response.get("SecretString")
            if not value:
                raise SecretError(f"{ref}: the secret has no string value")
        with self._lock:
            self._secrets[ref] = value
        return value


# -- discovery --------------------------------------------------------------------------------


# What discovery calls in each account that has `discover = true` (monitor role).
DISCOVERY_ACTIONS = ("rds:DescribeDBClusters", "rds:DescribeDBInstances")


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in resource.get("TagList", [])}


def _wanted(tags: dict[str, str], selector: dict[str, str]) -> bool:
    return all(tags.get(k) == v for k, v in selector.items())


def discover_targets(sessions: AwsSessions, config: Config, account: AccountConfig) -> list[Target]:
    """Aurora/RDS PostgreSQL clusters and instances with IAM database auth, in every region.

    Each Aurora instance is its own PostgreSQL server with its own pg_stat_activity: the
    cluster (writer) endpoint shows the writer's sessions only. With `discover_readers`,
    each reader instance becomes a target too, on its instance endpoint, with the
    cluster's `resource_id` (what `rds-db:connect` grants name). Off by default: per-target
    consumers (grants, unused-grant findings) would otherwise count one grant per reader.
    Member instances report IAM auth as off (it is the cluster's setting), so standalone
    instances are judged by their own flag and members by their cluster's.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    found: list[Target] = []
    regions = account.regions or [config.aws.region]
    ca = config.activity.ca_bundle

    def target(name: str, region: str, endpoint: str, port: int, **extra: Any) -> Target:
        return Target(
            name=f"{account.name}/{region}/{name}",
            account_id=account.id,
            account_name=account.name,
            region=region,
            endpoint=endpoint,
            port=port,
            database=account.database,
            db_user=account.db_user,
            ca_bundle=ca,
            discovered=True,
            **extra,
        )

    for region in regions:
        rds = sessions.client("rds", region, account.id)
        try:
            instances = [
                i
                for page in rds.get_paginator("describe_db_instances").paginate()
                for i in page["DBInstances"]
            ]
            clusters = [
                c
                for page in rds.get_paginator("describe_db_clusters").paginate()
                for c in page["DBClusters"]
            ]
        except (ClientError, BotoCoreError) as exc:
            raise DiscoveryError(
                f"account {account.id} region {region}: discovery failed: {exc}"
            ) from None
        by_id = {i["DBInstanceIdentifier"]: i for i in instances}
        for c in clusters:
            tags = _tags(c)
            if not (
                c.get("Engine", "").startswith("aurora-postgresql")
                and c.get("IAMDatabaseAuthenticationEnabled")
                and _wanted(tags, account.discover_tags)
                and c.get("Endpoint")
            ):
                continue
            cluster_id = c["DBClusterIdentifier"]
            ids = {"cluster_id": cluster_id, "resource_id": c.get("DbClusterResourceId")}
            port = int(c.get("Port") or 5432)
            found.append(
                target(
                    cluster_id,
                    region,
                    c["Endpoint"],
                    port,
                    endpoint_type="cluster",
                    tags=tags,
                    **ids,
                )
            )
            for member in c.get("DBClusterMembers", []) if account.discover_readers else []:
                reader = by_id.get(member["DBInstanceIdentifier"]) or {}
                address = (reader.get("Endpoint") or {}).get("Address")
                if member.get("IsClusterWriter") or not address:
                    continue  # the writer is the cluster endpoint's target
                found.append(
                    target(
                        f"{cluster_id}/{member['DBInstanceIdentifier']}",
                        region,
                        address,
                        int(reader["Endpoint"].get("Port") or port),
                        endpoint_type="instance",
                        instance_id=member["DBInstanceIdentifier"],
                        tags=tags,
                        **ids,
                    )
                )
        for i in instances:
            tags = _tags(i)
            endpoint = i.get("Endpoint") or {}
            if not (
                i.get("Engine") == "postgres"
                and not i.get("DBClusterIdentifier")
                and i.get("IAMDatabaseAuthenticationEnabled")
                and _wanted(tags, account.discover_tags)
                and endpoint.get("Address")
            ):
                continue
            found.append(
                target(
                    i["DBInstanceIdentifier"],
                    region,
                    endpoint["Address"],
                    int(endpoint.get("Port") or 5432),
                    endpoint_type="instance",
                    instance_id=i["DBInstanceIdentifier"],
                    resource_id=i.get("DbiResourceId"),
                    tags=tags,
                )
            )
    return found
