"""Real servers for the outbox tests: an SMTP server (aiosmtpd) and an HTTP webhook receiver
that checks Standard Webhooks signatures with its own code (not klantreis's)."""

from __future__ import annotations

import asyncio
import base64
import email
import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    message_id: str
    rcpt: list[str]
    subject: str
    body: bytes


@dataclass
class SmtpSink:
    """What the SMTP server got, and how it should misbehave."""

    received: list[Received] = field(default_factory=list)
    #: recipients refused with 550 at RCPT
    refuse: set[str] = field(default_factory=set)
    #: answer the first n DATA with 451 (a temporary failure)
    fail_first: int = 0
    #: on the n-th accepted message: record it, set ``paused``, wait ``pause_seconds``
    pause_on: int | None = None
    pause_seconds: float = 10.0
    paused: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return "451 4.3.0 try again later"
            parsed = email.message_from_bytes(envelope.content)
            self.received.append(
                Received(
                    str(parsed["Message-ID"]),
                    list(envelope.rcpt_tos),
                    str(parsed["Subject"]),
                    envelope.content,
                )
            )
            pause = self.pause_on is not None and len(self.received) == self.pause_on
        if pause:
            self.paused.set()
            await asyncio.sleep(self.pause_seconds)
        return "250 Message accepted for delivery"

    def ids(self) -> list[str]:
        with self.lock:
            return [r.message_id for r in self.received]


@contextmanager
def smtp_server(
    sink: SmtpSink | None = None, login: tuple[str, str] | None = None
) -> Iterator[tuple[SmtpSink, int]]:
    """A running SMTP server; with ``login``, AUTH (without TLS) is required."""
    sink = sink or SmtpSink()
    port = free_port()
    extra: dict[str, Any] = {}
    if login is not None:

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, auth: Any
        ) -> AuthResult:
            given = (auth.login.decode(), auth.password.decode())
            return AuthResult(success=given == login)

        extra = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
    controller = Controller(sink, hostname="127.0.0.1", port=port, **extra)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


# -- webhooks --------------------------------------------------------------------------------
def independent_signature(secret: str, msg_id: str, stamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.split("_", 1)[1])
    mac = hmac.new(key, msg_id.encode() + b"." + stamp.encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


@dataclass
class Receiver:
    secret: str
    fail_first: int = 0
    status_on_failure: int = 503
    accepted: list[tuple[str, bytes]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            msg_id = self.headers.get("webhook-id", "")
            stamp = self.headers.get("webhook-timestamp", "0")
            given = self.headers.get("webhook-signature", "").split()
            expected = independent_signature(receiver.secret, msg_id, stamp, body)
            fresh = abs(time.time() - int(stamp)) <= 300
            with receiver.lock:
                receiver.calls += 1
                if not fresh or not any(hmac.compare_digest(expected, g) for g in given):
                    receiver.refused.append(msg_id)
                    code = 401
                elif receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    code = receiver.status_on_failure
                else:
                    receiver.accepted.append((msg_id, body))
                    code = 204
            self.send_response(code)
            if code == 503:
                self.send_header("retry-after", "1")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def webhook_receiver(receiver: Receiver) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()
