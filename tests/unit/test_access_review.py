"""The access review's files, against a store filled through pgwarden's own write paths."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FrozenClock
from monitor.config import validate
from monitor.errors import PgwardenError
from monitor.outputs.formats import csv_value
from monitor.outputs.reports.access_review import parse_formats, weekly_report, write_report
from monitor.outputs.reports.period import choose, date_range, iso_week, last_complete_week
from monitor.stages.base import StageContext
from tests.support import review
from tests.support.review import APP_ROLE, BOB, END, ODD, OLD_ROLE
from tests.support.store import StoreBuilder, days

USERS = [
    "account_id", "account_name", "region", "target", "proxies", "db_user", "rds_iam", "db_roles",
    "superuser", "iam_principals_with_connect", "roles_assumed_in_period", "sessions_in_period",
    "distinct_client_hosts", "distinct_applications", "first_seen", "last_seen",
    "days_since_last_seen", "auth_failures_in_period", "open_findings", "recommendation",
    "reason", "reviewer", "decision", "notes",
]  # fmt: skip
PRINCIPALS = [
    "principal_arn", "type", "account", "can_connect_as", "last_assumed", "last_login_as_user",
    "failed_logins",
    "recommendation", "reason", "reviewer", "decision",
]  # fmt: skip
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[StoreBuilder]:
    builder = review.build(tmp_path / "p.db")
    yield builder
    builder.close()


def context(builder: StoreBuilder, tmp_path: Path, **raw: Any) -> StageContext:
    config = validate(
        {
            "accounts": [{"id": "222222222222", "name": "prod-data"}],
            "reports": {"dir": str(tmp_path / "reports")},
            **raw,
        }
    )
    return StageContext(config, builder.store, FrozenClock(END + days(1)))


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    raw = path.read_bytes()
    assert b"\r\n" in raw  # RFC 4180 line ends
    reader = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""))
    header = next(reader)
    return header, [dict(zip(header, row, strict=True)) for row in reader]


def report(builder: StoreBuilder, tmp_path: Path, week: str = "2026-W47", **raw: Any) -> Path:
    ctx = context(builder, tmp_path, **raw)
    write_report(ctx, iso_week(week, "UTC"))
    return ctx.config.reports.dir


def test_access_review_shows_the_proxies_in_front_of_a_target(
    world: StoreBuilder, tmp_path: Path
) -> None:
    from monitor.models import Proxy, ProxyAuth
    from monitor.store.proxies import save_proxies

    def proxy(name: str) -> Proxy:
        return Proxy(
            name, "222222222222", "us-east-1", "arn:aws:rds:us-east-1:222222222222:db-proxy:x",
            "POSTGRESQL", f"{name}.proxy", True, False, (ProxyAuth("REQUIRED"),), ("orders",),
        )  # fmt: skip

    with world.store.transaction() as conn:
        save_proxies(conn, [proxy("orders-proxy"), proxy("<b>p</b>")], END)
    out = report(world, tmp_path)
    _, rows = read_csv(out / "access-review-2026-W47-users.csv")
    by = {(r["target"], r["db_user"]): r["proxies"] for r in rows}
    assert by["orders", "app"] == "<b>p</b>;orders-proxy"
    assert by["billing", "newbie"] == ""
    html = next(out.glob("*.html")).read_text(encoding="utf-8")
    assert "via proxies" in html and "orders-proxy" in html and "<b>p</b>" not in html
    # A proxy no longer found is retired: no longer in front of anything.
    from monitor.store.proxies import retire_proxies

    with world.store.transaction() as conn:
        retire_proxies(conn, [proxy("orders-proxy")], END)
    out = report(world, tmp_path)
    _, rows = read_csv(out / "access-review-2026-W47-users.csv")
    assert {(r["target"], r["db_user"]): r["proxies"] for r in rows}["orders", "app"] == (
        "orders-proxy"
    )


def test_access_review_users_csv(world: StoreBuilder, tmp_path: Path) -> None:
    out = report(world, tmp_path)
    header, rows = read_csv(out / "access-review-2026-W47-users.csv")
    assert header == USERS
    keys = [(r["account_id"], r["target"], csv_value(r["db_user"])) for r in rows]
    assert keys == sorted(keys)  # stable order: account, target, db user (code points)
    by = {(r["target"], r["db_user"]): r for r in rows}
    assert set(by) == {
        ("billing", "newbie"),
        *(("orders", u) for u in ("'=cmd", "<b>x</b>", "admin", "app", "legacy", "old", ODD)),
    }
    app = by["orders", "app"]
    # One polled session (its own login line is the same session) and one short login only
    # the logs saw; the session after the week and the failure before it do not count.
    assert app["sessions_in_period"] == "2"
    assert (app["distinct_client_hosts"], app["distinct_applications"]) == ("2", "2")
    assert app["auth_failures_in_period"] == "1"
    assert app["iam_principals_with_connect"] == f"{APP_ROLE};{BOB}"
    assert app["roles_assumed_in_period"] == APP_ROLE
    assert (app["first_seen"], app["last_seen"]) == (
        "2026-11-20T00:00:00+00:00",
        "2026-11-21T00:00:00+00:00",
    )
    assert app["days_since_last_seen"] == "2"
    assert (app["account_name"], app["region"], app["rds_iam"]) == (
        "prod-data",
        "us-east-1",
        "true",
    )
    assert by["orders", "admin"]["superuser"] == "true"
    assert by["orders", "admin"]["db_roles"] == "rds_iam;rds_superuser"
    assert by["orders", "old"]["roles_assumed_in_period"] == ""  # its assumption was refused
    for row in rows:
        assert (row["reviewer"], row["decision"], row["notes"]) == ("", "", "")
        for column in ("first_seen", "last_seen"):
            assert row[column] == "" or ISO_UTC.fullmatch(row[column]), row[column]


def test_access_review_recommendations_and_reasons(world: StoreBuilder, tmp_path: Path) -> None:
    out = report(world, tmp_path)
    _, rows = read_csv(out / "access-review-2026-W47-users.csv")
    advice = {(r["target"], r["db_user"]): (r["recommendation"], r["reason"]) for r in rows}
    assert advice["orders", "app"] == ("keep", "in use (last used 2026-11-21)")
    assert advice["orders", "old"] == (
        "revoke",
        "no login or session in 90 days (last used 2026-07-26)",
    )
    assert advice["orders", "admin"] == (
        "review",
        "superuser (or rds_superuser) reachable with an IAM token",
    )
    assert advice["orders", "legacy"] == (
        "review",
        "IAM grants connect, but the user lacks rds_iam: the grant is unused",
    )
    assert advice["billing", "newbie"] == (
        "keep",
        "new: first seen 2026-11-18, within the grace period",
    )
    # The unused-db-user detector's own threshold decides: at 150 days, old is in use.
    out = report(world, tmp_path, detectors={"unused-db-user": {"days": 150}})
    _, rows = read_csv(out / "access-review-2026-W47-users.csv")
    advice = {(r["target"], r["db_user"]): (r["recommendation"], r["reason"]) for r in rows}
    assert advice["orders", "old"] == ("keep", "in use (last used 2026-07-26)")


def test_access_review_principals_csv(world: StoreBuilder, tmp_path: Path) -> None:
    out = report(world, tmp_path)
    header, rows = read_csv(out / "access-review-2026-W47-principals.csv")
    assert header == PRINCIPALS
    assert [r["principal_arn"] for r in rows] == [APP_ROLE, OLD_ROLE, BOB]
    app, old, bob = rows
    assert (app["type"], app["account"], app["can_connect_as"]) == (
        "role",
        "222222222222",
        "orders/app",
    )
    assert app["last_assumed"] == "2026-11-21T00:00:00+00:00"
    assert (app["recommendation"], app["reason"]) == ("keep", "in use (last assumed 2026-11-21)")
    assert old["last_assumed"] == ""  # refused assumptions are not uses
    assert old["last_login_as_user"] == "2026-07-26T00:00:00+00:00"
    assert (old["recommendation"], old["reason"]) == (
        "revoke",
        "not assumed and no login as its db users in 90 days",
    )
    assert (bob["type"], bob["can_connect_as"], bob["recommendation"]) == (
        "user",
        "orders/*",
        "review",
    )
    assert bob["reason"] == "may connect by pattern or to unwatched databases: orders/*"
    assert bob["last_login_as_user"] == "2026-11-22T00:00:00+00:00"


def test_access_review_principals_failed_logins(world: StoreBuilder, tmp_path: Path) -> None:
    """Failed logins whose caller the database's own log names count for that principal: an
    assumed-role session for its role, in the period only."""
    from monitor.models import AuthEvent

    def failed(when: datetime, caller: str | None) -> None:
        world.events += 1
        world.event(
            "orders",
            AuthEvent(
                time=when, kind="auth_failed", user="app", method="iam",
                reason_code="NotAuthorized", caller_arn=caller, pid=world.events,
                source="iam-db-auth-error",
            ),
        )  # fmt: skip

    session = "arn:aws:sts::222222222222:assumed-role/app-db/i-0abc"
    for hours in (1, 2, 3):
        failed(END - days(1) + timedelta(hours=hours), session)
    failed(END - days(1), "arn:aws:iam::222222222222:user/bob")
    failed(END - days(1), "arn:aws:sts::333333333333:assumed-role/app-db/x")  # other account
    failed(END - days(1), None)
    failed(END + days(1), session)  # after the period
    out = report(world, tmp_path)
    _, rows = read_csv(out / "access-review-2026-W47-principals.csv")
    assert {r["principal_arn"]: r["failed_logins"] for r in rows} == {
        APP_ROLE: "3",
        OLD_ROLE: "0",
        BOB: "1",
    }


def test_access_review_sessions_via_proxy(world: StoreBuilder, tmp_path: Path) -> None:
    """Sessions from a fronting proxy's subnets are "via proxy", not client hosts."""
    world.proxy("p1", ("orders",), ("10.0.0.0/28",), END - days(30))
    out = report(world, tmp_path)
    _, rows = read_csv(out / "access-review-2026-W47-users.csv")
    app = next(r for r in rows if (r["target"], r["db_user"]) == ("orders", "app"))
    # 10.0.0.5 and 10.0.0.9 are both inside the proxy's subnet: one "host", the proxy.
    assert (app["sessions_in_period"], app["distinct_client_hosts"]) == ("2", "1")


@pytest.mark.parametrize(
    ("arn", "key"),
    [
        (
            "arn:aws:sts::222222222222:assumed-role/app-db/i-0abc",
            ("222222222222", "role", "app-db"),
        ),
        ("arn:aws:iam::222222222222:role/team/app-db", ("222222222222", "role", "app-db")),
        ("arn:aws:iam::222222222222:user/bob", ("222222222222", "user", "bob")),
        ("arn:aws:sts::222222222222:federated-user/bob", None),
        ("arn:aws:iam::222222222222:policy/x", None),
        ("not an arn", None),
    ],
)
def test_access_review_principal_key(arn: str, key: tuple[str, str, str] | None) -> None:
    from monitor.outputs.reports.rows import principal_key

    assert principal_key(arn) == key


def test_access_review_escapes_formulas_and_markup(world: StoreBuilder, tmp_path: Path) -> None:
    out = report(world, tmp_path)
    text = (out / "access-review-2026-W47-users.csv").read_text(encoding="utf-8")
    assert ",'=cmd," in text and ",=cmd," not in text
    page = (out / "access-review-2026-W47.html").read_text(encoding="utf-8")
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_access_review_revocation_plan(world: StoreBuilder, tmp_path: Path) -> None:
    out = report(world, tmp_path)
    plan = (out / "access-review-2026-W47-revoke.sql").read_text(encoding="utf-8")
    statements = [line for line in plan.splitlines() if not line.startswith("--") and line]
    assert statements == [
        'REVOKE rds_iam FROM "old";',
        'REVOKE rds_iam FROM U&"x""\\000aDROP TABLE t; --";',
    ]
    assert "-- target orders (prod-data, 222222222222, us-east-1)" in plan
    assert "-- old: no login or session in 90 days (last used 2026-07-26)" in plan
    assert "pgwarden never runs this file" in plan
    iam = json.loads((out / "access-review-2026-W47-revoke-iam.json").read_text())
    assert iam["report"] == "2026-W47"
    (removal,) = iam["removals"]
    assert (removal["principal_arn"], removal["statement"]) == (OLD_ROLE, "OldConnect")
    assert removal["resources"] == [
        {
            "action": "remove",
            "resource": "arn:aws:rds-db:us-east-1:222222222222:dbuser:cluster-ORDERS/old",
        }
    ]
    assert removal["grants"] == ["orders/old"]
    assert removal["because"] == [
        "principal: not assumed and no login as its db users in 90 days",
        "orders/old: no login or session in 90 days (last used 2026-07-26)",
    ]


def test_access_review_counts_follow_the_period(world: StoreBuilder, tmp_path: Path) -> None:
    out = report(world, tmp_path, week="2026-W46")
    _, rows = read_csv(out / "access-review-2026-W46-users.csv")
    app = next(r for r in rows if r["db_user"] == "app")
    assert (app["sessions_in_period"], app["auth_failures_in_period"]) == ("0", "1")
    assert app["last_seen"] == ""  # nothing before the end of W46
    ctx = context(world, tmp_path)
    write_report(ctx, date_range("2026-11-09", "2026-11-23", "UTC"))
    _, rows = read_csv(ctx.config.reports.dir / "access-review-2026-11-09_2026-11-23-users.csv")
    app = next(r for r in rows if r["db_user"] == "app")
    assert (app["sessions_in_period"], app["auth_failures_in_period"]) == ("2", "2")


def test_access_review_formats_and_out(world: StoreBuilder, tmp_path: Path) -> None:
    ctx = context(world, tmp_path)
    files = write_report(ctx, iso_week("2026-W47", "UTC"), tmp_path / "elsewhere", ["html"])
    assert [f.kind for f in files] == ["html", "revoke-sql", "revoke-iam"]
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == [
        "access-review-2026-W47-revoke-iam.json",
        "access-review-2026-W47-revoke.sql",
        "access-review-2026-W47.html",
    ]
    assert not ctx.config.reports.dir.exists()
    assert parse_formats("csv, html") == ["csv", "html"]
    with pytest.raises(PgwardenError, match="--format pdf: unknown format pdf; known: csv, html"):
        parse_formats("pdf")


def test_access_review_weekly_report_writes_last_complete_week(
    world: StoreBuilder, tmp_path: Path
) -> None:
    ctx = context(world, tmp_path)  # the clock says Tuesday of W48
    result = weekly_report(ctx)
    assert result.columns == ("file", "path", "rows", "s3")
    assert [(r[0], Path(r[1]).name, r[2]) for r in result.rows] == [
        ("users", "access-review-2026-W47-users.csv", "8"),
        ("principals", "access-review-2026-W47-principals.csv", "3"),
        ("html", "access-review-2026-W47.html", "8"),
        ("revoke-sql", "access-review-2026-W47-revoke.sql", "2"),
        ("revoke-iam", "access-review-2026-W47-revoke-iam.json", "1"),
    ]
    assert not list(ctx.config.reports.dir.glob("*.part"))
    off = context(world, tmp_path / "off", reports={"enabled": False, "dir": str(tmp_path / "x")})
    assert weekly_report(off).rows == [] and not (tmp_path / "x").exists()


def test_period_weeks_days_and_time_zones() -> None:
    week = iso_week("2026-W47", "Europe/Berlin")
    assert (week.start, week.end) == (
        datetime(2026, 11, 15, 23, tzinfo=UTC),
        datetime(2026, 11, 22, 23, tzinfo=UTC),
    )
    # The week daylight saving ends in has 7 days of 169 hours.
    dst = iso_week("2026-W43", "Europe/Berlin")
    assert len(dst.days) == 7 and (dst.end - dst.start).total_seconds() == 169 * 3600
    assert iso_week("2026-W53", "UTC").days[0].isoformat() == "2026-12-28"
    monday = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)  # still Sunday in New York
    assert last_complete_week(monday, "UTC").label == "2026-W47"
    assert last_complete_week(monday, "America/New_York").label == "2026-W46"
    assert choose(None, None, None, monday, "UTC").label == "2026-W47"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("2027-W53", None, None), "--week 2027-W53: not an ISO week; write YYYY-Www"),
        (("47", None, None), "--week 47: not an ISO week"),
        (("2026-W47", "2026-11-01", None), "--week: give either --week or --since/--until"),
        ((None, "2026-11-01", None), "--since/--until: give both dates"),
        ((None, "2026-11-08", "2026-11-01"), "--until 2026-11-01: must be after --since"),
        ((None, "1 Nov", "2026-11-08"), "--since 1 Nov: not a date; write YYYY-MM-DD"),
    ],
)
def test_period_bad_options(args: tuple[str | None, ...], message: str) -> None:
    with pytest.raises(PgwardenError, match=re.escape(message)):
        choose(*args, END, "UTC")


@pytest.mark.parametrize(("raw", "mode"), [({}, 0o600), ({"file_mode": 0o640}, 0o640)])
def test_access_review_files_get_the_configured_mode(
    world: StoreBuilder, tmp_path: Path, raw: dict[str, Any], mode: int
) -> None:
    import os
    import stat

    ctx = context(world, tmp_path, reports={"dir": str(tmp_path / "reports"), **raw})
    old = os.umask(0o022)  # a usual umask: it neither widens 0600 nor narrows 0640 here
    try:
        files = write_report(ctx, iso_week("2026-W47", "UTC"))
    finally:
        os.umask(old)
    assert len(files) == 5
    assert {stat.S_IMODE(f.path.stat().st_mode) for f in files} == {mode}
