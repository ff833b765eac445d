"""Pure pieces of the activity stage: masking, rate limiting, backoff, names, conninfo."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.aws import refresh_windows, role_session_name
from monitor.clock import FrozenClock
from monitor.config import ActivityConfig, Config
from monitor.errors import PgwardenError
from monitor.parsing.sqlmask import mask_literals
from monitor.registry import Access
from monitor.sources.activity import ActivitySource
from monitor.sources.pacing import ConnectLimiter, backoff_s
from monitor.sources.targets import Target
from monitor.stages import select_stages


@pytest.mark.parametrize(
    ("sql", "masked"),
    [
        (
            "SELECT * FROM t WHERE a = 'x''y' AND b > 10.5e3",
            "SELECT * FROM t WHERE a = ? AND b > ?",
        ),
        ('select $1, col2 from "T1" where id = 7', 'select $1, col2 from "T1" where id = ?'),
        ("select $$secret$$, $f$ x $f$ from t9", "select ?, ? from t9"),
        ("update u set pw = 'unterminated secret", "update u set pw = ?"),
        ("select E'a\\'b' as x1", "select ? as x1"),
        # In a standard string a backslash is just a character: the next quote ends it.
        ("select 'abc\\' AND x = 'secret'", "select ? AND x = ?"),
        ("select X'1F', B'101', -3, .5", "select ?, ?, -?, ?"),
    ],
)
def test_sqlmask_replaces_literals(sql: str, masked: str) -> None:
    assert mask_literals(sql) == masked


def test_limiter_spaces_new_connections() -> None:
    now = [100.0]
    limiter = ConnectLimiter(4, monotonic=lambda: now[0])
    waits = [limiter.reserve() for _ in range(5)]
    assert waits == [0.0, 0.25, 0.5, 0.75, 1.0]
    now[0] = 110.0  # long idle: no burst credit piles up beyond the next slot
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == 0.25


def test_backoff_grows_with_jitter_and_cap() -> None:
    rng = random.Random(7)
    for failures, step in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (20, 300.0)]:
        delays = [backoff_s(failures, 1.0, 300.0, rng) for _ in range(50)]
        assert all(step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 40  # jittered, not one fixed value


def test_role_session_name_is_sts_safe() -> None:
    assert role_session_name("ip-10-0-0-1.ec2.internal") == "pgwarden-ip-10-0-0-1.ec2.internal"
    assert role_session_name("a host/with:odd*chars") == "pgwarden-a-host-with-odd-chars"
    assert len(role_session_name("h" * 100)) == 64


@pytest.mark.parametrize("duration", [900, 1800, 3600, 43200])
def test_refresh_windows_refresh_at_least_5_minutes_early(duration: int) -> None:
    advisory, mandatory = refresh_windows(duration)
    assert mandatory == 300 and advisory > mandatory
    # Fresh credentials are not immediately "due": no refresh storm at 900 s.
    assert advisory < duration


def target(**extra: object) -> Target:
    base: dict[str, object] = {
        "name": "t",
        "account_id": "222222222222",
        "account_name": "prod",
        "region": "us-east-1",
        "endpoint": "demo.cluster-abc.us-east-1.rds.amazonaws.com",
        "endpoint_type": "cluster",
        "port": 5432,
        "database": "postgres",
        "db_user": "pgmonitor",
    }
    return Target(**{**base, **extra})  # type: ignore[arg-type]


def source(*targets: Target) -> ActivitySource:
    clock = FrozenClock(datetime(2026, 11, 23, tzinfo=UTC))
    return ActivitySource(list(targets), ActivityConfig(), lambda t: "token", clock)


def test_conninfo_verify_full_with_bundle_and_hostaddr(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    t = target(ca_bundle=ca, hostaddr="10.0.0.5")
    params = source(t).conninfo(t, "tok")
    assert params["sslmode"] == "verify-full" and params["sslrootcert"] == str(ca)
    assert params["host"] == t.endpoint and params["hostaddr"] == "10.0.0.5"
    assert params["application_name"] == "pgwarden" and params["password"] == "tok"


def test_conninfo_without_bundle_uses_system_store() -> None:
    t = target()
    assert source(t).conninfo(t, "tok")["sslrootcert"] == "system"


def test_insecure_tls_is_verify_ca_and_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    t = target(insecure_tls=True, ca_bundle=ca)
    with caplog.at_level(logging.WARNING):
        params = source(t).conninfo(t, "tok")
    # Only the host name check goes: the chain is still verified against the bundle.
    assert params["sslmode"] == "verify-ca" and params["sslrootcert"] == str(ca)
    assert "insecure_tls is on" in caplog.text


def test_insecure_tls_without_bundle_marks_the_target_down() -> None:
    t = target(insecure_tls=True)
    src = source(t)
    result = asyncio.run(src.poll(t))
    assert result.status == "down" and "insecure_tls needs a ca_bundle" in (result.reason or "")
    assert src.state("t").tokens_minted == 0  # no token was made for it


def test_missing_ca_bundle_marks_only_that_target_down(tmp_path: Path) -> None:
    bad = target(name="bad", ca_bundle=tmp_path / "nope.pem")
    src = source(bad)
    result = asyncio.run(src.poll(bad))
    assert (result.status, result.reason) == ("down", f"CA bundle not found: {tmp_path}/nope.pem")
    assert src.state("bad").tokens_minted == 0  # no token was made for it


def test_select_stages_unknown_lists_known() -> None:
    assert select_stages(["activity"]) == ["activity"]
    assert "activity" in select_stages([])
    with pytest.raises(PgwardenError, match="--only nope: unknown stage; known: activity"):
        select_stages(["nope"])


# Stages with a section that touch neither AWS nor PostgreSQL, only the store.
STORE_ONLY = {"retention"}


def test_stages_that_state_a_contract_keep_it() -> None:
    import inspect
    import tomllib

    from monitor.stages import stage_specs

    specs = [spec for spec in stage_specs() if spec.section is not None]
    assert "activity" in {spec.name for spec in specs}
    for spec in specs:
        assert spec.options is not None, spec.name
        doc = inspect.getdoc(spec.run) or ""
        assert "Example:" in doc, f"{spec.name}: docstring has no TOML example"
        example = inspect.cleandoc(doc.split("Example:", 1)[1])
        parsed = tomllib.loads(example)
        assert list(parsed) == [spec.section], spec.name
        spec.options.model_validate(parsed[spec.section])
        if spec.name in STORE_ONLY:  # reads and writes the store only: no access at all
            assert spec.access == Access() and spec.needs(Config()) == Access(), spec.name
            continue
        assert spec.iam_actions or spec.pg_privileges, f"{spec.name}: states no access needed"
        assert all(":" in action for action in spec.iam_actions), spec.iam_actions
