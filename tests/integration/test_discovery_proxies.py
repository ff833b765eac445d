"""RDS Proxies through discovery and doctor, against the moto server.

moto implements create_db_proxy, register_db_proxy_targets, describe_db_proxies,
describe_db_proxy_target_groups, describe_db_proxy_targets and ec2 describe_subnets, so
those run for real here. It does not implement DescribeDBProxyEndpoints: its server answers
with an HTML error page. That call is still made, as against AWS; here it is the failing
describe call that must become a note on the proxy (not a crash, not "no endpoints"). How
an answer of it is read is tested on AWS's answer shape in tests/unit/test_proxies.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.aws import AwsSessions
from monitor.clock import FrozenClock
from monitor.config import Config
from monitor.doctor.checks import CheckResult, DoctorContext
from monitor.doctor.proxies import check_proxies
from monitor.models import AuthEvent
from monitor.parsing.pglog_stats import ParseStats
from monitor.sandbox.aws import Account, Cluster
from monitor.sources.proxies import Note
from monitor.sources.targets import Resolved, collect_targets
from monitor.stages import run_once
from monitor.store.events import save_auth_events
from monitor.store.proxies import proxies, save_proxies
from monitor.store.sqlite import Store
from tests.conftest import MotoServer
from tests.integration.test_discovery_logs import (
    ACCOUNT,
    EXTERNAL_ID_ENV,
    ROLE,
    discovery_config,
)
from tests.support.daemon import write_toml

pytestmark = pytest.mark.integration

ORDERS = "prod/us-east-1/orders"
BILLING = "prod/us-east-1/billing"
# A PostgreSQL proxy's line, from tests/fixtures/rdsproxy/smily_pinned.log (see SOURCES.md):
# the doctor only asks whether the group receives events, not what they say.
FIXTURE = Path(__file__).parents[1] / "fixtures" / "rdsproxy" / "smily_pinned.log"


def raw_config(tmp_path: Path, moto: MotoServer) -> dict[str, Any]:
    """discovery_config's settings, as a file for the CLI."""
    return {
        "store": {"path": str(tmp_path / "pgwarden.db")},
        "aws": {"endpoint_url": moto.url},
        "accounts": [
            {
                "id": ACCOUNT, "name": "prod", "role_arn": ROLE,
                "external_id": f"env:{EXTERNAL_ID_ENV}", "discover": True,
                "discover_tags": {"pgwarden": "monitor"},
            }
        ],
        "pglogs": {"sources": ["cloudwatch"]},
        "cloudtrail": {"enabled": False},
    }  # fmt: skip


def _setup(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Account:
    moto.reset()
    monkeypatch.setenv(EXTERNAL_ID_ENV, "discovery-test")
    return Account(moto.sandbox, ACCOUNT)


def _resolve(config: Config) -> Resolved:
    return collect_targets(config, AwsSessions.from_config(config))


def test_discovery_links_a_proxy_to_the_cluster_it_fronts_and_saves_it(
    moto_server: MotoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_cli: Any,
) -> None:
    account = _setup(moto_server, monkeypatch)
    orders = account.create_cluster("orders", 5432)
    made = account.create_proxy(orders, "orders-proxy")
    # Not selected: an untagged cluster's proxy, and a MySQL proxy.
    rds = account.rds()
    rds.create_db_cluster(
        DBClusterIdentifier="untagged", Engine="aurora-postgresql", MasterUsername="postgres",
        MasterUserPassword="not-used-by-the-sandbox", EnableIAMDatabaseAuthentication=True,
    )  # fmt: skip
    untagged = replace(orders, cluster_id="untagged")
    account.create_proxy(untagged, "untagged-proxy", networks=("10.20.3.0/24",))
    rds.create_db_proxy(
        DBProxyName="mysql-proxy", EngineFamily="MYSQL", Auth=[{"IAMAuth": "REQUIRED"}],
        RoleArn="arn:aws:iam::555555555555:role/x",
        VpcSubnetIds=rds.describe_db_proxies(DBProxyName="orders-proxy")["DBProxies"][0][
            "VpcSubnetIds"
        ],
    )  # fmt: skip
    config = discovery_config(tmp_path, moto_server)
    found = _resolve(config)

    by_name = {t.name: t for t in found.targets}
    assert set(by_name) == {ORDERS, "prod/us-east-1/proxy/orders-proxy"}
    assert by_name[ORDERS].proxies == ("orders-proxy",)
    proxy_target = by_name["prod/us-east-1/proxy/orders-proxy"]
    assert (proxy_target.endpoint_type, proxy_target.proxy_name, proxy_target.endpoint) == (
        "proxy", "orders-proxy", made.endpoint,
    )  # fmt: skip
    assert proxy_target.resource_id == made.resource_id
    assert proxy_target.resource_id and proxy_target.resource_id.startswith("prx-")
    (proxy,) = found.proxies
    assert (proxy.name, proxy.fronts, proxy.networks) == (
        "orders-proxy", (ORDERS,), ("10.20.1.0/24", "10.20.2.0/24"),
    )  # fmt: skip
    assert proxy.iam_only and proxy.require_tls and proxy.engine_family == "POSTGRESQL"
    assert proxy.auth[0].client_password_auth_type == "POSTGRES_SCRAM_SHA_256"
    assert proxy.auth[0].secret_arn and ":secret:orders-proxy-app" in proxy.auth[0].secret_arn
    # moto's DescribeDBProxyEndpoints fails: said per proxy, and the rest is still known.
    assert any(
        (n.proxy, n.region) == ("orders-proxy", "us-east-1")
        and "its endpoints are unknown" in n.text
        for n in found.notes
    )
    assert proxy.endpoints == ()
    assert proxy.databases == (("cluster", "orders"),)

    run_once(config, ["pglogs"])  # any stage resolves and saves the targets
    with Store.open(config.store.path, writer=False) as store:
        # All but what is registered behind it: unknown when read back (not "nothing").
        assert proxies(store) == [replace(proxy, databases=None)]

    path = tmp_path / "pgwarden.toml"
    write_toml(path, raw_config(tmp_path, moto_server))
    result = run_cli("targets", "--config", str(path))
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()}
    header = rows["target"]
    assert rows[ORDERS][header.index("proxies")] == "orders-proxy"
    assert rows["prod/us-east-1/proxy/orders-proxy"][header.index("type")] == "proxy"
    assert "note: proxy orders-proxy" in result.stderr and "endpoints are unknown" in result.stderr


def _doctor(config: Config, found: Resolved, now: datetime) -> list[CheckResult]:
    ctx = DoctorContext(
        config, AwsSessions.from_config(config), FrozenClock(now), found.targets,
        proxies=found.proxies, notes=found.notes,
    )  # fmt: skip
    check_proxies(ctx)
    return ctx.results


def _login(
    store: Store, target: str, when: datetime, method: str, proxy: str | None, host: str
) -> None:
    event = AuthEvent(
        time=when, kind="connection_authenticated", user="app", client_host=host,
        method=method, source="test.log", proxy=proxy,
    )  # fmt: skip
    save_auth_events(store, target, "test.log", [event], ParseStats(), [], when)


def test_doctor_proxies_checks_logging_auth_and_direct_password_logins(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = _setup(moto_server, monkeypatch)
    orders = account.create_proxy(
        account.create_cluster("orders", 5432), "orders-proxy", debug_logging=True
    )
    account.create_proxy(
        account.create_cluster("billing", 5432), "billing-proxy", iam_auth="DISABLED",
        networks=("10.20.3.0/24",), log_group=False,
    )  # fmt: skip
    now = datetime.now(UTC).replace(microsecond=0)
    logs = account.logs()
    logs.create_log_stream(logGroupName=orders.log_group, logStreamName="default")
    line = FIXTURE.read_text().splitlines()[0]
    stamp = int((now - timedelta(minutes=5)).timestamp() * 1000)
    logs.put_log_events(
        logGroupName=orders.log_group, logStreamName="default",
        logEvents=[{"timestamp": stamp, "message": line}],
    )  # fmt: skip
    config = discovery_config(tmp_path, moto_server)
    found = _resolve(config)
    with Store.open(config.store.path) as store:
        with store.transaction() as conn:  # as a stage saves them
            save_proxies(conn, found.proxies, now)
        # orders: one login through its proxy (from its log), the proxy's own pooled
        # connection (the database's log, from the proxy's subnet), and one straight at the
        # cluster with a password.
        _login(store, ORDERS, now - timedelta(days=1), "scram-sha-256", "orders-proxy", "192.0.2.9")
        _login(store, ORDERS, now - timedelta(days=1), "scram-sha-256", None, "10.20.1.17")
        _login(store, ORDERS, now - timedelta(days=2), "md5", None, "10.0.0.9")
        # billing: no auth event at all.
    rows = {(r.subject, r.check, r.status, r.found) for r in _doctor(config, found, now)}

    def row(subject: str, check: str) -> list[tuple[str, str]]:
        return [(s, f) for sub, c, s, f in rows if (sub, c) == (subject, check)]

    assert row("proxy orders-proxy", "fronts") == [("ok", f"fronts {ORDERS}")]
    assert row("proxy orders-proxy", "log-group") == [("ok", f"{orders.log_group} exists")]
    assert [s for s, _ in row("proxy orders-proxy", "log-events")] == ["ok"]
    assert [s for s, _ in row("proxy orders-proxy", "iam-auth")] == ["ok"]
    ((status, found),) = row("proxy orders-proxy", "direct-password")
    assert status == "warn" and "1 direct password logins" in found and "from 10.0.0.9" in found
    assert "around the proxy's IAM requirement" in found
    assert row("proxy orders-proxy", "debug-logging") == [("ok", "DebugLogging on")]
    ((status, found),) = row("proxy billing-proxy", "debug-logging")
    assert status == "warn" and "AWS does not document which lines" in found
    ((status, found),) = row("proxy orders-proxy", "described")
    assert status == "warn" and "endpoints are unknown" in found

    assert [s for s, _ in row("proxy billing-proxy", "log-group")] == ["fail"]
    assert row("proxy billing-proxy", "log-events") == []  # nothing to read events from
    # Discovery made billing-proxy a target: pgwarden logs in through it with an IAM token,
    # which a DISABLED secret refuses.
    ((status, found),) = row("proxy billing-proxy", "iam-auth")
    assert status == "fail" and "IAMAuth DISABLED: pgwarden logs in through this proxy" in found
    ((status, found),) = row("proxy billing-proxy", "direct-password")
    assert status == "warn" and found.startswith(f"{BILLING}: no evidence in the store")


def test_doctor_proxies_log_group_without_events_fails(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = _setup(moto_server, monkeypatch)
    account.create_proxy(account.create_cluster("orders", 5432), "orders-proxy")
    config = discovery_config(tmp_path, moto_server)
    now = datetime.now(UTC)
    rows = [r for r in _doctor(config, _resolve(config), now) if r.check == "log-events"]
    assert [(r.status, r.found) for r in rows] == [
        ("fail", "/aws/rds/proxy/orders-proxy has no events: nothing to read")
    ]


def test_doctor_rds_checks_the_iam_db_auth_error_export_behind_a_proxy(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-instance export check runs on the database behind a discovered proxy: as
    its own target, and through the proxy's target (its registered cluster)."""
    from monitor.doctor.rds import check_rds

    account = _setup(moto_server, monkeypatch)
    account.rds().create_db_cluster(
        DBClusterIdentifier="orders", Engine="aurora-postgresql", MasterUsername="postgres",
        MasterUserPassword="not-used-by-the-sandbox", EnableIAMDatabaseAuthentication=True,
        EnableCloudwatchLogsExports=["postgresql"], Tags=[{"Key": "pgwarden", "Value": "monitor"}],
    )  # fmt: skip
    cluster = account.rds().describe_db_clusters()["DBClusters"][0]
    sandbox_cluster = Cluster(ACCOUNT, "orders", cluster["Endpoint"], 5432, "r")
    account.create_proxy(sandbox_cluster, "orders-proxy")
    config = discovery_config(tmp_path, moto_server)
    found = _resolve(config)
    ctx = DoctorContext(
        config, AwsSessions.from_config(config), FrozenClock(datetime.now(UTC)), found.targets,
        proxies=found.proxies, notes=found.notes,
    )  # fmt: skip
    check_rds(ctx)
    exports = {(r.subject, r.status) for r in ctx.results if r.check == "log-export"}
    assert exports == {(ORDERS, "warn"), ("prod/us-east-1/proxy/orders-proxy", "warn")}
    assert all("iam-db-auth-error" in r.found for r in ctx.results if r.check == "log-export")


def test_configured_proxy_target_is_described_and_linked_without_discovery(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = _setup(moto_server, monkeypatch)
    cluster = account.create_cluster("orders", 5432)
    made = account.create_proxy(cluster, "orders-proxy", iam_auth="ENABLED")
    accounts = [
        {"id": ACCOUNT, "name": "prod", "role_arn": ROLE, "external_id": f"env:{EXTERNAL_ID_ENV}"}
    ]
    targets = [
        {"name": "orders", "account": "prod", "cluster_id": "orders", "endpoint": cluster.endpoint},
        {
            "name": "orders-proxy", "account": "prod", "proxy_name": "orders-proxy",
            "endpoint": made.endpoint, "endpoint_type": "proxy",
        },
        {  # not there: a note, and the target is still watched (the rds doctor row says why)
            "name": "gone-proxy", "account": "prod", "proxy_name": "gone-proxy",
            "endpoint": "gone.example", "endpoint_type": "proxy",
        },
    ]  # fmt: skip
    config = discovery_config(tmp_path, moto_server, accounts=accounts, targets=targets)
    found = _resolve(config)
    assert {t.name: t.proxies for t in found.targets} == {
        "orders": ("orders-proxy",), "orders-proxy": (), "gone-proxy": (),
    }  # fmt: skip
    (proxy,) = found.proxies
    assert (proxy.fronts, proxy.iam_only, proxy.auth[0].iam_auth) == (("orders",), False, "ENABLED")
    assert [n.proxy for n in found.notes if "not described" in n.text] == ["gone-proxy"]
    assert proxy.databases == (("cluster", "orders"),)
    # Without AWS (`pgwarden targets --no-discover`), nothing is described.
    offline = collect_targets(config, AwsSessions.from_config(config), discover=False)
    assert (offline.proxies, offline.notes) == ([], [])


def test_doctor_rds_checks_no_database_behind_a_proxy_it_cannot_place(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rds group reads a proxy target's proxy from target resolution: one that was not
    described fails its exists row with the note, one whose targets are unknown skips the
    database checks (rather than reading "no target"); neither is described again."""
    from monitor.doctor.rds import DB_CHECKS, check_rds

    account = _setup(moto_server, monkeypatch)
    made = account.create_proxy(account.create_cluster("orders", 5432), "orders-proxy")
    accounts = [
        {"id": ACCOUNT, "name": "prod", "role_arn": ROLE, "external_id": f"env:{EXTERNAL_ID_ENV}"}
    ]
    targets = [
        {
            "name": name, "account": "prod", "proxy_name": name, "endpoint": endpoint,
            "endpoint_type": "proxy",
        }
        for name, endpoint in (("orders-proxy", made.endpoint), ("gone-proxy", "gone.example"))
    ]  # fmt: skip
    config = discovery_config(tmp_path, moto_server, accounts=accounts, targets=targets)
    found = _resolve(config)
    (proxy,) = found.proxies
    # What describe_proxy keeps when describe_db_proxy_targets fails: a note, targets unknown.
    unknown = Note(
        "proxy orders-proxy: what it fronts is unknown", ACCOUNT, proxy.region, proxy.name
    )
    ctx = DoctorContext(
        config, AwsSessions.from_config(config), FrozenClock(datetime.now(UTC)), found.targets,
        proxies=[replace(proxy, databases=None)], notes=[*found.notes, unknown],
    )  # fmt: skip
    check_rds(ctx)
    rows = {(r.subject, r.check): (r.status, r.found, r.fix) for r in ctx.results}
    status, text, fix = rows["gone-proxy", "exists"]
    assert status == "fail" and text.startswith(
        "proxy gone-proxy of target gone-proxy: not described"
    )
    assert fix.startswith("set proxy_name of [[targets]] gone-proxy to a proxy in")
    assert rows["orders-proxy", "exists"][:2] == ("ok", "proxy orders-proxy in prod us-east-1")
    for check in DB_CHECKS:
        assert rows["gone-proxy", check][:2] == ("fail", "not checked: gone-proxy not described")
        assert rows["orders-proxy", check] == (
            "fail",
            "not checked: what proxy orders-proxy fronts is unknown",
            "fix the proxies proxy orders-proxy described row first",
        )


def _resolve_and_save(config: Config) -> tuple[Resolved, list[str]]:
    """One resolution as a stage makes it (saved, the rest retired); the proxies stored."""
    from monitor.clock import SystemClock
    from monitor.stages.base import StageContext

    with Store.open(config.store.path) as store:
        ctx = StageContext(config, store, SystemClock())
        ctx.targets()
        kept = [p.name for p in proxies(store)]
    return _resolve(config), kept


def test_a_proxy_gone_from_discovery_is_retired_and_one_not_described_is_kept(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = _setup(moto_server, monkeypatch)
    orders = account.create_cluster("orders", 5432)
    account.create_proxy(orders, "orders-proxy")
    billing = account.create_cluster("billing", 5433)
    account.create_proxy(billing, "billing-proxy", networks=("10.20.5.0/24",))
    accounts = [
        {
            "id": ACCOUNT, "name": "prod", "role_arn": ROLE,
            "external_id": f"env:{EXTERNAL_ID_ENV}", "discover": True,
            "discover_tags": {"pgwarden": "monitor"},
        }
    ]  # fmt: skip
    # billing-proxy is also a configured target: named in the config, it is looked up by name.
    targets = [
        {
            "name": "billing-via-proxy", "account": "prod", "proxy_name": "billing-proxy",
            "endpoint": "billing-proxy.example", "endpoint_type": "proxy",
        }
    ]  # fmt: skip
    config = discovery_config(tmp_path, moto_server, accounts=accounts, targets=targets)
    _, kept = _resolve_and_save(config)
    assert kept == ["billing-proxy", "orders-proxy"]

    # Both proxies deleted in AWS. Discovery, which works, no longer finds orders-proxy: it is
    # retired, and its subnets no longer mark addresses. billing-proxy, named in the config,
    # cannot be described: said, and kept as stored last (a passing failure must not make
    # the proxy's addresses look like new clients).
    rds = account.rds()
    for name in ("orders-proxy", "billing-proxy"):
        rds.delete_db_proxy(DBProxyName=name)
    found, kept = _resolve_and_save(config)
    assert kept == ["billing-proxy"]
    assert any(n.proxy == "billing-proxy" and "not described" in n.text for n in found.notes)
    with Store.open(config.store.path, writer=False) as store:
        retired = store.conn.execute(
            "SELECT name FROM proxies WHERE retired_at IS NOT NULL"
        ).fetchall()
    assert retired == [("orders-proxy",)]


def test_a_region_whose_proxies_cannot_be_listed_keeps_them_as_stored(
    moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A monitor role refused rds:DescribeDBProxies for a while: the databases are still
    discovered, and the proxies and their targets found last stay, not retired. The
    refusal is raised at botocore's before-call hook: moto's server cannot deny one action
    to one role on demand (its IAM enforcement is all or nothing, fixed at start)."""
    from botocore.exceptions import ClientError

    from monitor.clock import SystemClock
    from monitor.stages.base import StageContext
    from tests.support.aws_calls import AwsCalls

    account = _setup(moto_server, monkeypatch)
    account.create_proxy(account.create_cluster("orders", 5432), "orders-proxy")
    config = discovery_config(tmp_path, moto_server)
    calls = AwsCalls(SystemClock())

    def resolve() -> tuple[list[str], list[str], list[str]]:
        with Store.open(config.store.path) as store:
            ctx = StageContext(config, store, SystemClock(), calls.sessions(config))
            names = sorted(t.name for t in ctx.targets())
            return names, [p.name for p in proxies(store)], ctx.notes

    first = resolve()
    assert first[:2] == ([ORDERS, "prod/us-east-1/proxy/orders-proxy"], ["orders-proxy"])

    def refuse() -> None:
        error = {"Error": {"Code": "AccessDenied", "Message": "not authorized"}}
        raise ClientError(error, "DescribeDBProxies")  # type: ignore[arg-type]

    calls.before["DescribeDBProxies"] = refuse
    names, kept, notes = resolve()
    assert (names, kept) == first[:2]
    assert any("proxies of account" in n and "not listed" in n for n in notes), notes
