"""Upload report files to S3, server-side encrypted.

`[reports].s3_uri = "s3://bucket/prefix/"` puts each file at `prefix/<file name>`. With
`s3_kms_key_id` the objects are encrypted with that KMS key (SSE-KMS), otherwise with S3's
own keys (SSE-S3, AES256); the request asks for it explicitly either way, so a bucket
policy that denies unencrypted uploads accepts them. The client comes from monitor/aws.py
(the source credentials, `[aws].region`).
IAM actions needed: `IAM_ACTIONS`, which `pgwarden iam-policy` scopes to the prefix and key.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from monitor.config import ReportsConfig
from monitor.errors import AwsError

if TYPE_CHECKING:
    from monitor.aws import AwsSessions
    from monitor.outputs.reports.access_review import ReportFile

log = logging.getLogger(__name__)

# upload_file sends large files in parts; with SSE-KMS, S3 also decrypts the data key then.
IAM_ACTIONS = ("s3:PutObject", "s3:AbortMultipartUpload", "kms:GenerateDataKey", "kms:Decrypt")

CONTENT_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".sql": "application/sql; charset=utf-8",
    ".json": "application/json",
}


def encryption(reports: ReportsConfig) -> dict[str, str]:
    if reports.s3_kms_key_id:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": reports.s3_kms_key_id}
    return {"ServerSideEncryption": "AES256"}


def upload(
    aws: AwsSessions, reports: ReportsConfig, files: Sequence[ReportFile]
) -> list[ReportFile]:
    """Upload every file; return them with their s3:// addresses."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    assert reports.s3_uri is not None
    bucket, _, prefix = reports.s3_uri.removeprefix("s3://").partition("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    s3 = aws.s3()
    done = []
    for f in files:
        key = prefix + f.path.name
        extra = {**encryption(reports), "ContentType": CONTENT_TYPES[f.path.suffix]}
        try:
            s3.upload_file(str(f.path), bucket, key, ExtraArgs=extra)
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise AwsError(
                f"reports.s3_uri: cannot upload {f.path.name} to s3://{bucket}/{key}: {exc}"
            ) from exc
        log.info("uploaded %s", key, extra={"bucket": bucket, "key": key})
        done.append(dataclasses.replace(f, s3_uri=f"s3://{bucket}/{key}"))
    return done
