"""The proxy model from describe answers, its links to targets, and doctor's pure judges.

The answers follow the shapes of AWS's RDS API reference (DescribeDBProxies,
DescribeDBProxyEndpoints, DescribeDBProxyTargets): moto cannot answer
DescribeDBProxyEndpoints, and lists no TrackedClusterId or member instances for a cluster
target, so those shapes are tested here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.doctor.proxies import judge_auth, judge_direct, judge_fronts
from monitor.models import Proxy, ProxyAuth
from monitor.sources.proxies import FoundProxy, backing_of, databases_of, link, proxy_model
from monitor.sources.targets import Target
from monitor.store.evidence import PasswordLogin

if TYPE_CHECKING:
    from mypy_boto3_rds.type_defs import (
        DBProxyEndpointTypeDef,
        DBProxyTargetTypeDef,
        DBProxyTypeDef,
    )

ACCOUNT, REGION = "111111111111", "eu-west-1"
END = datetime(2026, 11, 23, tzinfo=UTC)
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:app-AbCdEf"
DESCRIBED: DBProxyTypeDef = {
    "DBProxyName": "orders-proxy",
    "DBProxyArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db-proxy:prx-0123456789abcdef0",
    "Status": "available",
    "EngineFamily": "POSTGRESQL",
    "VpcSubnetIds": ["subnet-1", "subnet-2"],
    "Auth": [
        {
            "AuthScheme": "SECRETS",
            "SecretArn": SECRET,
            "IAMAuth": "REQUIRED",
            "ClientPasswordAuthType": "POSTGRES_SCRAM_SHA_256",
        },
        {"AuthScheme": "SECRETS", "UserName": "legacy", "IAMAuth": "DISABLED"},
    ],
    "Endpoint": "orders-proxy.proxy-abc.eu-west-1.rds.amazonaws.com",
    "RequireTLS": True,
    "DebugLogging": False,
}
ENDPOINTS: list[DBProxyEndpointTypeDef] = [
    {"DBProxyEndpointName": "default", "Endpoint": DESCRIBED["Endpoint"], "IsDefault": True},
    {
        "DBProxyEndpointName": "reader",
        "Endpoint": "reader.endpoint.proxy-abc.eu-west-1.rds.amazonaws.com",
        "TargetRole": "READ_ONLY",
        "IsDefault": False,
    },
]
# An Aurora cluster registered with a proxy: the cluster, and each member instance.
CLUSTER_TARGETS: list[DBProxyTargetTypeDef] = [
    {"RdsResourceId": "orders", "Type": "TRACKED_CLUSTER", "Port": 5432},
    {
        "Endpoint": "orders-1.abc.eu-west-1.rds.amazonaws.com",
        "TrackedClusterId": "orders",
        "RdsResourceId": "orders-1",
        "Port": 5432,
        "Type": "RDS_INSTANCE",
        "Role": "READ_WRITE",
    },
]


def target(name: str, **fields: Any) -> Target:
    base: dict[str, Any] = {
        "account_id": ACCOUNT, "account_name": "prod", "region": REGION,
        "endpoint": f"{name}.example", "endpoint_type": "cluster", "port": 5432,
        "database": "postgres", "db_user": "pgmonitor", "discovered": True,
    }  # fmt: skip
    return Target(name=name, **{**base, **fields})


def test_proxy_model_keeps_each_secrets_auth_tls_logging_and_extra_endpoints() -> None:
    proxy = proxy_model(DESCRIBED, ACCOUNT, REGION, ENDPOINTS, ["10.0.2.0/24", "10.0.1.0/24"])
    assert proxy.auth == (
        ProxyAuth("REQUIRED", SECRET, None, "POSTGRES_SCRAM_SHA_256"),
        ProxyAuth("DISABLED", None, "legacy", None),
    )
    assert (proxy.require_tls, proxy.debug_logging, proxy.iam_only) == (True, False, False)
    assert proxy.endpoints == ("reader.endpoint.proxy-abc.eu-west-1.rds.amazonaws.com",)
    assert proxy.networks == ("10.0.1.0/24", "10.0.2.0/24")
    assert proxy.log_group == "/aws/rds/proxy/orders-proxy" and proxy.fronts == ()


def test_proxy_model_end_to_end_iam_has_no_secret_and_is_iam_only() -> None:
    described: DBProxyTypeDef = {**DESCRIBED, "Auth": [], "DefaultAuthScheme": "IAM_AUTH"}
    proxy = proxy_model(described, ACCOUNT, REGION)
    assert proxy.auth == (ProxyAuth("REQUIRED"),) and proxy.iam_only
    assert proxy_model({**described, "DefaultAuthScheme": "NONE"}, ACCOUNT, REGION).auth == ()


def test_link_ties_a_cluster_proxy_to_the_cluster_first_then_its_readers() -> None:
    found = FoundProxy(proxy_model(DESCRIBED, ACCOUNT, REGION), backing_of(CLUSTER_TARGETS))
    reader = target("orders/orders-2", endpoint_type="instance", cluster_id="orders")
    cluster = target("orders", cluster_id="orders")
    other = target("billing", cluster_id="billing")
    elsewhere = target("orders-eu", cluster_id="orders", region="us-east-1")
    proxy_target = target("proxy/orders-proxy", endpoint_type="proxy", proxy_name="orders-proxy")
    linked, (proxy,) = link([reader, cluster, other, elsewhere, proxy_target], [found])
    assert proxy.fronts == ("orders", "orders/orders-2")
    assert {t.name: t.proxies for t in linked} == {
        "orders/orders-2": ("orders-proxy",),
        "orders": ("orders-proxy",),
        "billing": (),
        "orders-eu": (),
        "proxy/orders-proxy": (),
    }


def test_link_ties_an_instance_proxy_by_id_or_endpoint() -> None:
    described: DBProxyTypeDef = {**DESCRIBED, "DBProxyName": "solo-proxy"}
    by_id = FoundProxy(
        proxy_model(described, ACCOUNT, REGION),
        backing_of([{"RdsResourceId": "solo", "Type": "RDS_INSTANCE"}]),
    )
    by_endpoint = FoundProxy(
        proxy_model({**described, "DBProxyName": "cname-proxy"}, ACCOUNT, REGION),
        backing_of([{"Endpoint": "solo.example", "Type": "RDS_INSTANCE"}]),
    )
    solo = target("solo", endpoint_type="instance", instance_id="solo", discovered=False)
    linked, proxies = link([solo], [by_id, by_endpoint])
    assert [p.fronts for p in proxies] == [("solo",), ("solo",)]
    assert linked[0].proxies == ("solo-proxy", "cname-proxy")


def test_link_drops_a_discovered_proxy_fronting_nothing_but_keeps_a_configured_one() -> None:
    unselected = FoundProxy(
        proxy_model(DESCRIBED, ACCOUNT, REGION),
        backing_of([{"RdsResourceId": "x", "Type": "TRACKED_CLUSTER"}]),
    )
    discovered = target("proxy/orders-proxy", endpoint_type="proxy", proxy_name="orders-proxy")
    assert link([discovered], [unselected]) == ([], [])
    configured = replace(discovered, name="orders-proxy", discovered=False)
    linked, (proxy,) = link([configured], [unselected])
    assert linked == [configured] and proxy.fronts == ()


def test_link_a_stored_proxy_fronts_what_it_fronted_when_discovery_failed() -> None:
    stored = replace(proxy_model(DESCRIBED, ACCOUNT, REGION), fronts=("orders",))
    linked, (proxy,) = link([target("orders", cluster_id="orders")], [FoundProxy(stored)])
    assert proxy == stored and linked[0].proxies == ("orders-proxy",)


PROXY = Proxy(
    "orders-proxy", ACCOUNT, REGION, DESCRIBED["DBProxyArn"], "POSTGRESQL", "e", True, False,
    auth=(ProxyAuth("REQUIRED", SECRET),), fronts=("orders",),
)  # fmt: skip


def test_judge_auth_one_row_per_secret() -> None:
    opened = replace(PROXY, auth=(*PROXY.auth, ProxyAuth("ENABLED", None, "legacy")))
    rows = judge_auth(opened, set())
    assert [r.status for r in rows] == ["ok", "warn"]
    assert "legacy: IAMAuth ENABLED: password logins are possible" in rows[1].found
    assert '"IAMAuth":"REQUIRED"' in rows[1].fix and SECRET in rows[1].fix
    assert judge_auth(replace(PROXY, auth=()), set())[0].status == "warn"


def test_judge_auth_fails_a_disabled_secret_only_where_pgwarden_logs_in_through_it() -> None:
    def status(mode: Any, user: str | None, monitor: set[str]) -> str:
        (row,) = judge_auth(replace(PROXY, auth=(ProxyAuth(mode, SECRET, user),)), monitor)
        return row.status

    # pgmonitor logs in through the proxy with an IAM token: DISABLED refuses it.
    assert status("DISABLED", None, {"pgmonitor"}) == "fail"
    assert status("DISABLED", "pgmonitor", {"pgmonitor"}) == "fail"
    # Another user's secret, or no pgwarden login through this proxy: passwords get in.
    assert status("DISABLED", "app", {"pgmonitor"}) == "warn"
    assert status("DISABLED", None, set()) == "warn"
    assert status("ENABLED", None, {"pgmonitor"}) == "warn"
    assert status("REQUIRED", None, {"pgmonitor"}) == "ok"
    (refused,) = judge_auth(replace(PROXY, auth=(ProxyAuth("DISABLED", SECRET),)), {"pgmonitor"})
    assert "pgwarden logs in through this proxy as pgmonitor with an IAM token" in refused.found
    assert refused.fix == (
        f"aws rds modify-db-proxy --region {REGION} --db-proxy-name orders-proxy --auth "
        f"""'[{{"AuthScheme":"SECRETS","SecretArn":"{SECRET}","IAMAuth":"REQUIRED"}}]'"""
    )


def test_judge_auth_fix_sets_every_secret_required_in_one_list() -> None:
    """modify-db-proxy --auth replaces the list: each row's fix keeps every secret."""
    other = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:legacy-XyZ"
    two = (ProxyAuth("DISABLED", SECRET, None, "POSTGRES_MD5"), ProxyAuth("ENABLED", other))
    rows = judge_auth(replace(PROXY, auth=two), {"pgmonitor"})
    assert [r.status for r in rows] == ["fail", "warn"]
    assert rows[0].fix == rows[1].fix
    assert rows[0].fix.endswith(
        f"""'[{{"AuthScheme":"SECRETS","SecretArn":"{SECRET}","IAMAuth":"REQUIRED","""
        f""""ClientPasswordAuthType":"POSTGRES_MD5"}},"""
        f"""{{"AuthScheme":"SECRETS","SecretArn":"{other}","IAMAuth":"REQUIRED"}}]'"""
    )


def test_databases_of_a_proxy_are_its_clusters_then_standalone_instances() -> None:
    solo: list[DBProxyTargetTypeDef] = [{"RdsResourceId": "solo", "Type": "RDS_INSTANCE"}]
    assert databases_of(backing_of(solo + CLUSTER_TARGETS)) == (
        ("cluster", "orders"),
        ("instance", "solo"),
    )
    assert databases_of(()) == ()


def test_judge_fronts_fails_a_proxy_with_no_registered_target() -> None:
    empty = judge_fronts(replace(PROXY, fronts=(), databases=()))
    assert empty.status == "fail" and "no registered cluster or instance" in empty.found
    assert empty.fix == (
        f"aws rds register-db-proxy-targets --region {REGION} --db-proxy-name orders-proxy "
        "--db-cluster-identifiers CLUSTER_ID"
    )
    unwatched = judge_fronts(replace(PROXY, fronts=(), databases=(("cluster", "orders"),)))
    assert unwatched.status == "warn" and "(cluster orders is registered" in unwatched.found
    assert judge_fronts(replace(PROXY, databases=None)).status == "ok"  # fronts orders


def login(host: str | None, n: int) -> PasswordLogin:
    return PasswordLogin("orders", "app", "md5", host, n, END, END)


def test_judge_direct_says_no_evidence_rather_than_ok() -> None:
    none = judge_direct(PROXY, "orders", [], 0, 7)
    assert none.status == "warn" and none.found.startswith("orders: no evidence in the store")
    quiet = judge_direct(PROXY, "orders", [], 12, 7)
    assert quiet.status == "ok" and "in the last 7 days (12 auth events)" in quiet.found


def test_judge_direct_names_the_addresses_and_the_iam_requirement_gone_around() -> None:
    loud = judge_direct(PROXY, "orders", [login("192.0.2.5", 2), login(None, 1)], 60, 7)
    assert loud.status == "warn" and "around the proxy's IAM requirement" in loud.found
    assert "3 direct password logins in the last 7 days" in loud.found
    assert "from 192.0.2.5, an unknown address" in loud.found
    opened = replace(PROXY, auth=(ProxyAuth("DISABLED"),))
    assert "around" not in judge_direct(opened, "orders", [login("192.0.2.5", 1)], 1, 7).found


def test_doctor_says_when_a_regions_proxies_could_not_be_listed() -> None:
    from monitor.aws import AwsSessions
    from monitor.clock import FrozenClock
    from monitor.config import validate
    from monitor.doctor.checks import DoctorContext
    from monitor.doctor.proxies import check_proxies
    from monitor.sources.proxies import Note

    config = validate({"accounts": [{"id": ACCOUNT, "name": "prod", "discover": True}]})
    notes = [
        Note("proxies of account ... not listed: AccessDenied", ACCOUNT, REGION),
        Note("AssumeRole refused", ACCOUNT),  # the accounts group's to report
    ]
    ctx = DoctorContext(config, AwsSessions.from_config(config), FrozenClock(END), [], notes=notes)
    check_proxies(ctx)
    assert [(r.subject, r.check, r.status) for r in ctx.results] == [
        (f"{ACCOUNT} {REGION}", "described", "fail")
    ]
    assert "rds:DescribeDBProxies" in ctx.results[0].fix
