"""Detectors see through RDS Proxies: proxy-side events count as the database's, and an
address inside a fronting proxy's subnets is "via proxy", never a client; proxy-bypass;
iam-throttling; the caller an iam-db-auth-error line names, shown as a fact. Real SQLite,
filled through pgwarden's own write paths (tests/support/store.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.judge.detectors.registry import detectors
from monitor.models import AuthEvent, AuthEventKind, Finding
from monitor.outputs.alerts.render import render_finding
from monitor.outputs.finding_text import finding_lines
from monitor.store.fronting import load_fronting
from tests.support.store import ACCOUNT, StoreBuilder, days

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # a Tuesday, 03:00 UTC: off hours
PROXY_NET = "10.1.0.0/24"
PROXY_ADDR = "10.1.0.17"  # inside the proxy's subnet: the proxy, as the database sees it
CLIENT = "198.51.100.7"  # a client's own address, as the proxy's log states it
DIRECT = "10.2.0.5"  # outside the proxy's subnets: a client connecting directly
CALLER = "arn:aws:sts::222222222222:assumed-role/app-db/i-0abc"
HOSTILE = '<!channel> x" via proxy evil\nFATAL:  =cmd'


@pytest.fixture
def b(tmp_path: Path) -> Iterator[StoreBuilder]:
    builder = StoreBuilder.open(tmp_path / "p.db")
    builder.target("db1", NOW - days(60))
    builder.target("db2", NOW - days(60))
    builder.proxy("p1", ("db1",), (PROXY_NET,), NOW - days(60))
    yield builder
    builder.close()


def event(
    b: StoreBuilder,
    kind: AuthEventKind,
    when: datetime,
    *,
    user: str | None = "app",
    host: str | None = PROXY_ADDR,
    proxy: str | None = None,
    method: str | None = "pam",
    target: str = "db1",
    **extra: Any,
) -> None:
    b.events += 1
    b.event(
        target,
        AuthEvent(
            time=when, kind=kind, user=user, database="postgres", client_host=host,
            client_port=40000 + b.events, pid=b.events, method=method,
            source="proxy.log" if proxy else "pg.log", proxy=proxy, **extra,
        ),
    )  # fmt: skip


def run(b: StoreBuilder, name: str, **options: Any) -> list[Finding]:
    spec = detectors()[name]
    opts = spec.options(**options)
    return spec.detect(b.store.load_evidence(spec.load, NOW, opts), NOW, opts)


def text(findings: list[Finding]) -> str:
    return json.dumps([f.to_json() for f in findings], default=str)


# -- the via-proxy rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "address", "expected"),
    [
        ("db1", PROXY_ADDR, "p1"),
        ("db1", "10.1.0.255", "p1"),
        ("db1", DIRECT, None),
        ("db1", "10.1.1.1", None),
        ("db2", PROXY_ADDR, None),  # p1 does not front db2
        ("db1", "10.1.0.17/32", "p1"),  # inet text as PostgreSQL may write it
        ("db1", "proxy.internal", None),  # a host name (log_hostname) is no proxy address
        ("db1", HOSTILE, None),
        ("db1", None, None),
    ],
)
def test_fronting_via_the_proxy_subnets(
    b: StoreBuilder, target: str, address: str | None, expected: str | None
) -> None:
    assert load_fronting(b.store.conn).via(target, address) == expected


def test_fronting_proxy_side_events_keep_the_client(b: StoreBuilder) -> None:
    fronting = load_fronting(b.store.conn)
    assert fronting.client("db1", CLIENT, "p1") == (CLIENT, "p1")
    assert fronting.client("db1", PROXY_ADDR, None) == (None, "p1")
    assert fronting.client("db1", DIRECT, None) == (DIRECT, None)


def test_fronting_a_proxy_target_sees_the_database_through_its_own_proxy(
    b: StoreBuilder,
) -> None:
    """Polled through p2, which fronts no watched database, a session from p2's subnets is
    p2's, not a new client: sessions of the proxy target itself say "via proxy p2"."""
    from monitor.sources.targets import Target
    from monitor.store.targets import save_targets

    b.proxy("p2", (), ("10.3.0.0/24",), NOW - days(60))
    lone = Target(
        name="lone", account_id=ACCOUNT, account_name="prod", region="us-east-1",
        endpoint="p2.proxy-abc.us-east-1.rds.amazonaws.com", endpoint_type="proxy", port=5432,
        database="postgres", db_user="pgmonitor", ca_bundle=None, proxy_name="p2",
    )  # fmt: skip
    with b.store.transaction() as tx:
        save_targets(tx, [lone], NOW)
    fronting = load_fronting(b.store.conn)
    assert fronting.via("lone", "10.3.0.9") == "p2"
    assert fronting.via("lone", DIRECT) is None
    assert fronting.via("db1", "10.3.0.9") is None  # p2 fronts nothing else


# -- failure-burst -----------------------------------------------------------------------------


def test_failure_burst_names_the_client_from_the_proxy_log(b: StoreBuilder) -> None:
    for i in range(6):
        event(b, "auth_failed", NOW - timedelta(minutes=30, seconds=-i * 20), host=CLIENT,
              proxy="p1", method="iam")  # fmt: skip
    found = {f.subject: f for f in run(b, "failure-burst")}
    assert set(found) == {"db1/user/app", f"db1/host/{CLIENT}"}
    burst = found[f"db1/host/{CLIENT}"]
    assert "via proxy p1" in burst.title
    assert [(e.host, e.what) for e in burst.evidence] == [
        (CLIENT, "failed login as app via proxy p1")
    ]
    assert PROXY_ADDR not in text(list(found.values()))


@pytest.mark.parametrize("user", ["app", HOSTILE])
def test_failure_burst_from_the_proxy_address_is_via_proxy(b: StoreBuilder, user: str) -> None:
    for i in range(6):
        event(b, "auth_failed", NOW - timedelta(minutes=30, seconds=-i * 20), user=user)
    found = run(b, "failure-burst")
    # No host axis: the proxy's address is nobody's client.
    assert [f.subject for f in found] == [f"db1/user/{user}"]
    assert found[0].evidence[0].host is None
    assert found[0].evidence[0].what == f"failed login as {user} via proxy p1"
    assert PROXY_ADDR not in text(found)
    blocks = json.dumps(render_finding(found[0], "new").blocks)
    assert "<!channel>" not in blocks
    if user == HOSTILE:  # the name decides nothing, and is escaped on the way out
        assert "&lt;!channel&gt;" in blocks


def test_failure_burst_outside_the_proxy_subnets_is_a_client(b: StoreBuilder) -> None:
    for i in range(6):
        event(b, "auth_failed", NOW - timedelta(minutes=30, seconds=-i * 20), host=DIRECT)
    subjects = {f.subject for f in run(b, "failure-burst")}
    assert subjects == {"db1/user/app", f"db1/host/{DIRECT}"}


def test_failure_burst_shows_the_logged_caller_as_a_fact(b: StoreBuilder) -> None:
    b.grant("arn:aws:iam::222222222222:role/app-db", "db1", "app")
    b.inventory(NOW - days(5))
    b.assume("arn:aws:iam::222222222222:role/app-db", NOW - timedelta(minutes=40))
    for i in range(5):
        event(b, "auth_failed", NOW - timedelta(minutes=30, seconds=-i * 20), host=None,
              method="iam", reason_code="NotAuthorized", caller_arn=CALLER)  # fmt: skip
    (burst,) = run(b, "failure-burst")
    assert [p.arn for p in burst.stated] == [CALLER]
    assert "as stated by the database's own log" in burst.stated[0].why
    assert "the caller of 5 failed logins" in burst.stated[0].why
    assert f"The database's own log names the caller: {CALLER}." in burst.why
    assert burst.principals  # the AssumeRole guess is still there, apart
    assert burst.remedy.startswith(f"{CALLER} was refused rds-db:connect as app.")
    blocks = [b_["text"]["text"] for b_ in render_finding(burst, "new").blocks if "text" in b_]
    fact = next(i for i, t in enumerate(blocks) if "database's own log (a fact)" in str(t))
    guess = next(i for i, t in enumerate(blocks) if "a guess, not a fact" in str(t))
    assert fact < guess
    lines = finding_lines({}, burst)
    assert lines.index("\nnamed by the database's own log (a fact):") < lines.index(
        "\nprobably behind it (a guess, not a fact):"
    )
    # Stored and read back whole.
    assert Finding.from_json(json.loads(json.dumps(burst.to_json(), default=str))) == burst


def test_failure_burst_escapes_the_logged_caller(b: StoreBuilder) -> None:
    hostile = "arn:aws:sts::222222222222:assumed-role/x/<!here>\n=cmd"
    for i in range(5):
        event(b, "auth_failed", NOW - timedelta(minutes=30, seconds=-i * 20), host=None,
              method="iam", caller_arn=hostile)  # fmt: skip
    (burst,) = run(b, "failure-burst")
    assert burst.stated[0].arn == hostile
    blocks = json.dumps(render_finding(burst, "new").blocks)
    assert "<!here>" not in blocks and "&lt;!here&gt;" in blocks
    shown = "\n".join(finding_lines({}, burst))
    assert "<!here>\n=cmd" not in shown and "\\n=cmd" in shown


def test_failure_burst_leaves_throttling_to_iam_throttling(b: StoreBuilder) -> None:
    for i in range(8):
        event(b, "auth_failed", NOW - timedelta(minutes=30, seconds=-i), host=None,
              method="iam", reason_code="ThrottlingException")  # fmt: skip
    assert run(b, "failure-burst") == []
    (throttled,) = run(b, "iam-throttling")
    assert (throttled.subject, throttled.severity) == ("db1", "high")
    assert "about 200 per second" in throttled.why
    assert "applications are failing to log in" in throttled.why
    assert "RDS Proxy" in throttled.remedy and "back-off" in throttled.remedy
    assert throttled.evidence[0].count == 8


# -- iam-throttling ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "step_s", "fires"),
    [(4, 1, False), (5, 1, True), (5, 20, False), (12, 5, True)],
)
def test_iam_throttling_window_and_count(
    b: StoreBuilder, count: int, step_s: float, fires: bool
) -> None:
    for i in range(count):
        event(b, "auth_failed", NOW - timedelta(hours=1, seconds=-i * step_s), host=None,
              method="iam", reason_code="ThrottlingException", target="db2")  # fmt: skip
    found = run(b, "iam-throttling", window_seconds=60, min_count=5)
    assert [f.subject for f in found] == (["db2"] if fires else [])


def test_iam_throttling_ignores_other_failures_and_old_bursts(b: StoreBuilder) -> None:
    for i in range(6):
        event(b, "auth_failed", NOW - timedelta(hours=1, seconds=-i), host=None, method="iam",
              reason_code="ExpiredToken")  # fmt: skip
        event(b, "auth_failed", NOW - timedelta(hours=30, seconds=-i), host=None, method="iam",
              reason_code="ThrottlingException")  # fmt: skip
    assert run(b, "iam-throttling") == []


# -- proxy-bypass ------------------------------------------------------------------------------


def test_proxy_bypass_direct_password_login(b: StoreBuilder) -> None:
    event(b, "connection_authenticated", NOW - days(1), host=DIRECT, method="md5")
    event(b, "connection_authenticated", NOW - days(1), user=HOSTILE, host=DIRECT,
          method="scram-sha-256")  # fmt: skip
    (finding,) = run(b, "proxy-bypass")
    assert (finding.subject, finding.severity) == ("db1", "high")
    assert "IAM-only proxy p1" in finding.title
    assert "around the proxy's IAM requirement" in finding.why
    assert 'ALTER ROLE "app" PASSWORD NULL;' in finding.remedy
    assert "\n" not in finding.remedy  # the hostile name is quoted onto one line
    assert PROXY_NET in finding.remedy
    assert {e.host for e in finding.evidence} == {DIRECT}
    blocks = json.dumps(render_finding(finding, "new").blocks)
    assert "<!channel>" not in blocks


@pytest.mark.parametrize(
    ("host", "proxy", "method", "iam_auth", "target"),
    [
        (PROXY_ADDR, None, "md5", "REQUIRED", "db1"),  # the proxy's own login, via its secret
        (CLIENT, "p1", "md5", "REQUIRED", "db1"),  # recorded by the proxy's log: through it
        (DIRECT, None, "pam", "REQUIRED", "db1"),  # an IAM token
        (DIRECT, None, "trust", "REQUIRED", "db1"),  # no password
        (DIRECT, None, "md5", "DISABLED", "db1"),  # the proxy takes passwords itself
        (DIRECT, None, "md5", "REQUIRED", "db2"),  # no proxy in front
    ],
)
def test_proxy_bypass_no_finding(
    tmp_path: Path, host: str, proxy: str | None, method: str, iam_auth: str, target: str
) -> None:
    b = StoreBuilder.open(tmp_path / "q.db")
    b.target("db1", NOW - days(60))
    b.target("db2", NOW - days(60))
    b.proxy("p1", ("db1",), (PROXY_NET,), NOW - days(60), iam_auth=iam_auth)  # type: ignore[arg-type]
    event(b, "connection_authenticated", NOW - days(1), host=host, proxy=proxy, method=method,
          target=target)  # fmt: skip
    assert run(b, "proxy-bypass") == []
    b.close()


def test_proxy_bypass_window(b: StoreBuilder) -> None:
    event(b, "connection_authenticated", NOW - days(10), host=DIRECT, method="md5")
    assert run(b, "proxy-bypass") == []
    assert [f.subject for f in run(b, "proxy-bypass", window_days=14)] == ["db1"]


# -- password-login, new-source, off-hours, privileged-session, unused-db-user ----------------


def test_password_login_via_proxy_names_no_proxy_address(b: StoreBuilder) -> None:
    b.roles("db1", NOW - days(30), {"app": ("rds_iam",)})
    event(b, "connection_authenticated", NOW - days(1), host=PROXY_ADDR, method="md5")
    (finding,) = run(b, "password-login")
    assert [(e.host, e.what) for e in finding.evidence] == [
        (None, "1 logins with md5 via proxy p1")
    ]
    assert PROXY_ADDR not in text([finding])


def test_new_source_proxy_address_is_no_new_source(b: StoreBuilder) -> None:
    b.session("db1", "app", NOW - days(40), NOW - days(40), host=DIRECT)
    b.session("db1", "app", NOW - days(1), NOW - days(1), host=PROXY_ADDR)
    event(b, "connection_authorized", NOW - days(1), host="10.1.0.99")
    assert run(b, "new-source", alert_days=7) == []
    b.session("db1", "app", NOW - days(1), NOW - days(1), host="10.9.9.9")
    assert [f.subject for f in run(b, "new-source")] == ["db1/app/client host=10.9.9.9"]


def test_new_source_new_client_in_the_proxy_log(b: StoreBuilder) -> None:
    event(b, "connection_received", NOW - days(40), user=None, host="192.0.2.1", proxy="p1",
          method=None)  # fmt: skip
    event(b, "connection_received", NOW - days(1), user=None, host=CLIENT, proxy="p1",
          method=None)  # fmt: skip
    event(b, "connection_authorized", NOW - days(40), host="192.0.2.1", proxy="p1")
    event(b, "connection_authorized", NOW - days(1), host=CLIENT, proxy="p1")
    found = {f.subject: f for f in run(b, "new-source")}
    assert set(found) == {f"db1/client host={CLIENT}", f"db1/app/client host={CLIENT}"}
    client = found[f"db1/client host={CLIENT}"]
    assert client.title == f"db1: first use from client host {CLIENT} via proxy p1"
    assert client.evidence[0].host == CLIENT and "via proxy p1" in client.evidence[0].what


def test_off_hours_sessions_via_proxy(b: StoreBuilder) -> None:
    b.session("db1", "ann@example.com", NOW - timedelta(hours=1), NOW, host=PROXY_ADDR)
    event(b, "connection_authorized", NOW - timedelta(hours=2), user="bob@example.com",
          host=CLIENT, proxy="p1")  # fmt: skip
    found = {f.subject: f for f in run(b, "off-hours")}
    assert set(found) == {"db1/ann@example.com", "db1/bob@example.com"}
    ann, bob = found["db1/ann@example.com"], found["db1/bob@example.com"]
    assert (ann.evidence[0].host, ann.evidence[0].what) == (
        None,
        "session started via proxy p1 (psql)",
    )
    assert bob.evidence[0].host == CLIENT and "via proxy p1" in bob.evidence[0].what
    assert PROXY_ADDR not in text([ann, bob])


def test_privileged_session_via_proxy(b: StoreBuilder) -> None:
    b.roles("db1", NOW - days(30), {"root": ()}, superuser=True)
    b.session("db1", "root", NOW - timedelta(hours=1), NOW, host=PROXY_ADDR)
    b.session("db1", "root", NOW - timedelta(hours=1), NOW, host=DIRECT)
    found = {f.subject: f for f in run(b, "privileged-session")}
    assert set(found) == {"db1/root/via proxy p1", f"db1/root/{DIRECT}"}
    via = found["db1/root/via proxy p1"]
    assert via.title == "superuser root connected to db1 via proxy p1"
    assert "through proxy p1, which hides the client" in via.why
    assert PROXY_ADDR not in text(list(found.values()))


def test_unused_db_user_counts_logins_through_the_proxy(b: StoreBuilder) -> None:
    b.roles("db1", NOW - days(200), {"app": ("rds_iam",)})
    assert [f.subject for f in run(b, "unused-db-user", days=30)] == ["db1/app"]
    event(b, "connection_authorized", NOW - days(2), host=CLIENT, proxy="p1")
    assert run(b, "unused-db-user", days=30) == []


def test_no_proxies_no_change(tmp_path: Path) -> None:
    """Without proxies, an address that would be a proxy's is an ordinary client."""
    b = StoreBuilder.open(tmp_path / "q.db")
    b.target("db1", NOW - days(60))
    for i in range(6):
        event(b, "auth_failed", NOW - timedelta(minutes=30, seconds=-i * 20))
    assert {f.subject for f in run(b, "failure-burst")} == {
        "db1/user/app",
        f"db1/host/{PROXY_ADDR}",
    }
    b.close()
