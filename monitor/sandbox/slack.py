"""A local endpoint that answers `chat.postMessage` like the Slack Web API.

pgwarden's real Slack sink (slack-sdk's WebClient, `base_url` pointed here) posts to it, so
the sandbox shows the exact Block Kit payloads Slack would receive.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from monitor.sandbox.http import JsonServer


class SlackEndpoint:
    """Accepts every `chat.postMessage` with a channel and keeps its payload in `messages`."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server = JsonServer(self._answer)
        self.base_url = f"{self._server.url}/api/"

    def _answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if (method, path.rstrip("/")) != ("POST", "/api/chat.postMessage"):
            return 200, {"ok": False, "error": "unknown_method"}
        if not body.get("channel"):
            return 200, {"ok": False, "error": "channel_not_found"}
        with self._lock:
            self.messages.append(body)
            stamp = f"{int(time.time())}.{next(self._ts):06d}"
        return 200, {"ok": True, "channel": body["channel"], "ts": stamp}

    def close(self) -> None:
        self._server.close()
