"""A small JSON-over-HTTP server on a free port of 127.0.0.1, in a thread of this process."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (HTTP method, path without the query, the query's and the body's fields) -> (status, reply)
Handle = Callable[[str, str, dict[str, object]], tuple[int, Mapping[str, object]]]


class JsonServer:
    """Answers every GET and POST through `handle`; `close()` stops it. A body is read as
    JSON or as a form, as the Slack Web API takes either."""

    def __init__(self, handle: Handle) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer("GET", b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._answer("POST", self.rfile.read(length))

            def _answer(self, method: str, raw: bytes) -> None:
                path, _, query = self.path.partition("?")
                fields: dict[str, object] = dict(urllib.parse.parse_qsl(query))
                if self.headers.get_content_type() == "application/json":
                    fields.update(json.loads(raw or b"{}"))
                else:
                    fields.update(urllib.parse.parse_qsl(raw.decode()))
                status, reply = handle(method, path, fields)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
