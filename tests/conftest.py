"""Session-scoped real parts: PostgreSQL, the moto server, and a Slack Web API server.

When a part is missing, its fixture fails with the reason under CI=true, and skips otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from monitor.errors import Terminated
from monitor.sandbox.pg import PgServer, find_pg_bindir
from monitor.sandbox.slack import PostedMessages

if TYPE_CHECKING:
    from monitor.sandbox.aws import MotoSandbox

# Never let a test reach real AWS, or wait on the instance metadata service.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
)
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_SESSION_TOKEN", None)
os.environ.pop("PGWARDEN_CONFIG", None)


def _terminated(signum: int, frame: object) -> None:
    raise Terminated


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM (a CI timeout, a killed job) ends the run as Ctrl-C does: pytest then runs every
    # fixture's finalizer, so servers stop and the PAM services under /etc/pam.d go.
    signal.signal(signal.SIGTERM, _terminated)


def require(condition: object, reason: str) -> None:
    """A missing part fails the run in CI, and skips the test elsewhere."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"missing test part in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL (Debian's binaries) on 127.0.0.1, logging connections to a file."""
    bindir = find_pg_bindir()
    require(bindir, "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    assert bindir is not None
    require(
        os.geteuid() != 0 or shutil.which("runuser"),
        "running as root needs runuser to start PostgreSQL as the postgres user",
    )
    base = Path(tempfile.mkdtemp(prefix="pgwarden-pg-"))
    server = PgServer(bindir, base)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class MotoServer:
    url: str
    sandbox: MotoSandbox
    region: str = "us-east-1"

    def client(self, service: str, region: str | None = None, **credentials: str) -> Any:
        """A boto3 client pointed at the moto server."""
        import boto3

        credentials.setdefault("aws_access_key_id", "testing")
        credentials.setdefault("aws_secret_access_key", "testing")
        return boto3.client(
            service, region_name=region or self.region, endpoint_url=self.url, **credentials
        )

    def reset(self) -> None:
        import urllib.request

        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto as a real HTTP server on 127.0.0.1, on a random port (the demo's sandbox one)."""
    try:
        from monitor.sandbox.aws import MotoSandbox

        sandbox = MotoSandbox()
    except ImportError as exc:
        require(False, f"moto[server] is not installed: {exc}")
        raise
    try:
        yield MotoServer(sandbox.url, sandbox)
    finally:
        sandbox.close()


@dataclass
class SlackApi:
    """A local server that answers like the Slack Web API and records what it receives.

    Queue faults with `fail_next(status, body, headers)`, or make a channel answer an error for
    good with `dead[channel] = "channel_not_found"`; otherwise every call succeeds.
    `delay_next(seconds)` accepts the next post at once and answers it that much later.
    `channels` (id -> {"name", "is_member", ...}) answer conversations.info and .list; a
    channel posted to by name exists from then on, as in a workspace. conversations.history
    and .replies list what was posted, with its metadata under `include_all_metadata`.
    """

    url: str
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    # channel -> the error chat.postMessage answers there for good (channel_not_found...)
    dead: dict[str, str] = field(default_factory=dict)
    _faults: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    _delays: list[float] = field(default_factory=list)
    posted: PostedMessages = field(default_factory=PostedMessages)
    _named: dict[str, str] = field(default_factory=dict)  # channel name -> id, from posts
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Payloads that chat.postMessage accepted."""
        return [body for method, body in self.requests if method == "chat.postMessage"]

    def fail_next(
        self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        with self._lock:
            self._faults.append(
                (status, body or {"ok": False, "error": "fatal_error"}, headers or {})
            )

    def delay_next(self, seconds: float) -> None:
        with self._lock:
            self._delays.append(seconds)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._delays.clear()
            self.posted.clear()
            self._named.clear()
            self.channels.clear()
            self.dead.clear()

    def handle(
        self, method: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        delay = 0.0
        with self._lock:
            if self._faults:
                return self._faults.pop(0)
            if method == "chat.postMessage" and body.get("channel") in self.dead:
                return 200, {"ok": False, "error": self.dead[body["channel"]]}, {}
            self.requests.append((method, body))
            if method == "chat.postMessage" and self._delays:
                delay = self._delays.pop(0)
            answer = self._answer(method, body)
        time.sleep(delay)  # the post is in the channel already; only the answer is late
        return answer

    def _answer(
        self, method: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if method == "chat.postMessage":
            if not body.get("channel"):
                return 200, {"ok": False, "error": "channel_not_found"}, {}
            ts = self.posted.post(body, self._channel_id(body["channel"]))
            return 200, {"ok": True, "channel": body["channel"], "ts": ts, "message": body}, {}
        if method == "webhook":
            return 200, {"ok": True}, {}
        if method == "auth.test":
            bot = {"user_id": "U0PGWARDEN", "user": "pgwarden", "team_id": "T0", "team": "test"}
            return 200, {"ok": True, **bot}, {}
        if method == "conversations.info":
            found = self.channels.get(body.get("channel", ""))
            if found is None:
                return 200, {"ok": False, "error": "channel_not_found"}, {}
            return 200, {"ok": True, "channel": {"id": body["channel"], **found}}, {}
        if method == "conversations.list":
            listed = [{"id": key, **value} for key, value in self.channels.items()]
            listed += [{"id": i, "name": n, "is_member": True} for n, i in self._named.items()]
            return 200, {"ok": True, "channels": listed, "response_metadata": {}}, {}
        if method in ("conversations.history", "conversations.replies"):
            return 200, {"ok": True, "messages": self.posted.read(method, body)}, {}
        return 200, {"ok": True}, {}

    def _channel_id(self, channel: str) -> str:
        if channel in self.channels:
            return channel
        return self._named.setdefault(channel.lstrip("#"), f"C{len(self._named) + 1:08d}")


@pytest.fixture(scope="session")
def slack_api() -> Iterator[SlackApi]:
    """pytest-httpserver speaking the Slack Web API (`/api/<method>`) and a webhook (`/hook`)."""
    try:
        from pytest_httpserver import HTTPServer
        from werkzeug import Request, Response
    except ImportError as exc:
        require(False, f"pytest-httpserver is not installed: {exc}")
        raise
    # Threaded: a delayed answer (delay_next) must not hold up the calls after it, as on Slack.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    api = SlackApi(url=server.url_for("/api/"))

    def respond(request: Request) -> Response:
        path = request.path
        method = "webhook" if path == "/hook" else path.removeprefix("/api/")
        if request.mimetype == "application/json":
            body = request.get_json(silent=True) or {}
        else:
            body = {k: v for k, v in request.form.items()}
        body.update((k, v) for k, v in request.args.items() if k not in body)
        if "authorization" in request.headers:
            body["_auth"] = request.headers["authorization"]
        status, payload, headers = api.handle(method, body)
        text = "ok" if method == "webhook" and status == 200 else json.dumps(payload)
        return Response(text, status=status, headers=headers, content_type="application/json")

    server.expect_request(re.compile(r"^/.*")).respond_with_handler(respond)
    try:
        yield api
    finally:
        server.clear()
        if server.is_running():
            server.stop()


@pytest.fixture
def free_port() -> Callable[[], int]:
    def pick() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    return pick


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed `pgwarden` console script as a user would."""
    exe = shutil.which("pgwarden", path=str(Path(sys.executable).parent)) or "pgwarden"

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
        return subprocess.run(
            [exe, *args],
            capture_output=True,
            text=True,
            input=input,
            cwd=tmp_path,
            env={**os.environ, **(env or {})},
            timeout=120,
        )

    return run


@pytest.fixture(scope="session")
def iam_pg(pg_server: PgServer) -> Iterator[Any]:
    """The shared PostgreSQL with RDS-style IAM login: TLS (test CA) and PAM token checks."""
    from monitor.sandbox.pam import pam_available, service_name, setup_iam_pg

    missing = pam_available()
    require(missing is None, missing or "")
    iam = setup_iam_pg(pg_server, service=service_name("test"))
    try:
        yield iam
    finally:
        iam.uninstall()
