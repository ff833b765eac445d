"""A local endpoint that answers `chat.postMessage` like the Slack Web API.

pgwarden's real Slack sink (slack-sdk's WebClient, `base_url` pointed here) posts to it, so
the sandbox shows the exact Block Kit payloads Slack would receive.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SlackEndpoint:
    """Accepts every `chat.postMessage` with a channel and keeps its payload in `messages`."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        lock = threading.Lock()
        ts = itertools.count(1)
        messages = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/api/chat.postMessage":
                    reply: dict[str, Any] = {"ok": False, "error": "unknown_method"}
                elif not body.get("channel"):
                    reply = {"ok": False, "error": "channel_not_found"}
                else:
                    with lock:
                        messages.append(body)
                        stamp = f"{int(time.time())}.{next(ts):06d}"
                    reply = {"ok": True, "channel": body["channel"], "ts": stamp}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
