"""A local endpoint that answers like the Slack Web API: `chat.postMessage`, and what
`pgwarden doctor` asks (`auth.test`, `conversations.info` and `.list`).

pgwarden's real Slack sink (slack-sdk's WebClient, `base_url` pointed here) posts to it, so
the sandbox shows the exact Block Kit payloads Slack would receive.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

from monitor.sandbox.http import JsonServer

BOT = {"user_id": "U0PGWARDEN", "user": "pgwarden", "team_id": "T0SANDBOX", "team": "sandbox"}


class SlackEndpoint:
    """A workspace with these channels, the bot a member of each; every `chat.postMessage`
    to a channel is accepted and its payload kept in `messages`."""

    def __init__(self, channels: Sequence[str]) -> None:
        self.messages: list[dict[str, Any]] = []
        self.channels = [
            {"id": f"C{i:08d}", "name": name.lstrip("#"), "is_member": True}
            for i, name in enumerate(channels, 1)
        ]
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server = JsonServer(self._answer)
        self.base_url = f"{self._server.url}/api/"

    def _answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        api = path.removeprefix("/api/").rstrip("/")
        if api == "auth.test":
            return 200, {"ok": True, **BOT}
        if api == "conversations.list":
            return 200, {"ok": True, "channels": self.channels, "response_metadata": {}}
        if api == "conversations.info":
            found = [c for c in self.channels if c["id"] == body.get("channel")]
            return 200, {"ok": True, "channel": found[0]} if found else _error("channel_not_found")
        if api != "chat.postMessage":
            return 200, _error("unknown_method")
        if not body.get("channel"):
            return 200, _error("channel_not_found")
        with self._lock:
            self.messages.append(body)
            stamp = f"{int(time.time())}.{next(self._ts):06d}"
        return 200, {"ok": True, "channel": body["channel"], "ts": stamp}

    def close(self) -> None:
        self._server.close()


def _error(code: str) -> dict[str, Any]:
    return {"ok": False, "error": code}
