"""Opaque handles: the ids viewers see instead of journey, order, event and contact ids.

A handle is ``h_`` and 24 hex digits of a keyed hash of the id (a nested SHA-256 with two
keys derived from the app's secret key), so it is stable across requests and restarts, says
nothing about the id (an order number in an event id, a customer number), and cannot be
computed without the secret key. The server resolves a handle back to its id: from the
handles it recently handed out, else by computing the handles of the ids in the store (the
same hash in SQL, one scan).

>>> h = Handles("a-secret-key-for-the-doctest-1234")
>>> h.of("O-2026-000123").startswith("h_"), h.of("O-2026-000123") == h.of("O-2026-000123")
(True, True)
>>> Handles("another-secret-key-0987654321abcd").of("O-2026-000123") == h.of("O-2026-000123")
False
>>> h.resolve(h.of("O-2026-000123"), None)
'O-2026-000123'
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from typing import Any

import ibis

__all__ = ["PREFIX", "Handles"]

PREFIX = "h_"
_DIGITS = 24
_MEMO_MAX = 100_000


class Handles:
    """Handles for one secret key (one per web app, on its :class:`Security`)."""

    def __init__(self, secret_key: str) -> None:
        key = secret_key.encode("utf-8")
        self._inner = hmac.new(key, b"klantreis-handle-inner", hashlib.sha256).hexdigest()
        self._outer = hmac.new(key, b"klantreis-handle-outer", hashlib.sha256).hexdigest()
        self._memo: dict[str, str] = {}
        self._lock = threading.Lock()

    def of(self, raw: str | None) -> str | None:
        """The handle of ``raw`` (``None`` stays ``None``); remembered for :meth:`resolve`."""
        if raw is None:
            return None
        inner = hashlib.sha256((self._inner + raw).encode("utf-8")).hexdigest()
        handle = (
            PREFIX + hashlib.sha256((self._outer + inner).encode("utf-8")).hexdigest()[:_DIGITS]
        )
        with self._lock:
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            self._memo[handle] = raw
        return handle

    @staticmethod
    def is_handle(value: str | None) -> bool:
        return (
            value is not None
            and value.startswith(PREFIX)
            and len(value) == len(PREFIX) + _DIGITS
            and all(c in "0123456789abcdef" for c in value[len(PREFIX) :])
        )

    def _expr(self, column: Any) -> Any:
        """The handle digits of an Ibis string column, the same hash as :meth:`of`."""
        inner = (ibis.literal(self._inner) + column).hexdigest("sha256")
        return (ibis.literal(self._outer) + inner).hexdigest("sha256").substr(0, _DIGITS)

    def resolve(self, handle: str, events: Any, column: str = "journey_id") -> str | None:
        """The id behind ``handle`` in ``events.<column>`` (``None`` when unknown)."""
        if not self.is_handle(handle):
            return None
        with self._lock:
            known = self._memo.get(handle)
        if known is not None:
            return known
        ids = events.select(column).distinct()
        found = (
            ids.filter(self._expr(ids[column]) == handle[len(PREFIX) :])
            .limit(1)
            .to_pyarrow()
            .to_pylist()
        )
        if not found:
            return None
        raw: str = found[0][column]
        self.of(raw)  # remembered for the next time
        return raw
