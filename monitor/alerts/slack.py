"""Where alerts go: Slack through a bot token or an incoming webhook, or the console.

The WebClient carries slack-sdk's retry handlers: a 429 waits out its `Retry-After`, a 5xx
is retried a couple of times. Anything still failing raises, and the outbox retries later.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from monitor.alerts.render import Message
from monitor.config import check_endpoint_url
from monitor.errors import AlertDeliveryFailed, ChannelUnusable, ConfigError

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


class Sink(Protocol):
    """Sends one message; returns its Slack `ts` (for threading), or None without threads.

    Raises ChannelUnusable for an error in PERMANENT_ERRORS, AlertDeliveryFailed otherwise.
    """

    def send(self, message: Message, outbox_id: int, thread_ts: str | None) -> str | None: ...

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
        self.client = client
        self.channels = channels
        self.default_channel = default_channel

    def send(self, message: Message, outbox_id: int, thread_ts: str | None) -> str | None:
        from slack_sdk.errors import SlackApiError

        channel = message.channel or self.channel(message.severity)
        try:
            response = self.client.chat_postMessage(
                **message.payload(channel, thread_ts, outbox_id)
            )
        except SlackApiError as exc:
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            text = (
                f"Slack chat.postMessage to {channel} failed: HTTP {exc.response.status_code}"
                f" {error or ''}".rstrip()
            )
            if error in PERMANENT_ERRORS:
                raise ChannelUnusable(channel, str(error), text) from None
            raise AlertDeliveryFailed(text) from None
        except OSError as exc:  # URLError, timeouts, refused connections
            raise AlertDeliveryFailed(f"Slack unreachable: {exc}") from None
        return str(response["ts"])


class SlackWebhookSink:
    """An incoming webhook: one channel, no threads. WebhookClient never raises on HTTP errors."""

    def __init__(self, client: WebhookClient) -> None:
        self.client = client

    def channel(self, severity: str) -> str:
        return WEBHOOK

    def destinations(self) -> list[str]:
        return [WEBHOOK]

    def send(self, message: Message, outbox_id: int, thread_ts: str | None) -> str | None:
        try:
            response = self.client.send(text=message.text, blocks=message.blocks)
        except OSError as exc:
            raise AlertDeliveryFailed(f"Slack webhook unreachable: {exc}") from None
        if response.status_code != 200 or response.body != "ok":
            text = f"Slack webhook failed: HTTP {response.status_code} {response.body[:100]}"
            if response.body.strip() in PERMANENT_ERRORS:
                raise ChannelUnusable(WEBHOOK, response.body.strip(), text)
            raise AlertDeliveryFailed(text)
        return None


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

    def send(self, message: Message, outbox_id: int, thread_ts: str | None) -> str | None:
        channel = message.channel or self.channel(message.severity)
        payload = message.payload(channel, thread_ts, outbox_id)
        print(json.dumps(payload, indent=2, ensure_ascii=False), file=self.stream)
        return f"console.{next(self._ts):06d}"


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

    return WebhookClient(url, timeout=15, retry_handlers=_retry_handlers())


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


def make_sink(config: SlackConfig, resolve_secret: Callable[[str], str]) -> Sink:
    """The sink `[alerts.slack]` describes; secrets resolved from their references."""
    if config.mode == "webhook":
        assert config.webhook_url is not None  # enforced by config validation
        url = resolve_secret(config.webhook_url)
        try:
            check_endpoint_url(url)
        except ValueError:
            # The URL is the secret: say what is wrong with it, never what it is.
            raise ConfigError(
                [
                    f"alerts.slack.webhook_url: {config.webhook_url} holds no https:// URL"
                    " (http:// is allowed only to a loopback address)"
                ]
            ) from None
        return SlackWebhookSink(make_webhook_client(url))
    assert config.token is not None  # enforced by config validation
    client = make_web_client(resolve_secret(config.token), config.base_url)
    return SlackSink(client, {str(k): v for k, v in config.channels.items()}, config.channel)
