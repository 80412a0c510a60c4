"""Unsubscribe tokens: ``u1.<customer id, base64url>.<purpose>.<HMAC-SHA256, base64url>``.

They work without a login and do not expire (an unsubscribe link must keep working). The
signing key is derived from the application's secret for this one use, so a token cannot be
replayed as a session or a survey link.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

__all__ = ["derive_key", "sign", "verify"]

_PREFIX = "u1"


def derive_key(secret: str | bytes) -> bytes:
    raw = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(raw, b"klantreis.directory.unsubscribe.v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, customer_id: str, purpose: str) -> bytes:
    message = f"{_PREFIX}\x1f{customer_id}\x1f{purpose}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()


def sign(key: bytes, customer_id: str, purpose: str) -> str:
    cid = _b64(customer_id.encode("utf-8"))
    return f"{_PREFIX}.{cid}.{purpose}.{_b64(_mac(key, customer_id, purpose))}"


def verify(key: bytes, token: str) -> tuple[str, str] | None:
    """``(customer_id, purpose)`` of a genuine token, else ``None``."""
    parts = token.strip().split(".")
    if len(parts) != 4 or parts[0] != _PREFIX:
        return None
    try:
        customer_id = _unb64(parts[1]).decode("utf-8")
        given = _unb64(parts[3])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not hmac.compare_digest(given, _mac(key, customer_id, parts[2])):
        return None
    return customer_id, parts[2]
