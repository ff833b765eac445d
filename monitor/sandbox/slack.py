"""A local endpoint that answers like the Slack Web API: `chat.postMessage`, what
`pgwarden doctor` asks (`auth.test`, `conversations.info` and `.list`), and the channel's
history (`conversations.history` and `.replies`), where pgwarden looks for an alert it may
have posted already.

pgwarden's real Slack sink (slack-sdk's WebClient, `base_url` pointed here) posts to it, so
the sandbox shows the exact Block Kit payloads Slack would receive. Faults for the tests and
bench/delivery.py: `answer_delay_s` answers a post late (it is in the channel at once),
`visible_after_s` lets a post appear in the history only that much later, and
`history_scope = False` answers history reads as a token without the scope. `AfterPost`
plays a fault between Slack's answer and pgwarden's mark.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.outputs.alerts.render import Message
from monitor.outputs.alerts.slack import Sink
from monitor.sandbox.http import JsonServer

BOT = {"user_id": "U0PGWARDEN", "user": "pgwarden", "team_id": "T0SANDBOX", "team": "sandbox"}


@dataclass(frozen=True)
class _Post:
    visible: float  # the monotonic time from which history shows it
    channel: str
    ts: str
    body: Mapping[str, object]


class PostedMessages:
    """What chat.postMessage accepted, and read back as conversations.history (a channel's
    top level) and conversations.replies (one thread) return it."""

    def __init__(self) -> None:
        self._posted: list[_Post] = []
        self._ts = itertools.count(1)

    def post(self, body: Mapping[str, object], channel_id: str, visible_after_s: float = 0) -> str:
        ts = f"{time.time():.0f}.{next(self._ts):06d}"
        self._posted.append(_Post(time.monotonic() + visible_after_s, channel_id, ts, body))
        return ts

    def read(self, method: str, body: Mapping[str, object]) -> list[dict[str, object]]:
        """The messages a history call with these arguments returns."""
        thread = body.get("ts") if method == "conversations.replies" else None
        with_metadata = str(body.get("include_all_metadata")).lower() in ("true", "1")
        out = []
        for posted in self._posted:
            if posted.visible > time.monotonic() or posted.channel != body.get("channel"):
                continue
            if float(posted.ts) < float(str(body.get("oldest") or 0)):
                continue
            if (posted.body.get("thread_ts") or None) != thread and posted.ts != thread:
                continue
            message = {"type": "message", "ts": posted.ts, "text": posted.body.get("text")}
            if with_metadata and posted.body.get("metadata"):
                message["metadata"] = posted.body["metadata"]
            out.append(message)
        return out

    def timestamps(self) -> list[str]:
        """The ts of each message, in the order they were posted."""
        return [posted.ts for posted in self._posted]

    def clear(self) -> None:
        self._posted.clear()


class SlackEndpoint:
    """A workspace with these channels, the bot a member of each; every `chat.postMessage`
    to a channel is accepted and its payload kept in `messages`."""

    def __init__(self, channels: Sequence[str]) -> None:
        self.messages: list[dict[str, object]] = []
        self.channels = [
            {"id": f"C{i:08d}", "name": name.lstrip("#"), "is_member": True}
            for i, name in enumerate(channels, 1)
        ]
        self.answer_delay_s = 0.0
        self.visible_after_s = 0.0
        self.history_scope = True
        self.posted = PostedMessages()
        self._lock = threading.Lock()
        self._server = JsonServer(self._answer)
        self.base_url = f"{self._server.url}/api/"

    def _answer(
        self, method: str, path: str, body: dict[str, object]
    ) -> tuple[int, dict[str, object]]:
        api = path.removeprefix("/api/").rstrip("/")
        if api == "auth.test":
            return 200, {"ok": True, **BOT}
        if api == "conversations.list":
            return 200, {"ok": True, "channels": self.channels, "response_metadata": {}}
        if api == "conversations.info":
            found = [c for c in self.channels if c["id"] == body.get("channel")]
            return 200, {"ok": True, "channel": found[0]} if found else _error("channel_not_found")
        if api in ("conversations.history", "conversations.replies"):
            if not self.history_scope:
                return 200, _error("missing_scope")
            with self._lock:
                return 200, {"ok": True, "messages": self.posted.read(api, body)}
        if api != "chat.postMessage":
            return 200, _error("unknown_method")
        wanted = body.get("channel")
        found = [c for c in self.channels if wanted in (c["id"], c["name"], f"#{c['name']}")]
        if not found:
            return 200, _error("channel_not_found")
        with self._lock:
            self.messages.append(body)
            stamp = self.posted.post(body, str(found[0]["id"]), self.visible_after_s)
        time.sleep(self.answer_delay_s)  # the post is taken; only the answer is late
        return 200, {"ok": True, "channel": found[0]["id"], "ts": stamp}

    def close(self) -> None:
        self._server.close()


class AfterPost:
    """A sink that posts through `inner`, then plays a fault (`fault`) before pgwarden can
    mark the row: a crash, a disk that fills. Looking in the channel goes to `inner`."""

    def __init__(self, inner: Sink, fault: Callable[[], None]) -> None:
        self.inner = inner
        self.fault = fault
        self.channel = inner.channel
        self.destinations = inner.destinations

    def send(
        self, message: Message, outbox_id: int, thread_ts: str | None, claim: str | None = None
    ) -> str | None:
        ts = self.inner.send(message, outbox_id, thread_ts, claim)
        self.fault()
        return ts

    def find(
        self, message: Message, thread_ts: str | None, claim: str, since: datetime
    ) -> str | None:
        return self.inner.find(message, thread_ts, claim, since)


def _error(code: str) -> dict[str, object]:
    return {"ok": False, "error": code}
