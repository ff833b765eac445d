"""The typed client factories of monitor/aws.py: each is the cached client of its service."""

from __future__ import annotations

from monitor.aws import AwsSessions
from monitor.config import AccountConfig, AwsConfig

ACCOUNT = "222222222222"


def test_aws_factories_return_their_services_cached_clients() -> None:
    aws = AwsSessions(
        AwsConfig(region="eu-west-1"), [AccountConfig(id=ACCOUNT, name="data")], hostname="h"
    )
    made = {
        "rds": aws.rds(),
        "logs": aws.logs(),
        "iam": aws.iam(),
        "sts": aws.sts(),
        "s3": aws.s3(),
        "secretsmanager": aws.secretsmanager(),
        "glue": aws.glue(),
    }
    for service, client in made.items():
        assert client is aws.client(service)
        assert client.meta.service_model.service_name == service
    assert aws.rds("us-east-2").meta.region_name == "us-east-2"
    assert aws.rds("eu-west-1", ACCOUNT) is aws.client("rds", "eu-west-1", ACCOUNT)
    assert aws.rds("eu-west-1", ACCOUNT) is not aws.rds("eu-west-1")
