"""Where alerts go: Slack through a bot token or an incoming webhook, or the console.

A post is retried in the client only where Slack surely did not take it: a 429 waits out
its `Retry-After`. A timeout, a dropped connection or a 5xx may have posted the message,
so they raise with `maybe_sent`, and the outbox looks for the message in the channel
(`find`) before it posts again. Reads (doctor, `find`) also retry 5xx and dropped
connections, which cannot post anything twice.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from monitor.errors import (
    AlertDeliveryFailed,
    AlertHistoryUnavailable,
    ChannelUnusable,
)
from monitor.outputs.alerts.render import METADATA_EVENT, Message

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from slack_sdk.http_retry.handler import RetryHandler
    from slack_sdk.webhook import WebhookClient

    from monitor.config import SlackConfig


# Slack errors that retrying cannot fix: the channel (or the whole token) needs a person.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_authed",
        # What an incoming webhook answers for the same faults.
        "channel_is_archived",
        "invalid_token",
        "no_service",
        "no_active_hooks",
    }
)
WEBHOOK = "the incoming webhook"
CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{6,}")
MAX_PAGES = 50  # conversations.list pages of 1000: a bound, not an expectation
HISTORY_PAGES = 10  # of 200 messages, posted since a claim: more and `find` gives up
CLOCK_SKEW_S = 300  # look this much before the claim: Slack's clock is not ours


class Sink(Protocol):
    """Sends one message; returns its Slack `ts` (for threading), or None without threads.

    Raises ChannelUnusable for an error in PERMANENT_ERRORS, AlertDeliveryFailed otherwise.
    """

    def send(
        self, message: Message, outbox_id: int, thread_ts: str | None, claim: str | None = None
    ) -> str | None: ...

    def find(
        self, message: Message, thread_ts: str | None, claim: str, since: datetime
    ) -> str | None:
        """The ts of the message posted with `claim` since `since`, or None if it is not in
        the channel. Raises AlertHistoryUnavailable when the sink cannot tell."""
        ...

    def channel(self, severity: str) -> str:
        """Where a message of `severity` goes."""
        ...

    def destinations(self) -> list[str]:
        """Every channel, the default first: where a notice may go when one is parked."""
        ...


def channel_for(severity: str, channels: dict[str, str], default: str) -> str:
    return channels.get(severity, default)


def configured_channels(config: SlackConfig) -> list[tuple[str, str]]:
    """(a severity, its channel) for each distinct destination, the default channel last."""
    if config.mode == "webhook":
        return [("info", WEBHOOK)]
    seen: dict[str, str] = {}
    for severity, channel in config.channels.items():
        seen.setdefault(channel, severity)
    seen.setdefault(config.channel, "info")
    return [(severity, channel) for channel, severity in seen.items()]


class _Routed:
    """A channel per severity, and the default for the rest."""

    channels: dict[str, str]
    default_channel: str

    def channel(self, severity: str) -> str:
        return channel_for(severity, self.channels, self.default_channel)

    def destinations(self) -> list[str]:
        return list(dict.fromkeys([self.default_channel, *self.channels.values()]))


class SlackSink(_Routed):
    """chat.postMessage with a bot token: a channel per severity, repeats in the thread."""

    def __init__(self, client: WebClient, channels: dict[str, str], default_channel: str) -> None:
        from slack_sdk import WebClient

        self.client = client
        # Posts go through a twin of `client` that retries nothing that may have posted.
        self.poster = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            ssl=client.ssl,
            proxy=client.proxy,
            headers=client.headers,
            retry_handlers=post_retry_handlers(),
        )
        self.channels = channels
        self.default_channel = default_channel

    def send(
        self, message: Message, outbox_id: int, thread_ts: str | None, claim: str | None = None
    ) -> str | None:
        from slack_sdk.errors import SlackApiError

        channel = message.channel or self.channel(message.severity)
        try:
            response = self.poster.chat_postMessage(
                **message.payload(channel, thread_ts, outbox_id, claim)
            )
        except SlackApiError as exc:
            error = _error(exc)
            text = (
                f"Slack chat.postMessage to {channel} failed: HTTP {exc.response.status_code}"
                f" {error}".rstrip()
            )
            if error in PERMANENT_ERRORS:
                raise ChannelUnusable(channel, error, text) from None
            raise AlertDeliveryFailed(text, maybe_sent=exc.response.status_code >= 500) from None
        except OSError as exc:  # URLError, timeouts, refused connections
            raise AlertDeliveryFailed(
                f"Slack unreachable: {exc}", maybe_sent=_maybe_sent(exc)
            ) from None
        return str(response["ts"])

    def find(
        self, message: Message, thread_ts: str | None, claim: str, since: datetime
    ) -> str | None:
        from slack_sdk.errors import SlackApiError

        channel = message.channel or self.channel(message.severity)
        try:
            found = lookup_channel(self.client, channel)
            if found is None:
                raise AlertHistoryUnavailable(f"{channel}: no such channel that the bot can see")
            return self._find(str(found["id"]), thread_ts, claim, since)
        except SlackApiError as exc:
            status = exc.response.status_code
            if status >= 500 or status == 429:
                raise AlertDeliveryFailed(
                    f"Slack history of {channel}: HTTP {status} {_error(exc)}".rstrip()
                ) from None
            raise AlertHistoryUnavailable(
                f"reading {channel}: {_error(exc)}; the bot needs channels:read, groups:read, "
                "channels:history and groups:history"
            ) from None
        except OSError as exc:
            raise AlertDeliveryFailed(f"Slack unreachable: {exc}") from None

    def _find(self, channel: str, thread_ts: str | None, claim: str, since: datetime) -> str | None:
        args: dict[str, Any] = {
            "channel": channel,
            "oldest": f"{since.timestamp() - CLOCK_SKEW_S:.6f}",
            "include_all_metadata": True,
            "limit": 200,
        }
        cursor = None
        for _ in range(HISTORY_PAGES):
            # A reply lives in its thread only: conversations.history lists the channel's top.
            page = (
                self.client.conversations_replies(ts=thread_ts, cursor=cursor, **args)
                if thread_ts
                else self.client.conversations_history(cursor=cursor, **args)
            )
            for posted in page.get("messages") or []:
                metadata = posted.get("metadata") or {}
                event = metadata.get("event_payload") or {}
                if metadata.get("event_type") == METADATA_EVENT and event.get("claim") == claim:
                    return str(posted["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        raise AlertHistoryUnavailable(
            f"more than {HISTORY_PAGES * 200} messages in {channel} since the claim"
        )


def lookup_channel(client: WebClient, name: str) -> dict[str, Any] | None:
    """conversations.info for an id; a name is looked up in conversations.list."""
    if CHANNEL_ID.fullmatch(name):
        return dict(client.conversations_info(channel=name)["channel"])
    wanted = name.lstrip("#")
    cursor = None
    for _ in range(MAX_PAGES):
        page = client.conversations_list(
            types="public_channel,private_channel", exclude_archived=True, limit=1000, cursor=cursor
        )
        channels: list[dict[str, Any]] = page.get("channels") or []
        for found in channels:
            if found.get("name") == wanted:
                return dict(found)
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return None


def _error(exc: Any) -> str:
    data = exc.response.data if hasattr(exc.response, "data") else {}
    return str(data.get("error") if isinstance(data, dict) else "") or ""


def _maybe_sent(exc: OSError) -> bool:
    """False only when the request surely never left: refused, or no address for the host."""
    import socket
    import urllib.error

    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return not isinstance(reason, ConnectionRefusedError | socket.gaierror)


class SlackWebhookSink:
    """An incoming webhook: one channel, no threads. WebhookClient never raises on HTTP errors."""

    def __init__(self, client: WebhookClient) -> None:
        self.client = client

    def channel(self, severity: str) -> str:
        return WEBHOOK

    def destinations(self) -> list[str]:
        return [WEBHOOK]

    def send(
        self, message: Message, outbox_id: int, thread_ts: str | None, claim: str | None = None
    ) -> str | None:
        try:
            response = self.client.send(text=message.text, blocks=message.blocks)
        except OSError as exc:
            raise AlertDeliveryFailed(
                f"Slack webhook unreachable: {exc}", maybe_sent=_maybe_sent(exc)
            ) from None
        if response.status_code != 200 or response.body != "ok":
            text = f"Slack webhook failed: HTTP {response.status_code} {response.body[:100]}"
            if response.body.strip() in PERMANENT_ERRORS:
                raise ChannelUnusable(WEBHOOK, response.body.strip(), text)
            raise AlertDeliveryFailed(text, maybe_sent=response.status_code >= 500)
        return None

    def find(
        self, message: Message, thread_ts: str | None, claim: str, since: datetime
    ) -> str | None:
        raise AlertHistoryUnavailable("an incoming webhook cannot read the channel's history")


class ConsoleSink(_Routed):
    """Prints the exact payload Slack would receive (`--dry-run`, the demo)."""

    def __init__(
        self,
        channels: dict[str, str] | None = None,
        default_channel: str = "#pgwarden",
        stream: TextIO | None = None,
    ) -> None:
        self.channels = channels or {}
        self.default_channel = default_channel
        self.stream = stream or sys.stdout
        self._ts = itertools.count(1)

    def send(
        self, message: Message, outbox_id: int, thread_ts: str | None, claim: str | None = None
    ) -> str | None:
        channel = message.channel or self.channel(message.severity)
        payload = message.payload(channel, thread_ts, outbox_id, claim)
        print(json.dumps(payload, indent=2, ensure_ascii=False), file=self.stream)
        return f"console.{next(self._ts):06d}"

    def find(
        self, message: Message, thread_ts: str | None, claim: str, since: datetime
    ) -> str | None:
        return None  # what was printed is gone: print it again


def make_web_client(token: str, base_url: str | None = None) -> WebClient:
    from slack_sdk import WebClient

    kwargs: dict[str, Any] = {"token": token, "timeout": 15}
    if base_url:
        kwargs["base_url"] = base_url if base_url.endswith("/") else base_url + "/"
    client = WebClient(**kwargs)
    # The default handlers retry only connection errors; add 429 and 5xx.
    client.retry_handlers.extend(_retry_handlers())
    return client


def make_webhook_client(url: str) -> WebhookClient:
    from slack_sdk.webhook import WebhookClient

    return WebhookClient(url, timeout=15, retry_handlers=post_retry_handlers())


def post_retry_handlers() -> list[RetryHandler]:
    """For posts: only a 429 is surely not posted, so only it is retried at once."""
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    return [RateLimitErrorRetryHandler(max_retry_count=2)]


def _retry_handlers() -> list[RetryHandler]:
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )

    return [
        RateLimitErrorRetryHandler(max_retry_count=2),
        ServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(),
    ]
