"""Checks a model cannot make alone: across sections, and against the registries. They
read the raw document, so they run even where fields fail to validate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeGuard

from pydantic import ValidationError

from monitor.config.fields import ROLE_ARN, describe


def cross_checks(raw: Mapping[str, object]) -> list[str]:
    """Checks across sections. They read the raw document so they run even when fields fail."""
    return _account_checks(raw) + _section_checks(raw)


def _account_checks(raw: Mapping[str, object]) -> list[str]:
    """Accounts, and the targets that name them."""
    problems: list[str] = []
    accounts = _list_of_tables(raw.get("accounts"))
    known_accounts: set[str] = set()
    for i, account in accounts:
        ident, name = account.get("id"), account.get("name")
        for key in (ident, name):
            if isinstance(key, str):
                known_accounts.add(key)
        if account.get("role_arn") and account.get("profile"):
            problems.append(f"accounts[{i}]: set role_arn or profile, not both")
        role = account.get("role_arn")
        match = ROLE_ARN.fullmatch(role) if isinstance(role, str) else None
        if match and isinstance(ident, str) and match.group(1) != ident:
            problems.append(
                f"accounts[{i}].role_arn: role is in account {match.group(1)}, "
                f"but the account id is {ident}"
            )
    _duplicates(problems, "accounts", accounts, "id")
    _duplicates(problems, "accounts", accounts, "name")

    targets = _list_of_tables(raw.get("targets"))
    _duplicates(problems, "targets", targets, "name")
    for i, target in targets:
        account_ref = target.get("account")
        if isinstance(account_ref, str) and account_ref not in known_accounts:
            problems.append(
                f'targets[{i}].account: no [[accounts]] entry has id or name "{account_ref}"'
            )
        ids = [k for k in ("cluster_id", "instance_id", "proxy_name") if target.get(k)]
        if len(ids) != 1:
            problems.append(
                f"targets[{i}]: set exactly one of cluster_id, instance_id or proxy_name"
                + (f" (found {', '.join(ids)})" if ids else "")
            )
        if target.get("endpoint_type") == "proxy" and not target.get("proxy_name"):
            problems.append(f"targets[{i}].proxy_name: required when endpoint_type is proxy")
    return problems


def _section_checks(raw: Mapping[str, object]) -> list[str]:
    """Options of one section that hold only together."""
    problems: list[str] = []
    activity = _table(raw, "activity")
    interval, deadline = activity.get("interval_s", 10), activity.get("poll_deadline_s", 8)
    if _number(interval) and _number(deadline) and deadline >= interval:
        # A poll that may outlast its interval would push every later poll back.
        problems.append(
            f"activity.poll_deadline_s: {deadline} must be shorter than interval_s ({interval})"
        )

    aws = _table(raw, "aws")
    runner = aws.get("runner_role_arn")
    match = ROLE_ARN.fullmatch(runner) if isinstance(runner, str) else None
    mgmt = aws.get("management_accounts")
    if match and isinstance(mgmt, list) and mgmt and match.group(1) not in mgmt:
        problems.append(
            f"aws.runner_role_arn: role is in account {match.group(1)}, which "
            "aws.management_accounts does not list"
        )
    slack = _table(_table(raw, "alerts"), "slack")
    if slack.get("enabled"):
        needed = "token" if slack.get("mode", "bot") == "bot" else "webhook_url"
        if not slack.get(needed):
            problems.append(f"alerts.slack.{needed}: required when alerts are enabled")
    trail = _table(raw, "cloudtrail")
    if trail.get("enabled", True):
        engine = trail.get("engine", "local")
        if engine == "athena" and not trail.get("output_location"):
            problems.append("cloudtrail.output_location: required when engine is athena")
    return problems


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _table(raw: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def _list_of_tables(value: object) -> list[tuple[int, dict[str, object]]]:
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _duplicates(
    problems: list[str], section: str, items: list[tuple[int, dict[str, object]]], key: str
) -> None:
    first: dict[object, int] = {}
    for i, item in items:
        value = item.get(key)
        if not isinstance(value, str):
            continue
        if value in first:
            problems.append(
                f'{section}[{i}].{key}: duplicate "{value}" (also {section}[{first[value]}])'
            )
        else:
            first[value] = i


def detector_checks(raw: object) -> list[str]:
    """Each `[detectors.NAME]` names a registered detector and validates as its options."""
    from monitor.judge.detectors.registry import DETECTORS, detectors

    if not isinstance(raw, dict):
        return []
    known = detectors()
    problems: list[str] = []
    for name, options in raw.items():
        if name not in known:
            problems.append(DETECTORS.unknown(name, f"detectors.{name}"))
            continue
        try:
            known[name].options.model_validate(options)
        except ValidationError as exc:
            problems.extend(describe(exc, ("detectors", name)))
    return problems


def suppression_checks(raw: object) -> list[str]:
    from monitor.judge.detectors.registry import DETECTORS, detectors

    known = detectors()
    return [
        DETECTORS.unknown(name, f"suppressions[{i}].detector")
        for i, item in _list_of_tables(raw)
        if isinstance(name := item.get("detector"), str) and name not in known
    ]


def moved_pglogs_keys(raw: Mapping[str, object]) -> dict[str, str]:
    """Keys of `[pglogs]` written the old way: the dotted prefix, and how to write it now."""
    pglogs = _table(raw, "pglogs")
    moved: dict[str, str] = {}
    files = pglogs.get("files")
    if isinstance(files, list) and any(not isinstance(f, dict) for f in files):
        moved["pglogs.files"] = (
            "pglogs.files: a flat list no longer says whose logs they are; write one "
            '[[pglogs.files]] table per target: target = "NAME", paths = ["..."]'
        )
    for old, new in (("athena_table", "table"), ("athena_local_dir", "local_dir")):
        if old in pglogs:
            moved[f"pglogs.{old}"] = f"pglogs.{old}: moved; write {new} = ... under [pglogs.athena]"
    return moved


def pglogs_checks(raw: Mapping[str, object]) -> list[str]:
    """Which targets file lists name, and what the Athena log source needs."""
    problems: list[str] = []
    pglogs = _table(raw, "pglogs")
    named = {t.get("name") for _, t in _list_of_tables(raw.get("targets"))}
    discovers = any(a.get("discover") for _, a in _list_of_tables(raw.get("accounts")))
    for i, entry in _list_of_tables(pglogs.get("files")):
        target = entry.get("target")
        # A discovered target's name ("account/region/cluster") is known only at run time.
        if isinstance(target, str) and target not in named and not discovers:
            problems.append(
                f'pglogs.files[{i}].target: no [[targets]] entry is named "{target}" and no '
                "account has discover = true"
            )
    sources = pglogs.get("sources", ["cloudwatch"])
    athena = _table(pglogs, "athena")
    if pglogs.get("enabled", True) and isinstance(sources, list) and "athena" in sources:
        engine = athena.get("engine", "local")
        if engine == "local" and not athena.get("local_dir"):
            problems.append(
                "pglogs.athena.local_dir: required when the athena source runs locally "
                '(or set engine = "athena")'
            )
        for key in ("output_location", "logs_location"):
            if engine == "athena" and not athena.get(key):
                problems.append(f"pglogs.athena.{key}: required when engine is athena")
    return problems


# The weekly access review reads the week before it.
REVIEW_DAYS = 7


def retention_checks(raw: Mapping[str, object]) -> list[str]:
    """`[retention] days` against the longest look-back of the enabled detectors: a shorter
    one would have a detector judge on pruned evidence (an unused-* detector would call a
    user unused whose logins were deleted)."""
    from monitor.config import RetentionConfig

    retention = _table(raw, "retention")
    days = retention.get("days", RetentionConfig.model_fields["days"].default)
    if not retention.get("enabled", True) or not _number(days):
        return []
    needed, setting = _longest_lookback(_table(raw, "detectors"))
    if days >= needed:
        return []
    return [
        f"retention.days: {days} is shorter than {setting} ({needed:g} days); "
        f"keep at least {needed:g} days, or that detector judges on pruned evidence"
    ]


def _longest_lookback(detectors: Mapping[str, object]) -> tuple[float, str]:
    """(days, the setting that says so) of the longest look-back an enabled detector has,
    as each declares it (`DetectorOptions.LOOKBACK`)."""
    from monitor.judge.detectors.registry import detectors as registered

    longest: tuple[float, str] = (REVIEW_DAYS, f"the weekly access review's {REVIEW_DAYS} days")
    for name, spec in registered().items():
        options, keys = _table(detectors, name), spec.options.LOOKBACK
        if not keys or options.get("enabled", True) is False:
            continue
        fields = spec.options.model_fields
        values = [options.get(k, fields[k].default) for k in keys]
        if not all(_number(v) for v in values):
            continue  # detector_checks reports the bad value
        total = float(sum(v for v in values if _number(v)))
        if total > longest[0]:
            longest = (total, " + ".join(f"detectors.{name}.{k}" for k in keys))
    return longest
