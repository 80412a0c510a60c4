"""When to try again: exponential back-off with jitter, up to a number of attempts."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from klantreis.settings import Settings

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt ``n`` (1-based) that failed waits ``min(cap, base * 2**(n-1))`` times a random
    factor in [0.5, 1.0] ("equal jitter"), or longer when the receiver asked
    (``Retry-After``, also capped). After ``max_attempts`` the message fails."""

    max_attempts: int = 8
    base_seconds: float = 5.0
    max_seconds: float = 6 * 3600.0
    lease_seconds: float = 300.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_seconds < 0 or self.max_seconds < self.base_seconds:
            raise ValueError("back-off needs 0 <= base_seconds <= max_seconds")
        if self.lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.outbox_max_attempts,
            base_seconds=settings.outbox_backoff_seconds,
            max_seconds=settings.outbox_backoff_max_seconds,
            lease_seconds=settings.outbox_lease_seconds,
        )

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt``."""
        exponential = min(self.max_seconds, self.base_seconds * 2.0 ** max(0, attempt - 1))
        wait = exponential * self.rng.uniform(0.5, 1.0)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_seconds))
        return wait
