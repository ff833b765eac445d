"""What stops a SIGHUP reload of `pgwarden run`: a change that needs a restart, or a secret
the new config names that cannot be read now (it would fail every run after the reload)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.config import Config
from monitor.errors import SecretError

if TYPE_CHECKING:
    from monitor.aws import AwsSessions


def reload_problems(old: Config, new: Config, aws: AwsSessions) -> list[str]:
    """Why `new` cannot replace `old` in the running daemon; empty when it can."""
    return _needs_restart(old, new) or _unresolved_secrets(new, aws)


def _unresolved_secrets(config: Config, aws: AwsSessions) -> list[str]:
    """Every secret reference the new config uses, resolved now: one that fails rejects it."""
    slack = config.alerts.slack
    refs = [
        (f"accounts[{i}].external_id", account.external_id)
        for i, account in enumerate(config.accounts)
    ]
    if slack.enabled:
        refs += [
            ("alerts.slack.token", slack.token),
            ("alerts.slack.webhook_url", slack.webhook_url),
        ]
    problems = []
    for where, ref in refs:
        if ref is None:
            continue
        try:
            aws.resolve_secret(ref)
        except SecretError as exc:
            problems.append(f"{where}: {exc}")
    return problems


def _needs_restart(old: Config, new: Config) -> list[str]:
    """What a reload cannot apply to a running daemon."""
    problems = []
    if new.store != old.store:
        problems.append("store: changing the store needs a restart")
    if new.metrics != old.metrics:
        problems.append("metrics: changing the metrics server needs a restart")
    return problems
