"""One small world for the access-review tests, built through tests/support/store.py.

Week 2026-W47 (Mon 16 to Sun 22 November 2026, UTC). On target `orders`, watched for 200
days: `app` is in use, `old` was last used 120 days before the week's end, `admin` is an
rds_superuser, `legacy` has no rds_iam, `=cmd` and `<b>x</b>` are names chosen to attack
a spreadsheet and a page. On `billing`: `newbie`, created five days before the end.
Role app-db (assumed in the week) may connect as app, role old-db (never assumed) as old,
and user bob as anyone on orders.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.support.store import StoreBuilder, days

END = datetime(2026, 11, 23, tzinfo=UTC)  # end of 2026-W47
APP_ROLE = "arn:aws:iam::222222222222:role/app-db"
OLD_ROLE = "arn:aws:iam::222222222222:role/old-db"
BOB = "arn:aws:iam::222222222222:user/bob"
ODD = 'x"\nDROP TABLE t; --'  # a role name that tries to escape SQL comments and quotes


def build(path: Path) -> StoreBuilder:
    b = StoreBuilder.open(path)
    b.target("orders", END - days(200))
    b.target("billing", END - days(200))
    users = ("app", "old", "=cmd", "<b>x</b>", ODD)
    roles = {u: ("rds_iam",) for u in users}
    b.roles(
        "orders", END - days(200), roles | {"legacy": (), "admin": ("rds_iam", "rds_superuser")}
    )
    b.roles("billing", END - days(5), {"newbie": ("rds_iam",)})
    # app: a polled session and its own login line (one session, not two), a short
    # connection only the logs saw, and a failed login; all in the week.
    b.session("orders", "app", END - days(3), END - days(2.9), host="10.0.0.5", pid=77)
    b.auth("orders", "app", END - days(3), host="10.0.0.5", pid=77)
    b.auth("orders", "app", END - days(2), host="10.0.0.9", app="batch")
    b.auth("orders", "app", END - days(1), kind="auth_failed", host="10.6.6.6")
    # Outside the week: before it and after it.
    b.auth("orders", "app", END - days(9), kind="auth_failed")
    b.session("orders", "app", END + days(1), END + days(1.1))
    b.auth("orders", "old", END - days(120))
    b.auth("orders", "=cmd", END - days(1))
    b.auth("orders", "<b>x</b>", END - days(1))
    b.auth("orders", "admin", END - days(1))
    b.auth("orders", ODD, END - days(150))
    b.grant(APP_ROLE, "orders", "app")
    b.grant(OLD_ROLE, "orders", "old", statement="OldConnect")
    b.grant(BOB, "orders", "*")
    b.inventory(END - days(200))
    b.assume(APP_ROLE, END - days(2))
    b.assume(OLD_ROLE, END - days(2), error="AccessDenied")  # refused: not a use
    return b
