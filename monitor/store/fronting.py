"""Which RDS Proxies front each target, and whether a client address at the database is one.

Behind a proxy the database sees the proxy, not the client: `pg_stat_activity.client_addr`
and the `connection received: host=...` of its log are the proxy's addresses. pgwarden
takes a database-side connection (or session) on a target with proxies as *via proxy
<name>* when its client address lies in the subnets of a proxy fronting that target
(`Proxy.networks`, from discovery), or, on a proxy target, of the proxy it is polled
through. Such an address is the proxy's, not a client's: it is never a new source, and no
finding names it as the client.

This is inferred from the proxy's subnets: a client inside those subnets that connects to
the database directly is taken for the proxy. Put proxies in subnets of their own to keep
the two apart.

Events read from a proxy's own log carry `proxy` and the client's own address: for them the
proxy is a fact, not an inference.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from monitor import sql
from monitor.models import Proxy
from monitor.store.proxies import load_proxies
from monitor.store.sqlite import Conn

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Fronting:
    """The proxies in front of each target (by pgwarden target name)."""

    proxies: dict[str, tuple[Proxy, ...]] = field(default_factory=dict)

    def via(self, target: str, address: str | None) -> str | None:
        """The proxy whose subnets hold `address`, on a target it fronts; else None."""
        if not address or target not in self.proxies:
            return None
        try:
            ip = ipaddress.ip_address(address.split("/", 1)[0])
        except ValueError:  # a host name (log_hostname) or [local]: not a proxy's address
            return None
        return next((name for name, net in self._networks[target] if ip in net), None)

    @cached_property
    def _networks(self) -> dict[str, list[tuple[str, Network]]]:
        return {
            t: [(p.name, n) for p in ps for n in _networks(p)] for t, ps in self.proxies.items()
        }

    def client(
        self, target: str, address: str | None, proxy: str | None
    ) -> tuple[str | None, str | None]:
        """(the client's address, the proxy it came through) for one event or session.

        `proxy` is set on events a proxy's own log wrote: their address is the client's. A
        database-side address inside a fronting proxy's subnets is the proxy's: no client
        address then, only the proxy.
        """
        if proxy:
            return address, proxy
        through = self.via(target, address)
        return (None, through) if through else (address, None)


def _networks(proxy: Proxy) -> list[Network]:
    nets = []
    for cidr in proxy.networks:
        try:
            nets.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue  # discovery stores AWS's CIDRs; a bad one matches nothing
    return nets


def load_fronting(conn: Conn) -> Fronting:
    """Every stored proxy, by the targets it fronts, and by the proxy targets polled through
    it: what they see of the database came through the proxy too."""
    by_target: dict[str, list[Proxy]] = defaultdict(list)
    by_key = {}
    for proxy in load_proxies(conn):
        by_key[(proxy.account_id, proxy.region, proxy.name)] = proxy
        for target in proxy.fronts:
            by_target[target].append(proxy)
    for name, account, region, proxy_name in conn.execute(sql.load("store/proxy_targets")):
        if (account, region, proxy_name) in by_key:
            by_target[name].append(by_key[(account, region, proxy_name)])
    return Fronting({t: tuple(sorted(ps, key=lambda p: p.name)) for t, ps in by_target.items()})


def via_text(proxy: str | None) -> str:
    """ " via proxy <name>" for evidence and session lists, or nothing."""
    return f" via proxy {proxy}" if proxy else ""
