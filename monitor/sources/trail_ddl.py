"""The Athena table over the organisation trail: `pgwarden trail ddl` writes its DDL, with
partition projection over the configured accounts and every region a trail may write to.

Every value that goes into the text is checked first: the DDL takes no bound parameters.
"""

from __future__ import annotations

import re
from datetime import date

from monitor import sql
from monitor.config import Config
from monitor.errors import ConfigError
from monitor.models import ORG_ID
from monitor.sources.trailsql import check_identifier

# Regions an organisation trail may write to; `trail ddl` projects over these.
REGIONS = (
    "af-south-1",
    "ap-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX = re.compile(r"[A-Za-z0-9!_.*()/-]*")


def ddl(config: Config, start_day: date) -> str:
    """The Athena DDL for the organisation trail, every value checked before it goes in."""
    trail = config.cloudtrail
    problems = []
    if not trail.bucket or not _BUCKET.fullmatch(trail.bucket):
        problems.append(f'cloudtrail.bucket: not an S3 bucket name: "{trail.bucket or ""}"')
    if not _PREFIX.fullmatch(trail.prefix):
        problems.append(
            f'cloudtrail.prefix: characters not allowed in a key prefix: "{trail.prefix}"'
        )
    if trail.org_id is not None and not ORG_ID.fullmatch(trail.org_id):
        problems.append(f'cloudtrail.org_id: not an organisation id (o-...): "{trail.org_id}"')
    accounts = sorted({a.id for a in config.accounts} | set(config.aws.management_accounts))
    if not accounts:
        problems.append("accounts: no [[accounts]] to project over; add at least one")
    try:
        check_identifier(trail.athena_database, "cloudtrail.athena_database")
        check_identifier(trail.athena_table, "cloudtrail.athena_table")
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise ConfigError(problems)
    prefix = trail.prefix.strip("/")
    location = f"s3://{trail.bucket}/" + (f"{prefix}/" if prefix else "") + "AWSLogs/"
    if trail.org_id:
        location += f"{trail.org_id}/"
    values = {
        "table": f"{trail.athena_database}.{trail.athena_table}",
        "location": location,
        "accounts": ",".join(accounts),
        "regions": ",".join(REGIONS),
        "start_day": f"{start_day:%Y/%m/%d}",
    }
    text = sql.load("athena/cloudtrail_ddl")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text
