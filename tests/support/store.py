"""A store filled through pgwarden's own write paths, for report and detector tests.

Targets go in through save_targets, roles through record_roles, auth events through the
pglogs stage's save, assume-role events through the CloudTrail stage's insert and grants
through the IAM stage's store_inventory; only pg_stat_activity sessions are inserted
directly (their recorder needs a live poll).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from monitor.models import AuthEvent, AuthEventKind, Proxy, ProxyAuth, ProxyIamAuth
from monitor.parsing.cloudtrail import AssumeRoleEvent
from monitor.parsing.pglog_stats import ParseStats
from monitor.parsing.policy import ConnectGrant
from monitor.sources.activity import RoleRow
from monitor.sources.iam import Inventory, store_inventory
from monitor.sources.targets import Target
from monitor.store.events import save_auth_events as save
from monitor.store.events import store_assume_role_events
from monitor.store.proxies import save_proxies
from monitor.store.sessions import record_roles
from monitor.store.sqlite import Store, to_text
from monitor.store.targets import save_targets

ACCOUNT = "222222222222"


@dataclass
class StoreBuilder:
    store: Store
    pids: int = 1000
    events: int = 0
    grants: dict[str, list[ConnectGrant]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path) -> StoreBuilder:
        return cls(Store.open(path, exclusive=False))

    def close(self) -> None:
        self.store.close()

    def target(
        self, name: str, watched_since: datetime, account: str = ACCOUNT, resource: str = ""
    ) -> None:
        target = Target(
            name=name, account_id=account, account_name="prod", region="us-east-1",
            endpoint=f"{name}.cluster-abc.us-east-1.rds.amazonaws.com", endpoint_type="cluster",
            port=5432, database="postgres", db_user="pgmonitor", cluster_id=name,
            resource_id=resource or f"cluster-{name.upper()}",
        )  # fmt: skip
        with self.store.transaction() as tx:
            save_targets(tx, [target], watched_since)

    def roles(
        self,
        target: str,
        when: datetime,
        users: dict[str, tuple[str, ...]],
        superuser: bool = False,
    ) -> None:
        """Login roles as a roles poll at `when` sees them: name -> the roles it belongs to."""
        rows = [RoleRow(u, superuser, True, None, member) for u, member in users.items()]
        with self.store.transaction() as tx:
            record_roles(tx, target, rows, to_text(when))

    def auth(
        self,
        target: str,
        user: str,
        when: datetime,
        kind: AuthEventKind = "connection_authorized",
        host: str = "10.0.0.5",
        app: str | None = None,
        pid: int | None = None,
    ) -> None:
        self.events += 1
        event = AuthEvent(
            time=when, kind=kind, user=user, database="postgres", client_host=host,
            client_port=40000 + self.events, pid=pid or self.events, method="pam",
            application_name=app, source="test.log",
        )  # fmt: skip
        save(self.store, target, "test.log", [event], ParseStats(), [], when)

    def event(self, target: str, event: AuthEvent) -> None:
        """Any auth event, as a log source saves it (a proxy's: with `proxy` set)."""
        save(self.store, target, event.source or "test.log", [event], ParseStats(), [], event.time)

    def proxy(
        self,
        name: str,
        fronts: tuple[str, ...],
        networks: tuple[str, ...],
        when: datetime,
        iam_auth: ProxyIamAuth = "REQUIRED",
    ) -> Proxy:
        """An RDS Proxy as discovery stores it, in front of `fronts`."""
        proxy = Proxy(
            name=name, account_id=ACCOUNT, region="us-east-1",
            arn=f"arn:aws:rds:us-east-1:{ACCOUNT}:db-proxy:prx-{name}", engine_family="POSTGRESQL",
            endpoint=f"{name}.proxy-abc.us-east-1.rds.amazonaws.com", require_tls=True,
            debug_logging=False, auth=(ProxyAuth(iam_auth, f"arn:secret:{name}"),),
            fronts=fronts, networks=networks,
        )  # fmt: skip
        with self.store.transaction() as tx:
            save_proxies(tx, [proxy], when)
        return proxy

    def session(
        self,
        target: str,
        user: str,
        start: datetime,
        end: datetime,
        host: str = "10.0.0.5",
        app: str = "psql",
        pid: int | None = None,
    ) -> None:
        """A pg_stat_activity session polled from `start` to `end`."""
        self.pids += 1
        with self.store.transaction() as tx:
            tx.execute(
                "INSERT INTO sessions (target, pid, backend_start, usename, datname, client_addr,"
                " application_name, backend_type, first_seen, last_seen)"
                " VALUES (?, ?, ?, ?, 'postgres', ?, ?, 'client backend', ?, ?)",
                (target, pid or self.pids, to_text(start), user, host, app, to_text(start),
                 to_text(end)),
            )  # fmt: skip

    def assume(self, role_arn: str, when: datetime, error: str | None = None) -> None:
        self.events += 1
        event = AssumeRoleEvent(
            event_id=f"ev-{self.events}", event_time=when, event_name="AssumeRole",
            recipient_account=ACCOUNT, source_account="111111111111",
            principal_arn="arn:aws:iam::111111111111:user/dev", principal_type="IAMUser",
            session_issuer_arn=None, source_ip="203.0.113.9", user_agent="aws-cli",
            vpc_endpoint_id=None, role_arn=role_arn, role_session_name="s",
            external_id_present=False, error_code=error, error_message=None,
        )  # fmt: skip
        with self.store.transaction() as tx:
            store_assume_role_events(tx, [event], when)

    def grant(
        self,
        principal: str,
        target: str | None,
        db_user: str,
        policy: str = "arn:aws:iam::222222222222:policy/db-connect",
        statement: str = "Connect",
        resource_id: str = "",
    ) -> ConnectGrant:
        """Add a grant to the account's next inventory (see `inventory`)."""
        resource = resource_id or (f"cluster-{target.upper()}" if target else "*")
        grant = ConnectGrant(
            principal_arn=principal,
            principal_type="user" if ":user/" in principal else "role",
            via="direct", target=target, resource_id=resource, db_user=db_user, policy=policy,
            statement=statement,
            resource_pattern=f"arn:aws:rds-db:us-east-1:{ACCOUNT}:dbuser:{resource}/{db_user}",
            conditions=None,
        )  # fmt: skip
        self.grants.setdefault(ACCOUNT, []).append(grant)
        return grant

    def inventory(self, when: datetime, account: str = ACCOUNT) -> None:
        """Store the grants added so far as the IAM stage's inventory taken at `when`."""
        grants = self.grants.get(account, [])
        store_inventory(self.store, Inventory(account, list(grants), [], len(grants)), when)


def days(n: float) -> timedelta:
    return timedelta(days=n)
