"""The sinks alerts go to, registered by name: slack-bot, slack-webhook, and console (the
payloads printed, for `pgwarden alerts deliver --dry-run` and the demo).

`[alerts.slack] mode` picks the Slack sink: "bot" is slack-bot, "webhook" slack-webhook.
Each sink's options are keys of `[alerts.slack]`, composed into `SlackConfig`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

from monitor.config.fields import SECTION, EndpointUrl, SecretRef, Severity
from monitor.errors import ConfigError
from monitor.registry import NO_ACCESS, Access, Registry

if TYPE_CHECKING:
    from monitor.config import SlackConfig
    from monitor.outputs.alerts.slack import Sink

SecretResolver = Callable[[str], str]


class SlackBotOptions(BaseModel):
    """slack-bot: chat.postMessage with a bot token, a channel per severity, repeats in the
    finding's thread.

    Example:
        [alerts.slack]
        enabled = true
        mode = "bot"
        token = "env:SLACK_BOT_TOKEN"
        channel = "#pgwarden"
        channels = { critical = "#security-oncall" }
    """

    model_config = SECTION

    token: SecretRef | None = None
    base_url: EndpointUrl | None = None
    channel: str = "#pgwarden"
    channels: dict[Severity, str] = {}


class SlackWebhookOptions(BaseModel):
    """slack-webhook: an incoming webhook posts to the one channel it was made for.

    Example:
        [alerts.slack]
        enabled = true
        mode = "webhook"
        webhook_url = "env:SLACK_WEBHOOK_URL"
    """

    model_config = SECTION

    webhook_url: SecretRef | None = None


class ConsoleOptions(BaseModel):
    """console: the exact payloads Slack would receive, printed; nothing is sent. It takes
    `[alerts.slack]`'s channels and needs no secret.

    Example:
        [alerts.slack]
        channel = "#pgwarden"
    """

    model_config = SECTION

    channel: str = "#pgwarden"
    channels: dict[Severity, str] = {}


@dataclass(frozen=True)
class SinkSpec:
    """A sink: its name, its options, how it is made from `[alerts.slack]`, and the access
    it needs (a Secrets Manager reference is read with pgwarden's own role)."""

    name: str
    options: type[BaseModel]
    make: Callable[[SlackConfig, SecretResolver], Sink]
    access: Access = NO_ACCESS
    section = "alerts.slack"

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.options) or ""


SINKS: Registry[SinkSpec] = Registry("sink")
SECRET_ACCESS = Access(management=("secretsmanager:GetSecretValue",))


def _slack_bot(config: SlackConfig, resolve_secret: SecretResolver) -> Sink:
    from monitor.outputs.alerts.slack import SlackSink, make_web_client

    assert config.token is not None  # enforced by config validation
    client = make_web_client(resolve_secret(config.token), config.base_url)
    return SlackSink(client, {str(k): v for k, v in config.channels.items()}, config.channel)


def _slack_webhook(config: SlackConfig, resolve_secret: SecretResolver) -> Sink:
    from monitor.config.fields import check_endpoint_url
    from monitor.outputs.alerts.slack import SlackWebhookSink, make_webhook_client

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


def console_sink(config: SlackConfig) -> Sink:
    """The console sink, which reads no secret (`alerts deliver --dry-run`)."""
    from monitor.outputs.alerts.slack import ConsoleSink

    return ConsoleSink({str(k): v for k, v in config.channels.items()}, config.channel)


def _console(config: SlackConfig, resolve_secret: SecretResolver) -> Sink:
    return console_sink(config)


SINKS.add(SinkSpec("slack-bot", SlackBotOptions, _slack_bot, SECRET_ACCESS))
SINKS.add(SinkSpec("slack-webhook", SlackWebhookOptions, _slack_webhook, SECRET_ACCESS))
SINKS.add(SinkSpec("console", ConsoleOptions, _console))


def slack_sink(config: SlackConfig) -> SinkSpec:
    """The Slack sink `[alerts.slack] mode` names."""
    return SINKS[f"slack-{config.mode}"]


def make_sink(config: SlackConfig, resolve_secret: SecretResolver) -> Sink:
    """The Slack sink `[alerts.slack]` describes; secrets resolved from their references."""
    return slack_sink(config).make(config, resolve_secret)
