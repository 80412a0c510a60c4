"""Webhooks signed per the Standard Webhooks specification (v1, HMAC-SHA256).

Headers: ``webhook-id`` (the message id: the same on every retry, so receivers dedupe on
it), ``webhook-timestamp`` (Unix seconds of the attempt) and ``webhook-signature``
(``v1,<base64 of HMAC-SHA256 over "{id}.{timestamp}.{body}">``). The secret is
``whsec_`` + base64 of at least 24 random bytes. Redirects are not followed (a 3xx is a
failure, as the specification advises); 2xx is delivered, 410 Gone stops, anything else is
tried again, honouring ``Retry-After``.

Body: the message's ``payload`` as compact JSON; a message with ``text`` adds it as
``"text"``; a message to a customer adds the looked-up address as ``"to"`` (it is sent, never
stored) and goes to the sender's own URL (the SMS/WhatsApp provider).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from klantreis.outbox.message import Message, SendResult
from klantreis.outbox.sender import scrub

__all__ = [
    "WebhookSender",
    "WebhookVerificationError",
    "decode_secret",
    "new_secret",
    "sign",
    "verify",
]

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(ValueError):
    """A webhook whose headers or signature do not check out."""


def new_secret() -> str:
    """A fresh ``whsec_`` secret (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """The key bytes of a ``whsec_...`` secret (the prefix is optional)."""
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret must be 'whsec_' + base64") from None
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 signature>`` of ``{msg_id}.{timestamp}.{body}``.

    The specification's own test vector:

    >>> sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
    ...      1614265330, b'{"test": 2432232314}')
    'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
    """
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """Check a received webhook (what a receiver does); raises
    :class:`WebhookVerificationError` when a header is missing, the time stamp is more than
    five minutes off, or no ``v1`` signature matches."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        stamp = int(lowered["webhook-timestamp"])
        given = lowered["webhook-signature"].split()
    except (KeyError, ValueError):
        raise WebhookVerificationError("missing or malformed webhook headers") from None
    if abs((time.time() if now is None else now) - stamp) > TOLERANCE_SECONDS:
        raise WebhookVerificationError("webhook time stamp is too old or too new")
    expected = sign(secret, msg_id, stamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in given):
        raise WebhookVerificationError("no matching webhook signature")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def body_of(message: Message, address: str | None) -> bytes:
    body: dict[str, Any] = dict(message.payload or {})
    if message.text is not None:
        body.setdefault("text", message.text)
    if address is not None:
        body["to"] = address
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own back-off


class WebhookSender:
    """POSTs signed JSON. ``url`` receives messages to customers (which have no ``to``);
    a message with its own ``to`` goes there, signed with ``secret_for(to)`` when that gives
    one (a subscriber's own secret), else with ``secret``."""

    def __init__(
        self,
        secret: str,
        *,
        url: str | None = None,
        timeout: float = 15.0,
        user_agent: str = "klantreis-webhooks/1",
        secret_for: Callable[[str], str | None] | None = None,
    ) -> None:
        if len(decode_secret(secret)) < MIN_SECRET_BYTES:
            raise ValueError(f"webhook secret must hold at least {MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self.secret_for = secret_for
        self.url = url
        self.timeout = timeout
        self.user_agent = user_agent
        self._opener = urllib.request.build_opener(_NoRedirects())

    def request(
        self, message: Message, message_id: str, address: str | None, now: float | None = None
    ) -> urllib.request.Request:
        url = message.to if message.customer_id is None else self.url
        if not url:
            raise ValueError("no webhook URL for messages to customers (KLANTREIS_WEBHOOK_URL)")
        body = body_of(message, address)
        stamp = int(time.time() if now is None else now)
        headers = {
            "content-type": "application/json",
            "user-agent": self.user_agent,
            "webhook-id": message_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(self._secret_of(message), message_id, stamp, body),
        }
        return urllib.request.Request(url, data=body, headers=headers, method="POST")

    def _secret_of(self, message: Message) -> str:
        own = self.secret_for(message.to) if self.secret_for and message.to else None
        return own or self._secret

    def send(self, message: Message, message_id: str, address: str | None) -> SendResult:
        try:
            request = self.request(message, message_id, address)
        except ValueError as exc:
            return SendResult("failed", None, str(exc))
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                code = int(response.status)
        except urllib.error.HTTPError as exc:
            code = int(exc.code)
            after = _retry_after(exc.headers.get("retry-after") if exc.headers else None)
            outcome = "failed" if code == 410 else "retry"
            return SendResult(outcome, code, f"HTTP {code}", after)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return SendResult("ambiguous", None, scrub(f"{type(exc).__name__}: {reason}", address))
        if 200 <= code < 300:
            return SendResult("sent", code)
        return SendResult("retry", code, f"HTTP {code}")

    def close(self) -> None:
        return None
