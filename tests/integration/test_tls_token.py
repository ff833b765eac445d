"""A server with a certificate from another CA never receives the IAM token, whatever
`insecure_tls` says: the chain is always verified against the target's bundle (real libpq
against a fake PostgreSQL TLS endpoint on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.clock import FrozenClock
from monitor.config import ActivityConfig
from monitor.sandbox.tls import FAKE_RDS_HOSTS, SandboxPki, make_pki
from monitor.sources.activity import ActivitySource
from monitor.sources.targets import Target

TOKEN = "FAKE-IAM-TOKEN-0123456789"


@dataclass
class FakePostgres:
    """Answers SSLRequest with 'S', completes TLS with its own certificate, then records
    every byte the client sends (a startup message, then the password: the token)."""

    pki: SandboxPki
    port: int = 0
    received: bytearray = field(default_factory=bytearray)
    handshakes: int = 0

    def serve(self, listener: socket.socket) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.pki.server_cert, self.pki.server_key)
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(8)  # SSLRequest
                    conn.sendall(b"S")
                    with context.wrap_socket(conn, server_side=True) as tls:
                        self.handshakes += 1
                        # Startup message, then an AuthenticationCleartextPassword request.
                        self.received += tls.recv(4096)
                        tls.sendall(b"R\x00\x00\x00\x08\x00\x00\x00\x03")
                        self.received += tls.recv(4096)
                except (OSError, ssl.SSLError):
                    continue


@pytest.fixture
def fake_server(tmp_path: Path) -> Iterator[FakePostgres]:
    fake = FakePostgres(make_pki(tmp_path / "impostor"))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    fake.port = int(listener.getsockname()[1])
    thread = threading.Thread(target=fake.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in the server thread
        listener.close()
        thread.join(timeout=5)


def poll(fake: FakePostgres, bundle: Path, insecure: bool) -> str:
    target = Target(
        name="t",
        account_id="222222222222",
        account_name="prod",
        region="us-east-1",
        endpoint=FAKE_RDS_HOSTS[0],
        endpoint_type="cluster",
        port=fake.port,
        database="postgres",
        db_user="pgmonitor",
        hostaddr="127.0.0.1",
        ca_bundle=bundle,
        insecure_tls=insecure,
    )
    clock = FrozenClock(datetime.now(UTC))
    source = ActivitySource([target], ActivityConfig(poll_deadline_s=5), lambda t: TOKEN, clock)
    result = asyncio.run(source.poll(target))
    asyncio.run(source.close())
    assert result.status == "down"
    return result.reason or ""


@pytest.mark.parametrize("insecure", [False, True], ids=["verify-full", "insecure_tls"])
def test_tls_impostor_with_another_ca_never_receives_the_token(
    fake_server: FakePostgres, tmp_path: Path, insecure: bool
) -> None:
    trusted = make_pki(tmp_path / "trusted").ca_cert  # the CA the target trusts
    reason = poll(fake_server, trusted, insecure)
    assert "SSL error" in reason, reason  # the chain does not verify: no password sent
    assert TOKEN.encode() not in fake_server.received
    assert fake_server.handshakes == 0


def test_tls_impostor_harness_would_catch_a_leak(fake_server: FakePostgres) -> None:
    # The control: trusting the impostor's own CA, the same server does get the token.
    poll(fake_server, fake_server.pki.ca_cert, insecure=True)
    assert TOKEN.encode() in fake_server.received
