"""The caches of one App and their one "has the store changed?" check.

Every cache of derived results (page data, the CX index cells and results, the journeys page)
lives here, on the App that owns the store, never in a module: two Apps never share one,
and closing an App drops them. Each cache compares :meth:`Caches.version` (the store's
fingerprint, :meth:`klantreis.store.EventStore.version`) with the version its entries were
computed at.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

__all__ = ["Caches", "KeyedResults", "Results", "Served", "StaleResults"]

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class Served(Generic[T]):
    """A cached result with what it is current for: ``stale`` when the store has changed
    since ``as_of`` (UTC, when the result was computed) and a refresh is on its way."""

    value: T
    version: Hashable
    as_of: datetime
    stale: bool


class StaleResults:
    """Results per key, served stale while they refresh: after the store changed, a key that
    has a result gets that previous result (``stale=True``, with its as-of time) at once while
    **one** background refresh at a time recomputes it; a key without one is computed in the
    caller, as :class:`Results` does. The refresh reads the store version before it starts and
    keeps its result under that version, so a change during the refresh starts another.

    This bounds what a visitor waits for after an ingest to a cache lookup, at the price of
    one view of the previous numbers (marked with their as-of time); the functions computing
    the results are unchanged (the portable references).
    """

    def __init__(self, caches: Caches, size: int = 16) -> None:
        self._caches, self.size = caches, size
        self._lock = threading.Lock()
        self._entries: dict[Hashable, Served[Any]] = {}
        self._refresh: threading.Thread | None = None
        self.refreshes = 0  # background refreshes finished (for tests and benchmarks)

    def get(self, key: Hashable, build: Callable[[], T]) -> Served[T]:
        version = self._caches.version()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.version == version:
                return entry
            if entry is not None:
                self._start_refresh(key, build)
                return replace(entry, stale=True)
        return self._compute(key, build, version)

    def _start_refresh(self, key: Hashable, build: Callable[[], Any]) -> None:
        """Start the one refresh (under the lock); nothing when one is running."""
        if self._refresh is not None and self._refresh.is_alive():
            return

        def run() -> None:
            try:
                self._compute(key, build, self._caches.version())
                with self._lock:
                    self.refreshes += 1
            except Exception:  # the stale result stays; the next request tries again
                log.exception("background refresh of %r failed", key)

        self._refresh = threading.Thread(target=run, name="klantreis-refresh", daemon=True)
        self._refresh.start()

    def _compute(self, key: Hashable, build: Callable[[], T], version: Hashable) -> Served[T]:
        served = Served(build(), version, datetime.now(UTC), stale=False)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is None or old.as_of <= served.as_of:
                while len(self._entries) >= self.size:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[key] = served
            else:
                self._entries[key] = old
        return served

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running refresh (if any); True when none is running afterwards."""
        thread = self._refresh
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def clear(self) -> None:
        with self._lock:
            self._entries = {}

    def __len__(self) -> int:
        return len(self._entries)
