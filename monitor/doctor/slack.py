"""Slack checks: the token resolves, `auth.test` accepts it, and each configured channel
exists with the bot in it (`chat.postMessage` to a channel without the bot fails with
`not_in_channel`).

Scopes: chat:write; channels:read and groups:read to look channels up; channels:history and
groups:history for delivery to look for an alert it may have posted already.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitor.doctor.accounts import secret_fix
from monitor.doctor.checks import DoctorContext, Outcome, fail, group, ok, warn
from monitor.errors import SecretError
from monitor.outputs.alerts.parking import found, parked_in, retry_command
from monitor.outputs.alerts.slack import (
    CHANNEL_ID,
    configured_channels,
    lookup_channel,
    make_web_client,
)

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

CHECKS = ("enabled", "token", "auth.test", "channel", "history", "parked")


@group("slack", CHECKS)
def check_slack(ctx: DoctorContext) -> None:
    slack = ctx.config.alerts.slack
    if not slack.enabled:
        ctx.record(
            "slack",
            "[alerts.slack]",
            "enabled",
            warn("Slack alerts are disabled: findings stay in the store", "enabled = true"),
        )
        return
    ref = slack.token if slack.mode == "bot" else slack.webhook_url
    assert ref is not None  # config validation requires it when enabled
    secret: list[str] = []
    placeholder = "xoxb-BOT-TOKEN" if slack.mode == "bot" else "WEBHOOK_URL"

    def token() -> Outcome:
        try:
            secret.append(ctx.aws.resolve_secret(ref))
        except SecretError as exc:
            return fail(
                str(exc),
                secret_fix(ref, "xoxb-BOT-TOKEN" if slack.mode == "bot" else "WEBHOOK_URL"),
            )
        return ok(f"{slack.mode} {'token' if slack.mode == 'bot' else 'URL'} from {ref}")

    check_parked(ctx)
    if ctx.attempt("slack", slack.mode, "token", token).status == "fail" or slack.mode != "bot":
        return
    client = make_web_client(secret[0], slack.base_url)
    bot: dict[str, object] = {}

    def auth_test() -> Outcome:
        from slack_sdk.errors import SlackApiError

        try:
            response = client.auth_test()
        except SlackApiError as exc:
            return fail(
                f"auth.test: {_error(exc)}: not a valid bot token", secret_fix(ref, placeholder)
            )
        bot.update({key: response.get(key) for key in ("user", "user_id", "team")})
        return ok(f"bot @{bot.get('user')} ({bot.get('user_id')}) in {bot.get('team')}")

    if ctx.attempt("slack", "bot", "auth.test", auth_test).status == "fail":
        ctx.block("slack:auth", "Slack refused the token", "the slack bot auth.test row")
    user = str(bot.get("user") or "pgwarden")
    for _, name in configured_channels(slack):
        if ctx.skip_if_blocked("slack", name, ["channel", "history"], "slack:auth"):
            continue
        there = ctx.attempt("slack", name, "channel", lambda name=name: channel(client, name, user))  # type: ignore[misc]
        if there.status == "ok":
            ctx.attempt("slack", name, "history", lambda name=name: history(client, name))  # type: ignore[misc]


def check_parked(ctx: DoctorContext) -> None:
    """A channel parked after a permanent error holds its alerts until someone resumes it."""
    store = ctx.config.store
    stuck = parked_in(store.path, store.busy_timeout_ms)
    if not stuck:
        ctx.record("slack", "[alerts.slack]", "parked", ok("no channel is parked"))
    for entry in stuck:
        ctx.record(
            "slack", entry.channel, "parked", fail(found(entry), retry_command(entry.channel))
        )


def channel(client: WebClient, name: str, bot: str) -> Outcome:
    from slack_sdk.errors import SlackApiError

    try:
        info = lookup_channel(client, name)
    except SlackApiError as exc:
        error = _error(exc)
        if error == "missing_scope":
            return fail(
                "the token may not look channels up (missing_scope)",
                "add the channels:read and groups:read bot scopes, then reinstall the app",
            )
        if error != "channel_not_found":
            raise
        info = None
    shown = name if CHANNEL_ID.fullmatch(name) else f"#{name.lstrip('#')}"
    if info is None:
        return fail(
            f"{shown}: no such channel that the bot can see",
            f"/invite @{bot}  # typed in {shown}; create the channel first if it does not exist",
        )
    if info.get("is_archived"):
        return fail(f"{shown} is archived", f"unarchive {shown}, or set another channel")
    if not info.get("is_member"):
        return fail(
            f"{shown}: the bot is not a member; alerts there fail with not_in_channel",
            f"/invite @{bot}  # typed in {shown}",
        )
    return ok(f"#{info.get('name')} ({info.get('id')}): the bot is a member")


def history(client: Any, name: str) -> Outcome:
    """Delivery looks in the channel for an alert whose post it is unsure of (a timeout, a
    crash) before posting it again; without the history scopes it cannot."""
    from slack_sdk.errors import SlackApiError

    info = lookup_channel(client, name) or {}
    shown = f"#{info.get('name')}"
    try:
        client.conversations_history(channel=info.get("id"), limit=1, include_all_metadata=True)
    except SlackApiError as exc:
        if _error(exc) != "missing_scope":
            raise
        return warn(
            f"{shown}: the bot cannot read its history (missing_scope): an alert whose post "
            "timed out is posted again, maybe twice",
            "add the channels:history and groups:history bot scopes, then reinstall the app",
        )
    return ok(f"{shown}: the bot reads its history, where delivery looks before a re-post")


def _error(exc: SlackApiError) -> str:
    data = exc.response.data if hasattr(exc.response, "data") else {}
    return str(data.get("error") if isinstance(data, dict) else "") or str(exc)
