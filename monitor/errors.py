"""Exception types. Each failure has its own type; the CLI maps `PgwardenError` to exit 2."""

from __future__ import annotations

from collections.abc import Sequence


class PgwardenError(Exception):
    """A user-facing error: printed as one line, never with a traceback."""


class ConfigError(PgwardenError):
    """The configuration is missing or invalid. Carries every problem found, each a line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every `finally` and exit stack runs (servers stop,
    PAM services and temporary directories go); the CLI exits 143, the shell's 128 + 15."""


class StoreError(PgwardenError):
    """The SQLite store cannot be opened, migrated or locked."""


class StoreLocked(StoreError):
    """Another writer (a daemon) holds the store."""


class StoreCannotWrite(StoreError):
    """The store's volume refuses writes (full, read-only, I/O error): nothing was committed."""


class AlertDeliveryFailed(PgwardenError):
    """Slack (or the webhook) did not accept a message; it stays in the outbox.

    `maybe_sent`: the request may have reached Slack (a timeout, a dropped connection, a
    5xx), so the message may be in the channel after all.
    """

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


class AlertHistoryUnavailable(PgwardenError):
    """The sink cannot tell whether a message is already in the channel (a webhook, a token
    without the history scopes)."""


class ChannelUnusable(AlertDeliveryFailed):
    """Slack refused a channel for good (channel_not_found, not_in_channel, is_archived,
    invalid_auth...): retrying cannot help until someone fixes it, so the channel is parked."""

    def __init__(self, channel: str, error: str, message: str) -> None:
        super().__init__(message)
        self.channel = channel
        self.error = error


class SecretError(PgwardenError):
    """A secret reference (env:NAME or a Secrets Manager ARN) cannot be resolved."""


class AwsError(PgwardenError):
    """An AWS call that pgwarden depends on failed."""


class AssumeRoleDenied(AwsError):
    """STS refused to let pgwarden assume an account's monitor role."""

    def __init__(self, account: str, role_arn: str, reason: str) -> None:
        self.account = account
        self.role_arn = role_arn
        self.reason = reason
        super().__init__(f"account {account}: AssumeRole into {role_arn} denied: {reason}")


class DiscoveryError(AwsError):
    """Listing an account's RDS clusters and instances failed."""


class LogInputError(PgwardenError):
    """A log file cannot be read, or the log format or log_line_prefix is wrong."""
