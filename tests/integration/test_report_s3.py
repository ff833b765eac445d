"""Report files uploaded to S3 (the moto server), server-side encrypted."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.aws import AwsSessions
from monitor.clock import FrozenClock
from monitor.config import validate
from monitor.errors import AwsError
from monitor.outputs.reports.access_review import weekly_report
from monitor.stages.base import StageContext
from tests.conftest import MotoServer
from tests.support import review
from tests.support.review import END
from tests.support.store import days

pytestmark = pytest.mark.integration
NAMES = [
    "access-review-2026-W47-principals.csv",
    "access-review-2026-W47-revoke-iam.json",
    "access-review-2026-W47-revoke.sql",
    "access-review-2026-W47-users.csv",
    "access-review-2026-W47.html",
]


def run(moto_server: MotoServer, tmp_path: Path, **reports: str) -> list[tuple[str, ...]]:
    world = review.build(tmp_path / "p.db")
    config = validate(
        {
            "aws": {"endpoint_url": moto_server.url},
            "reports": {"dir": str(tmp_path / "reports"), **reports},
        }
    )
    ctx = StageContext(config, world.store, FrozenClock(END + days(1)))
    ctx.aws_sessions = AwsSessions.from_config(config, clock=ctx.clock)
    try:
        return weekly_report(ctx).rows
    finally:
        world.close()


def test_report_s3_upload_sse_s3(moto_server: MotoServer, tmp_path: Path) -> None:
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket="audit-aes")
    rows = run(moto_server, tmp_path, s3_uri="s3://audit-aes/pgwarden/weekly")
    assert sorted(r[3] for r in rows) == [f"s3://audit-aes/pgwarden/weekly/{n}" for n in NAMES]
    listed = s3.list_objects_v2(Bucket="audit-aes")["Contents"]
    assert sorted(o["Key"] for o in listed) == [f"pgwarden/weekly/{n}" for n in NAMES]
    for name in NAMES:
        head = s3.head_object(Bucket="audit-aes", Key=f"pgwarden/weekly/{name}")
        assert head["ServerSideEncryption"] == "AES256"
        assert "SSEKMSKeyId" not in head
    body = s3.get_object(Bucket="audit-aes", Key=f"pgwarden/weekly/{NAMES[3]}")["Body"].read()
    assert body == (tmp_path / "reports" / NAMES[3]).read_bytes()
    head = s3.head_object(Bucket="audit-aes", Key=f"pgwarden/weekly/{NAMES[4]}")
    assert head["ContentType"] == "text/html; charset=utf-8"


def test_report_s3_upload_sse_kms(moto_server: MotoServer, tmp_path: Path) -> None:
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket="audit-kms")
    key = moto_server.client("kms").create_key(Description="audit")["KeyMetadata"]["Arn"]
    run(moto_server, tmp_path, s3_uri="s3://audit-kms/", s3_kms_key_id=key)
    for name in NAMES:
        head = s3.head_object(Bucket="audit-kms", Key=name)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == key


def test_report_s3_missing_bucket_is_one_line(moto_server: MotoServer, tmp_path: Path) -> None:
    with pytest.raises(AwsError, match=r"reports.s3_uri: cannot upload access-review-2026-W47"):
        run(moto_server, tmp_path, s3_uri="s3://no-such-bucket-here/")
