"""The caches of one App and their one "has the store changed?" check.

Every cache of derived results (page data, the CX index cells and results, the journeys page)
lives here, on the App that owns the store, never in a module: two Apps never share one,
and closing an App drops them. Each cache compares :meth:`Caches.version` (the store's
fingerprint, :meth:`klantreis.store.EventStore.version`) with the version its entries were
computed at.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["Caches", "KeyedResults", "Results"]

T = TypeVar("T")


class Caches:
    """A registry of named cache objects, made on first use, plus the store's version."""

    def __init__(self, version: Callable[[], Hashable]) -> None:
        self._version = version
        self._lock = threading.Lock()
        self._entries: dict[str, Any] = {}

    def version(self) -> Hashable:
        """The store's fingerprint now: equal values mean the same events."""
        return self._version()

    def get(self, name: str, make: Callable[[], T]) -> T:
        """The cache called ``name``, made by ``make()`` the first time."""
        with self._lock:
            if name not in self._entries:
                self._entries[name] = make()
            value: T = self._entries[name]
            return value

    def clear(self) -> None:
        """Forget every cache (e.g. after something the store's version does not show
        changed, such as a new classifier version)."""
        with self._lock:
            self._entries.clear()


class Results:
    """Results per key computed at one store version: kept while :meth:`Caches.version`
    stays the same, all dropped when it changes; at most ``size`` (oldest dropped first)."""

    def __init__(self, caches: Caches, size: int = 16) -> None:
        self._caches, self.size = caches, size
        self._lock = threading.Lock()
        self._version: Hashable = None
        self._entries: dict[Hashable, Any] = {}

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The result of ``key`` at the store's current version (``build()`` on a miss)."""
        version = self._caches.version()
        with self._lock:
            if version != self._version:
                self._entries, self._version = {}, version
            if key in self._entries:
                hit: T = self._entries[key]
                return hit
        value = build()
        with self._lock:
            if self._version == version:
                while len(self._entries) >= self.size:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries = {}

    def __len__(self) -> int:
        return len(self._entries)


class KeyedResults:
    """Results per key, kept until evicted (at most ``size``, least recently used first):
    the key itself says what the result was computed from (e.g. the version counters of the
    derived views it reads), so a change the result does not read keeps it."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._entries: dict[Hashable, Any] = {}

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            if key in self._entries:
                hit: T = self._entries.pop(key)
                self._entries[key] = hit  # most recently used last
                return hit
        value = build()
        with self._lock:
            while len(self._entries) >= self.size:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries = {}

    def __len__(self) -> int:
        return len(self._entries)
