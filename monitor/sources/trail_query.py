"""One trail query on request (`pgwarden trail ...`): which engine, window, roles and
accounts, and the engine the stage and the doctor use too.

A role is reported when it is named (--role-arn), else when the config watches it. Role
assumptions are read from the partitions of the accounts those roles live in, so a listing
of two roles opens two accounts' files, not the organisation's; access changes from every
configured account.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from monitor.progress import OnProgress, no_progress

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.parsing.cloudtrail import AccessChangeEvent, AssumeRoleEvent
    from monitor.sources.cloudtrail import TrailEngine, TrailWindow
    from monitor.sources.trail_local import TrailResult

_Event = TypeVar("_Event")


@dataclass(frozen=True)
class TrailRequest:
    """What the user asked for: the window as typed, regions, and a local copy to read."""

    since: str
    until: str | None = None
    regions: tuple[str, ...] = ()
    local_dir: Path | None = None


def trail_engine(
    config: Config | None, local_dir: Path | None = None, *, progress: OnProgress = no_progress
) -> TrailEngine:
    """The engine `[cloudtrail]` names (`local_dir` forces the local one; without a config,
    `trail --local`, it is the only one), with `[aws]`'s endpoint (a VPC endpoint or a
    sandbox) and profile for Athena."""
    from monitor.config import CloudTrailConfig
    from monitor.sources.cloudtrail import open_engine

    if config is None:
        return open_engine(CloudTrailConfig(), local_dir=local_dir, progress=progress)
    return open_engine(
        config.cloudtrail,
        local_dir=local_dir,
        default_region=config.aws.region,
        progress=progress,
        **athena_connect_kwargs(config),
    )


def athena_connect_kwargs(config: Config) -> dict[str, str]:
    """pyathena's connection arguments from `[aws]`: Athena runs with pgwarden's own role."""
    aws = config.aws
    athena: dict[str, str] = {}
    if aws.endpoint_url:
        athena["endpoint_url"] = aws.endpoint_url
    if aws.credential_source == "profile" and aws.profile:
        athena["profile_name"] = aws.profile
    return athena


def assume_roles(
    config: Config | None,
    request: TrailRequest,
    role_arns: Sequence[str],
    *,
    all_roles: bool,
    now: datetime,
    progress: OnProgress = no_progress,
) -> tuple[list[AssumeRoleEvent], TrailResult]:
    """AssumeRole* into the roles named, else the watched roles (every role with
    `all_roles`, or without a config), read from those roles' accounts only."""
    from monitor.sources.cloudtrail import (
        assume_role_events,
        check_role_arns,
        role_accounts,
        watched_roles,
    )

    roles: list[str] | None
    if all_roles:
        roles = None
    elif role_arns:
        roles = check_role_arns(role_arns)
    elif config is not None:
        roles = watched_roles(config)
    else:
        roles = None
    accounts = None if roles is None else list(role_accounts(roles))
    return _query(
        config, request, accounts, now, progress,
        lambda engine, window: assume_role_events(engine, window, roles),
    )  # fmt: skip


def access_changes(
    config: Config | None,
    request: TrailRequest,
    role_arns: Sequence[str],
    *,
    now: datetime,
    progress: OnProgress = no_progress,
) -> tuple[list[AccessChangeEvent], TrailResult]:
    """Access changes in the configured accounts (all of them without a config), with
    policy changes on the roles named, else the watched roles."""
    from monitor.sources.cloudtrail import access_change_events, check_role_arns, watched_roles

    if role_arns:
        roles = check_role_arns(role_arns)
    else:
        roles = watched_roles(config) if config is not None else []
    accounts = sorted({a.id for a in config.accounts}) if config is not None else []
    return _query(
        config, request, accounts, now, progress,
        lambda engine, window: access_change_events(engine, window, roles),
    )  # fmt: skip


def _query(
    config: Config | None,
    request: TrailRequest,
    accounts: list[str] | None,
    now: datetime,
    progress: OnProgress,
    query: Callable[[TrailEngine, TrailWindow], tuple[list[_Event], TrailResult]],
) -> tuple[list[_Event], TrailResult]:
    """Run one query over the request's window (until now when --until is not given)."""
    from monitor.sources.cloudtrail import make_window, parse_moment

    start = parse_moment(request.since, "--since")
    end = parse_moment(request.until, "--until") if request.until else now
    window = make_window(start, end, accounts or None, list(request.regions) or None)
    engine = trail_engine(config, request.local_dir, progress=progress)
    try:
        return query(engine, window)
    finally:
        engine.close()
