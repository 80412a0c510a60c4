"""A real local push service for the Web Push tests: an HTTP server that, like a browser
vendor's, checks the VAPID token with its own code (the ``cryptography`` package, not
klantreis's), answers with the codes it is told, and keeps what it got. The test holds the
browser's side: a subscription's private key and auth secret, to decrypt what arrived."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """One browser's push subscription: its key pair and auth secret."""

    endpoint: str
    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return _b64(raw)

    @property
    def auth_text(self) -> str:
        return _b64(self.auth)

    def decrypt(self, body: bytes) -> bytes:
        """RFC 8291 + RFC 8188 as a browser does it, written out here (one record)."""
        salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        as_public, record = body[21 : 21 + idlen], body[21 + idlen :]
        assert rs >= len(record)
        shared = self.private.exchange(
            ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public)
        )
        info = b"WebPush: info\x00" + _unb64(self.p256dh) + as_public
        mac = lambda k, d: hmac.new(k, d, hashlib.sha256).digest()  # noqa: E731
        prk = mac(salt, mac(mac(self.auth, shared), info + b"\x01"))
        cek = mac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
        nonce = mac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
        plain = AESGCM(cek).decrypt(nonce, record, None).rstrip(b"\x00")
        assert plain.endswith(b"\x02")
        return plain[:-1]


def check_vapid(authorization: str, origin: str) -> dict[str, Any]:
    """The claims of a valid ``vapid t=..., k=...`` header whose ``aud`` is ``origin``."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid"
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    head, claims, sig = parts["t"].split(".")
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(parts["k"]))
    raw = _unb64(sig)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if bad
    assert json.loads(_unb64(head))["alg"] == "ES256"
    got: dict[str, Any] = json.loads(_unb64(claims))
    assert got["aud"] == origin, got
    got["k"] = parts["k"]
    return got


@dataclass
class PushService:
    """Answers each POST with the next of ``codes`` (then 201); keeps what it got."""

    codes: list[int] = field(default_factory=list)
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    origin: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            try:
                check_vapid(headers.get("authorization", ""), self.origin)
            except Exception as exc:  # the test looks at refused
                self.refused.append(repr(exc))
                return 401
            self.received.append((path, headers, body))
            return self.codes.pop(0) if self.codes else 201


@contextmanager
def push_service(service: PushService) -> Iterator[str]:
    """Serve ``service`` on a free local port; yields its origin (http://127.0.0.1:port)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            code = service.answer(self.path, headers, body)
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    service.origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service.origin
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
