"""The demo's calendar: the period, its local (Europe/Amsterdam) days, and "now".

All times are int64 microseconds since the epoch, UTC. The period ends at ``now``: the last
day is partial, like a live feed, and events after ``now`` have not happened yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np

__all__ = ["DAY", "DEFAULT_END", "HOUR", "MINUTE", "DemoPeriod"]

MINUTE = 60 * 1_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

#: The fixed default end of the demo period (so tests and screenshots are stable):
#: Friday 20 November 2026, 15:00 in Amsterdam.
DEFAULT_END = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)

#: Local days before the start and after the end that times may fall on.
_MARGIN_BEFORE = 30
_MARGIN_AFTER = 120


def _us(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000)


@dataclass(frozen=True)
class DemoPeriod:
    """``days`` local days ending with the (partial) day of ``now``."""

    now: datetime
    days: int = 120
    timezone: str = "Europe/Amsterdam"

    @classmethod
    def ending(cls, now: datetime | None = None, days: int = 120) -> DemoPeriod:
        now = (now or DEFAULT_END).astimezone(UTC)
        return cls(now=now.replace(second=0, microsecond=0), days=days)

    @classmethod
    def starting(cls, start: date, days: int = 120) -> DemoPeriod:
        """The period from ``start``; its last day is cut at 15:00 local time."""
        tz = ZoneInfo("Europe/Amsterdam")
        last = start + timedelta(days=days - 1)
        return cls(now=datetime.combine(last, time(15, 0), tz).astimezone(UTC), days=days)

    @property
    def start(self) -> date:
        return self.now.astimezone(ZoneInfo(self.timezone)).date() - timedelta(days=self.days - 1)

    @property
    def now_us(self) -> int:
        return _us(self.now)

    @cached_property
    def midnights(self) -> np.ndarray:
        """UTC microseconds of local midnight for day index -MARGIN .. days + MARGIN."""
        tz = ZoneInfo(self.timezone)
        first = self.start - timedelta(days=_MARGIN_BEFORE)
        total = self.days + _MARGIN_BEFORE + _MARGIN_AFTER
        return np.array(
            [_us(datetime.combine(first + timedelta(days=i), time(0), tz)) for i in range(total)],
            dtype="int64",
        )

    def local(self, day: np.ndarray, offset_us: np.ndarray | int) -> np.ndarray:
        """UTC time of local day index ``day`` (0 = start) plus a clock offset."""
        at: np.ndarray = self.midnights[day + _MARGIN_BEFORE] + offset_us
        return at

    def day_of(self, t_us: np.ndarray) -> np.ndarray:
        """Local day index (0 = start) of UTC times."""
        mids = self.midnights
        return np.searchsorted(mids, t_us, side="right") - 1 - _MARGIN_BEFORE

    def weekday(self, day: np.ndarray) -> np.ndarray:
        """0 = Monday ... 6 = Sunday, for local day indices."""
        return (self.start.weekday() + day) % 7
