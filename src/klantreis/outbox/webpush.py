"""Web Push (RFC 8030) to a browser's push subscription, with VAPID (RFC 8292) and an
``aes128gcm``-encrypted body (RFC 8291): the outbox's ``push`` channel.

A push message names the subscription's endpoint as its ``to``; the browser's keys
(``p256dh``, ``auth``) are looked up at send time with ``keys_for(endpoint)`` (a removed
subscription has none: the message fails, nothing is sent). The body is the message's
``payload`` as JSON (``title``, ``body``, ``url``; ``text`` becomes ``body`` when missing),
encrypted for that browser alone, cut to fit the 4 KB a push service accepts.

Answers: 201/2xx delivered; 404 and 410 mean the subscription is gone — ``gone(endpoint)``
removes it and the message fails; 413 and other 4xx fail; 429 and 5xx are tried again
(honouring ``Retry-After``); a broken connection may have delivered, so it is ambiguous
(the outbox tries a staff message again). Redirects are not followed.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from klantreis.outbox.ece import MAX_PLAINTEXT, encrypt, unb64url
from klantreis.outbox.message import Message, SendResult
from klantreis.outbox.sender import scrub
from klantreis.outbox.vapid import VapidKey
from klantreis.outbox.webhooks import _NoRedirects, _retry_after

__all__ = ["KeysFor", "WebPushSender", "push_body"]

#: ``keys_for(endpoint)``: the subscription's ``(p256dh, auth)`` in URL-safe base64, or
#: ``None`` when it is no longer stored.
KeysFor = Callable[[str], "tuple[str, str] | None"]
GONE = (404, 410)


def push_body(message: Message) -> bytes:
    """The plaintext JSON of a push message, shortened (``body`` first) to fit."""
    data: dict[str, Any] = dict(message.payload or {})
    if message.text is not None:
        data.setdefault("body", message.text)
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    while len(raw) > MAX_PLAINTEXT and data.get("body"):
        over = len(raw) - MAX_PLAINTEXT
        body = str(data["body"])
        data["body"] = body[: max(0, len(body) - over - 1)] + "…"
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return raw


class WebPushSender:
    """Sends push messages signed with ``key``; ``ttl`` seconds a push service may hold a
    message for an offline device."""

    def __init__(
        self,
        key: VapidKey,
        keys_for: KeysFor,
        *,
        gone: Callable[[str], None] | None = None,
        ttl: int = 12 * 3600,
        timeout: float = 15.0,
    ) -> None:
        self.key = key
        self.keys_for = keys_for
        self.gone = gone
        self.ttl = ttl
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirects())

    def request(self, message: Message, now: float | None = None) -> urllib.request.Request:
        """The HTTP request for ``message``; ValueError when it cannot be sent."""
        endpoint = message.to
        if message.customer_id is not None or not endpoint:
            raise ValueError("push goes to a staff device's subscription, not to a customer")
        keys = self.keys_for(endpoint)
        if keys is None:
            raise ValueError("the push subscription was removed")
        p256dh, auth = keys
        body = encrypt(push_body(message), unb64url(p256dh), unb64url(auth))
        headers = {
            "authorization": self.key.authorization(endpoint, now),
            "content-encoding": "aes128gcm",
            "content-type": "application/octet-stream",
            "ttl": str(self.ttl),
            "urgency": "normal",
        }
        return urllib.request.Request(endpoint, data=body, headers=headers, method="POST")

    def send(self, message: Message, message_id: str, address: str | None) -> SendResult:
        try:
            request = self.request(message)
        except ValueError as exc:
            return SendResult("failed", None, str(exc))
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                code = int(response.status)
        except urllib.error.HTTPError as exc:
            return self._refused(int(exc.code), message, exc)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return SendResult("ambiguous", None, scrub(f"{type(exc).__name__}: {reason}"))
        if 200 <= code < 300:
            return SendResult("sent", code)
        return SendResult("retry", code, f"HTTP {code}")

    def _refused(self, code: int, message: Message, exc: urllib.error.HTTPError) -> SendResult:
        if code in GONE:
            if self.gone is not None and message.to:
                self.gone(message.to)
            return SendResult("failed", code, f"HTTP {code}: the subscription is gone")
        if code == 429 or code >= 500:
            after = _retry_after(exc.headers.get("retry-after") if exc.headers else None)
            return SendResult("retry", code, f"HTTP {code}", after)
        return SendResult("failed", code, f"HTTP {code}")

    def close(self) -> None:
        return None
