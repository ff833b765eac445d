"""CloudTrail files in the real S3 layout: `AWSLogs/ACCT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz`,
each `{"Records": [...]}` as CloudTrail delivers them, for the local (DuckDB) trail engine."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

Record = dict[str, object]


def write_files(root: Path, files: Mapping[str, Sequence[Record]]) -> Path:
    """Write each file (path relative to root), gzipped when it is named .gz."""
    for relative, records in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"Records": list(records)}).encode()
        path.write_bytes(gzip.compress(body) if relative.endswith(".gz") else body)
    return root


def file_name(account_id: str, day: datetime, region: str = "us-east-1", tag: str = "x") -> str:
    """Where CloudTrail puts a file of `account_id`'s events of `day`."""
    return (
        f"AWSLogs/{account_id}/CloudTrail/{region}/{day:%Y/%m/%d}/"
        f"{account_id}_CloudTrail_{region}_{day:%Y%m%dT%H%MZ}_{tag}.json.gz"
    )


def assume_role_record(
    event_id: str,
    when: datetime,
    role_arn: str,
    caller_arn: str,
    caller_account: str | None,
    *,
    error: str | None = None,
    source_ip: str = "203.0.113.10",
    region: str = "us-east-1",
) -> Record:
    """An sts:AssumeRole record as the role's account receives it; `error` makes it a denial."""
    recipient = role_arn.split(":")[4]
    record: Record = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": caller_arn, "accountId": caller_account},
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": "Boto3/1.44",
        "requestParameters": {
            "roleArn": role_arn,
            "roleSessionName": event_id,
            "durationSeconds": 3600,
        },
        "eventID": event_id,
        "recipientAccountId": recipient,
        "eventType": "AwsApiCall",
    }
    if error:
        record["errorCode"] = error
        record["errorMessage"] = (
            f"{caller_arn} is not authorized to perform sts:AssumeRole on resource: {role_arn}"
        )
    return record
