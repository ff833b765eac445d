from __future__ import annotations

from datetime import date

import pytest

from monitor.config import Config
from monitor.errors import ConfigError
from monitor.sources.trail_ddl import ddl


def config(**trail: object) -> Config:
    return Config.model_validate(
        {
            "aws": {"management_accounts": ["111111111111"]},
            "accounts": [{"id": "222222222222", "name": "prod"}],
            "cloudtrail": {"bucket": "trail-bucket", **trail},
        }
    )


def test_ddl_single_account_layout_without_org_id() -> None:
    text = ddl(config(prefix="/logs/ct/"), date(2025, 1, 1))
    assert "LOCATION 's3://trail-bucket/logs/ct/AWSLogs/'" in text
    assert "'projection.account.values' = '111111111111,222222222222'" in text
    assert "'projection.timestamp.range' = '2025/01/01,NOW'" in text


@pytest.mark.parametrize(
    ("trail", "problem"),
    [
        ({"org_id": "o-x'"}, "cloudtrail.org_id: not an organisation id"),
        ({"prefix": "a'b"}, "cloudtrail.prefix: characters not allowed"),
        ({"athena_table": "ct; drop"}, "cloudtrail.athena_table: not a valid Athena name"),
    ],
)
def test_ddl_refuses_values_that_would_break_out(trail: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        ddl(config(**trail), date(2025, 1, 1))
