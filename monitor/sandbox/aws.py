"""AWS for the sandbox: moto as a real HTTP server on 127.0.0.1, and what the accounts hold.

moto keeps accounts apart by credentials: static keys act in its default account, and the
credentials of an AssumeRole into `arn:aws:iam::A:role/R` act in account A. So everything
an account holds is created with credentials assumed into that account, as its own admins
would. moto does not enforce trust policies or ExternalId (see TEST-STACK.md): the trust
policies are still written, because the grants stage reads them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sts import STSClient

REGION = "us-east-1"
MONITOR_ROLE = "pg-monitor-role"


class MotoSandbox:
    """`ThreadedMotoServer` on a free port of 127.0.0.1; `close()` stops it."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        # werkzeug logs every request at INFO, and the traceback of each call moto does not
        # implement (DescribeDBProxyEndpoints): pgwarden notes that failed call itself.
        werkzeug = logging.getLogger("werkzeug")
        werkzeug.setLevel(logging.ERROR)
        werkzeug.addFilter(_implemented)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def client(self, service: str, credentials: Mapping[str, str] | None = None) -> BaseClient:
        """A boto3 client at the server: static keys, or credentials from `assume`."""
        import boto3

        keys = dict(credentials or {"aws_access_key_id": "testing"})
        session = boto3.Session(
            aws_access_key_id=keys["aws_access_key_id"],
            aws_secret_access_key=keys.get("aws_secret_access_key", "testing"),
            aws_session_token=keys.get("aws_session_token"),
            region_name=REGION,
        )
        # The stubs type `client` per service name; this takes any name.
        create: Callable[..., BaseClient] = session.client
        return create(service, endpoint_url=self.url)

    # The typed factories: each names the type boto3-stubs gives its service's client.

    def sts(self) -> STSClient:
        return cast("STSClient", self.client("sts"))

    def rds(self, credentials: Mapping[str, str]) -> RDSClient:
        return cast("RDSClient", self.client("rds", credentials))

    def assume(self, role_arn: str, session: str = "sandbox-admin") -> dict[str, str]:
        """Credentials that act in the role's account."""
        creds = self.sts().assume_role(RoleArn=role_arn, RoleSessionName=session)
        c = creds["Credentials"]
        return {
            "aws_access_key_id": c["AccessKeyId"],
            "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"],
        }

    def close(self) -> None:
        self._server.stop()


def _implemented(record: logging.LogRecord) -> bool:
    return "action has not been implemented" not in record.getMessage()


def role_arn(account_id: str, name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{name}"


def trust_policy(trusted_account: str, external_id: str | None = None) -> dict[str, object]:
    """Who may assume a role: `trusted_account`'s principals, with the ExternalId if given."""
    statement: dict[str, object] = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{trusted_account}:root"},
        "Action": "sts:AssumeRole",
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return {"Version": "2012-10-17", "Statement": [statement]}


@dataclass(frozen=True)
class Cluster:
    """An Aurora PostgreSQL cluster record, as discovery and the grants stage see it."""

    account_id: str
    cluster_id: str
    endpoint: str
    port: int
    resource_id: str


@dataclass(frozen=True)
class SandboxProxy:
    """A PostgreSQL RDS Proxy record in front of a sandbox cluster."""

    name: str
    endpoint: str
    arn: str
    networks: tuple[str, ...]  # its subnets' CIDR blocks

    @property
    def log_group(self) -> str:
        return f"/aws/rds/proxy/{self.name}"

    @property
    def resource_id(self) -> str:
        """prx-...: what rds-db:connect grants name for a proxy."""
        return self.arn.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class ConnectGrant:
    """A role allowed `rds-db:connect` as `db_user`, and who may assume the role."""

    role: str
    db_user: str
    trusted_account: str
    external_id: str | None = None


class Account:
    """One database account, acted on with credentials assumed into it."""

    def __init__(self, moto: MotoSandbox, account_id: str) -> None:
        self.moto = moto
        self.account_id = account_id
        self.credentials = moto.assume(role_arn(account_id, "OrganizationAccountAccessRole"))

    def client(self, service: str) -> BaseClient:
        return self.moto.client(service, self.credentials)

    def rds(self) -> RDSClient:
        return self.moto.rds(self.credentials)

    def iam(self) -> IAMClient:
        return cast("IAMClient", self.client("iam"))

    def logs(self) -> CloudWatchLogsClient:
        return cast("CloudWatchLogsClient", self.client("logs"))

    def ec2(self) -> EC2Client:
        return cast("EC2Client", self.client("ec2"))

    def create_cluster(self, cluster_id: str, port: int) -> Cluster:
        """An Aurora PostgreSQL cluster set up as pgwarden asks: IAM database authentication,
        both logs exported to CloudWatch, and a parameter group that logs connections."""
        rds = self.rds()
        group = f"{cluster_id}-aurora-postgresql15"
        rds.create_db_cluster_parameter_group(
            DBClusterParameterGroupName=group,
            DBParameterGroupFamily="aurora-postgresql15",
            Description="log connections, TLS only",
        )
        rds.modify_db_cluster_parameter_group(
            DBClusterParameterGroupName=group,
            Parameters=[
                {"ParameterName": name, "ParameterValue": "1", "ApplyMethod": "immediate"}
                for name in ("log_connections", "log_disconnections", "rds.force_ssl")
            ],
        )
        c = rds.create_db_cluster(
            DBClusterIdentifier=cluster_id,
            Engine="aurora-postgresql",
            EngineVersion="15.4",
            MasterUsername="postgres",
            MasterUserPassword="not-used-by-the-sandbox",
            Port=port,
            EnableIAMDatabaseAuthentication=True,
            EnableCloudwatchLogsExports=["postgresql", "iam-db-auth-error"],
            DBClusterParameterGroupName=group,
            Tags=[{"Key": "pgwarden", "Value": "monitor"}],
        )["DBCluster"]
        return Cluster(
            self.account_id, cluster_id, c["Endpoint"], int(c["Port"]), c["DbClusterResourceId"]
        )

    def grant_connect(self, cluster: Cluster, grant: ConnectGrant) -> str:
        """Create the role if new, and attach a managed policy allowing connect as one db user."""
        iam = self.iam()
        arn = role_arn(self.account_id, grant.role)
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_role(
                RoleName=grant.role,
                AssumeRolePolicyDocument=json.dumps(
                    trust_policy(grant.trusted_account, grant.external_id)
                ),
            )
        resource = (
            f"arn:aws:rds-db:{REGION}:{self.account_id}:dbuser:"
            f"{cluster.resource_id}/{grant.db_user}"
        )
        document = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "rds-db:connect", "Resource": resource}],
        }
        policy = iam.create_policy(
            PolicyName=f"{grant.role}-connect-{cluster.cluster_id}-{grant.db_user}",
            PolicyDocument=json.dumps(document),
        )["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=grant.role, PolicyArn=policy)
        return arn

    def ship_logs(self, cluster_id: str, stream: str, lines: Iterable[str]) -> int:
        """What RDS's log export does: server log lines into the cluster's log group. The
        iam-db-auth-error group is made too, empty: the sandbox's tokens fail in PAM."""
        logs = self.logs()
        base = f"/aws/rds/cluster/{cluster_id}"
        for group in (f"{base}/postgresql", f"{base}/iam-db-auth-error"):
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=group)
        group = f"{base}/postgresql"
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        now_ms = int(time.time() * 1000)
        messages = list(lines)
        # One millisecond apart, in order, ending now: CloudWatch sorts a stream by timestamp.
        events: list[InputLogEventTypeDef] = [
            {"timestamp": now_ms - len(messages) + i, "message": line}
            for i, line in enumerate(messages)
        ]
        for start in range(0, len(events), 1000):  # PutLogEvents takes 10,000; stay well under
            logs.put_log_events(
                logGroupName=group, logStreamName=stream, logEvents=events[start : start + 1000]
            )
        return len(events)

    def create_proxy(
        self,
        cluster: Cluster,
        name: str,
        *,
        iam_auth: Literal["REQUIRED", "ENABLED", "DISABLED"] = "REQUIRED",
        networks: tuple[str, ...] = ("10.20.1.0/24", "10.20.2.0/24"),
        debug_logging: bool = False,
        log_group: bool = True,
    ) -> SandboxProxy:
        """A PostgreSQL proxy in front of `cluster`, as an admin makes one: two subnets of a
        VPC of its own, a secret with the database user's password, the cluster registered
        as its target; and with `log_group` its log group, as RDS creates it."""
        ec2 = self.ec2()
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=c)["Subnet"]["SubnetId"] for c in networks
        ]
        secrets = cast("SecretsManagerClient", self.client("secretsmanager"))
        secret = secrets.create_secret(
            Name=f"{name}-app",
            SecretString=json.dumps({"username": "app", "password": "not-used-by-the-sandbox"}),
        )["ARN"]
        iam = self.iam()
        with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
            iam.create_role(
                RoleName=f"{name}-secrets",
                AssumeRolePolicyDocument=json.dumps(trust_policy(self.account_id)),
            )
        rds = self.rds()
        proxy = rds.create_db_proxy(
            DBProxyName=name,
            EngineFamily="POSTGRESQL",
            Auth=[
                {
                    "AuthScheme": "SECRETS",
                    "SecretArn": secret,
                    "IAMAuth": iam_auth,
                    "ClientPasswordAuthType": "POSTGRES_SCRAM_SHA_256",
                }
            ],
            RoleArn=role_arn(self.account_id, f"{name}-secrets"),
            VpcSubnetIds=subnets,
            RequireTLS=True,
            DebugLogging=debug_logging,
        )["DBProxy"]
        rds.register_db_proxy_targets(DBProxyName=name, DBClusterIdentifiers=[cluster.cluster_id])
        made = SandboxProxy(name, proxy["Endpoint"], proxy["DBProxyArn"], networks)
        if log_group:
            logs = self.logs()
            with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
                logs.create_log_group(logGroupName=made.log_group)
        return made
