"""SLA clocks: business hours, Dutch public holidays, pauses and the escalation ladder.

Pure functions and small value types; nothing here reads the store. The rules people asked
for in the open helpdesks' trackers, each pinned by a named test (``tests/act/test_sla.py``):

- a clock counts **business time only**: the shifts of each weekday in the calendar's time
  zone (``Europe/Amsterdam`` by default, daylight saving included), split shifts allowed
  (08:30-12:00 + 13:00-17:30: the lunch hour does not count), public holidays closed;
- the **Dutch public holidays** are computed per year (:func:`dutch_holidays`): Easter by
  the Gregorian computus, and from it Goede Vrijdag (off by default: not a general day off),
  Pasen, Hemelvaart, Pinksteren; Koningsdag (27 April, the 26th when the 27th is a Sunday);
  Bevrijdingsdag (5 May, by default only in lustrum years); the list is configurable;
- a **pause** (waiting for the customer or a third party) is kept as a wall-clock interval,
  not as a running total, so the clock is recomputed from the case's history with whatever
  policy applies now: changing the SLA policy mid-case does not lose the pause;
- the **first-action clock** stops only at a human action (the caller passes the first
  human action's time; automatic messages are not one);
- the **escalation ladder** (50% / 100% / 150% of the target: owner, team lead, reassign)
  never fires once the first action was taken, nor while the clock is paused, and each step
  fires once; an **alert budget** holds back alerts beyond a team's daily allowance.

Time arithmetic goes through a :class:`Timeline`: the calendar's open intervals as sorted
arrays of epoch seconds with their cumulative business seconds, so "business seconds until
``t``" and its inverse ("the moment ``x`` business seconds are reached") are one binary
search each, for one case or (vectorised, numpy) for 100k.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_HOLIDAYS",
    "DEFAULT_LADDER",
    "HOLIDAY_IDS",
    "AlertBudget",
    "BusinessCalendar",
    "ClockArrays",
    "ClockState",
    "Escalation",
    "LadderStep",
    "Pause",
    "SlaPolicy",
    "Timeline",
    "add_business_seconds",
    "business_seconds",
    "clock_arrays",
    "clock_state",
    "due_escalations",
    "dutch_holidays",
    "easter_sunday",
    "parse_shifts",
]

Floats = npt.NDArray[np.float64]

#: Every Dutch public holiday :func:`dutch_holidays` knows, by id.
HOLIDAY_IDS = (
    "nieuwjaarsdag",
    "goede_vrijdag",
    "eerste_paasdag",
    "tweede_paasdag",
    "koningsdag",
    "bevrijdingsdag",
    "hemelvaartsdag",
    "eerste_pinksterdag",
    "tweede_pinksterdag",
    "eerste_kerstdag",
    "tweede_kerstdag",
)
#: Closed by default: all but Goede Vrijdag (most collective agreements keep it a working day).
DEFAULT_HOLIDAYS = tuple(h for h in HOLIDAY_IDS if h != "goede_vrijdag")

LiberationDay = Literal["lustrum", "yearly", "never"]


def easter_sunday(year: int) -> date:
    """Easter Sunday of ``year`` (Gregorian; the anonymous "Meeus/Jones/Butcher" computus).

    >>> easter_sunday(2026), easter_sunday(2027)
    (datetime.date(2026, 4, 5), datetime.date(2027, 3, 28))
    """
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month = (h + ell - 7 * m + 114) // 31
    day = (h + ell - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def dutch_holidays(
    year: int,
    include: Iterable[str] = DEFAULT_HOLIDAYS,
    liberation_day: LiberationDay = "lustrum",
) -> dict[date, str]:
    """The Dutch public holidays of ``year`` that are in ``include``: date -> holiday id.

    Bevrijdingsdag (5 May) counts every year (``"yearly"``), only in lustrum years (2025,
    2030, ...: ``"lustrum"``, the default in most agreements) or never.

    >>> sorted(dutch_holidays(2026).values())[:3]
    ['eerste_kerstdag', 'eerste_paasdag', 'eerste_pinksterdag']
    >>> date(2025, 4, 26) in dutch_holidays(2025)  # 27 April 2025 was a Sunday
    True
    """
    wanted = set(include)
    unknown = wanted - set(HOLIDAY_IDS)
    if unknown:
        raise ValueError(f"unknown holiday(s): {', '.join(sorted(unknown))}")
    easter = easter_sunday(year)
    kings = date(year, 4, 27)
    if kings.weekday() == 6:
        kings = date(year, 4, 26)
    days = {
        "nieuwjaarsdag": date(year, 1, 1),
        "goede_vrijdag": easter - timedelta(days=2),
        "eerste_paasdag": easter,
        "tweede_paasdag": easter + timedelta(days=1),
        "koningsdag": kings,
        "hemelvaartsdag": easter + timedelta(days=39),
        "eerste_pinksterdag": easter + timedelta(days=49),
        "tweede_pinksterdag": easter + timedelta(days=50),
        "eerste_kerstdag": date(year, 12, 25),
        "tweede_kerstdag": date(year, 12, 26),
    }
    if liberation_day == "yearly" or (liberation_day == "lustrum" and year % 5 == 0):
        days["bevrijdingsdag"] = date(year, 5, 5)
    return {d: name for name, d in days.items() if name in wanted}


Shift = tuple[time, time]


def parse_shifts(text: str) -> tuple[Shift, ...]:
    """``"08:30-12:00,13:00-17:30"`` -> two shifts; ``""`` -> closed. Shifts must be in
    order and must not overlap."""
    shifts: list[Shift] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        start_text, sep, end_text = part.partition("-")
        try:
            start, end = (
                time.fromisoformat(start_text.strip()),
                time.fromisoformat(end_text.strip()),
            )
        except ValueError:
            raise ValueError(f"shift '{part}' is not HH:MM-HH:MM") from None
        if not sep or end <= start:
            raise ValueError(f"shift '{part}' must end after it starts")
        if shifts and start < shifts[-1][1]:
            raise ValueError(f"shift '{part}' overlaps or precedes the one before it")
        shifts.append((start, end))
    return tuple(shifts)


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours per weekday (Monday first; each a tuple of shifts, empty = closed) in
    ``timezone``, minus the holidays (computed per year) and ``closed_days``."""

    week: tuple[tuple[Shift, ...], ...]
    timezone: str = "Europe/Amsterdam"
    holidays: tuple[str, ...] = DEFAULT_HOLIDAYS
    liberation_day: LiberationDay = "lustrum"
    closed_days: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise ValueError("a calendar needs the shifts of 7 weekdays (Monday first)")
        if not any(self.week):
            raise ValueError("a calendar must be open on at least one weekday")
        ZoneInfo(self.timezone)  # raises for an unknown zone

    @classmethod
    def office(
        cls, shifts: str = "08:30-12:00,13:00-17:30", days: int = 5, **kw: object
    ) -> BusinessCalendar:
        """The same shifts on the first ``days`` weekdays (Mon-Fri by default)."""
        parsed = parse_shifts(shifts)
        week = tuple(parsed if i < days else () for i in range(7))
        return cls(week, **kw)  # type: ignore[arg-type]

    @classmethod
    def always(cls, timezone: str = "UTC") -> BusinessCalendar:
        """24/7, no holidays: wall-clock time."""
        day = ((time(0), time(23, 59, 59, 999999)),)
        return cls((day,) * 7, timezone, holidays=())

    def closed_on(self, year: int) -> set[date]:
        out = set(dutch_holidays(year, self.holidays, self.liberation_day))
        return out | {d for d in self.closed_days if d.year == year}

    def open_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of one local day, as aware UTC datetimes."""
        if day in self.closed_on(day.year):
            return []
        tz = ZoneInfo(self.timezone)
        out = []
        for start, end in self.week[day.weekday()]:
            a = datetime.combine(day, start, tz).astimezone(UTC)
            b = datetime.combine(day, end, tz).astimezone(UTC)
            if end == time(23, 59, 59, 999999):
                b = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
            out.append((a, b))
        return out


@lru_cache(maxsize=256)
def _year_table(calendar: BusinessCalendar, year: int) -> tuple[Floats, Floats]:
    starts: list[float] = []
    ends: list[float] = []
    day = date(year, 1, 1)
    while day.year == year:
        for a, b in calendar.open_intervals(day):
            starts.append(a.timestamp())
            ends.append(b.timestamp())
        day += timedelta(days=1)
    return np.array(starts, dtype=np.float64), np.array(ends, dtype=np.float64)


class Timeline:
    """A calendar's open intervals over whole years ``first..last`` (local years, with one
    extra year each side), for business-time arithmetic on epoch seconds."""

    def __init__(self, calendar: BusinessCalendar, first_year: int, last_year: int) -> None:
        parts = [_year_table(calendar, y) for y in range(first_year - 1, last_year + 2)]
        self.calendar = calendar
        self.starts: Floats = np.concatenate([p[0] for p in parts])
        self.ends: Floats = np.concatenate([p[1] for p in parts])
        self.lengths: Floats = self.ends - self.starts
        self.before: Floats = np.concatenate([[0.0], np.cumsum(self.lengths)[:-1]])
        self.through: Floats = self.before + self.lengths

    @classmethod
    def covering(cls, calendar: BusinessCalendar, *moments: datetime) -> Timeline:
        years = [m.year for m in moments]
        return _timeline(calendar, min(years), max(years) + 1)

    def position(self, t: Floats | float) -> Floats:
        """Business seconds from the timeline's start until ``t`` (epoch seconds)."""
        ts = np.asarray(t, dtype=np.float64)
        i = np.searchsorted(self.starts, ts, side="right") - 1
        j = np.clip(i, 0, None)
        inside = np.clip(ts - self.starts[j], 0.0, self.lengths[j])
        out: Floats = np.where(i < 0, 0.0, self.before[j] + inside)
        return out

    def moment(self, x: Floats | float) -> Floats:
        """The epoch second at which business position ``x`` is reached (the inverse of
        :meth:`position`; a moment inside an open interval or at its end)."""
        xs = np.asarray(x, dtype=np.float64)
        i = np.searchsorted(self.through, xs, side="left")
        if np.any(i >= len(self.starts)):
            raise ValueError("the moment lies beyond the calendar's timeline")
        out: Floats = self.starts[i] + (xs - self.before[i])
        return out


@lru_cache(maxsize=64)
def _timeline(calendar: BusinessCalendar, first_year: int, last_year: int) -> Timeline:
    return Timeline(calendar, first_year, last_year)


def _ts(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError("SLA times must be time-zone aware")
    return moment.timestamp()


def _dt(seconds: float | Floats) -> datetime:
    return datetime.fromtimestamp(float(seconds), UTC)


def business_seconds(calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Business seconds between two aware moments (0 when ``end`` is not after ``start``)."""
    if _ts(end) <= _ts(start):
        return 0.0
    tl = Timeline.covering(calendar, start, end)
    return float(tl.position(_ts(end)) - tl.position(_ts(start)))


def add_business_seconds(calendar: BusinessCalendar, start: datetime, seconds: float) -> datetime:
    """The moment ``seconds`` business seconds after ``start`` (an SLA's due time)."""
    years = max(1, int(seconds // (300 * 24 * 3600)) + 1)  # generous: widened below if needed
    while True:
        tl = _timeline(calendar, start.year, start.year + years)
        try:
            return _dt(tl.moment(tl.position(_ts(start)) + seconds))
        except ValueError:
            years *= 2
            if years > 64:
                raise


@dataclass(frozen=True)
class Pause:
    """The clock stood still from ``start`` until ``end`` (None: still paused)."""

    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class SlaPolicy:
    """Targets in business hours for the first human action and for closing."""

    id: str
    first_action_hours: float
    resolution_hours: float


@dataclass(frozen=True)
class ClockState:
    """One clock of one case at ``now``. ``elapsed``/``target`` in business seconds;
    ``fraction`` = elapsed / target; ``due_at`` None while paused; ``stopped_at`` when the
    clock stopped (first action, closure); ``met`` None while running."""

    target: float
    elapsed: float
    due_at: datetime | None
    stopped_at: datetime | None
    paused: bool

    @property
    def fraction(self) -> float:
        return self.elapsed / self.target if self.target > 0 else 0.0

    @property
    def met(self) -> bool | None:
        if self.stopped_at is None:
            return None
        return self.elapsed <= self.target

    @property
    def breached(self) -> bool:
        return self.elapsed > self.target

    def as_dict(self) -> dict[str, object]:
        return {
            "target_seconds": self.target,
            "elapsed_seconds": self.elapsed,
            "fraction": self.fraction,
            "due_at": self.due_at,
            "stopped_at": self.stopped_at,
            "paused": self.paused,
            "met": self.met,
            "breached": self.breached,
        }


def _merged(pauses: Sequence[Pause], start: datetime, end: datetime) -> list[tuple[float, float]]:
    """Pauses clipped to [start, end], merged, as (start, end) epoch seconds."""
    spans = sorted(
        (max(_ts(p.start), _ts(start)), min(_ts(p.end) if p.end else _ts(end), _ts(end)))
        for p in pauses
    )
    out: list[tuple[float, float]] = []
    for a, b in spans:
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def clock_state(
    calendar: BusinessCalendar,
    target_hours: float,
    started_at: datetime,
    now: datetime,
    stopped_at: datetime | None = None,
    pauses: Sequence[Pause] = (),
) -> ClockState:
    """A clock that runs in business time from ``started_at`` until ``stopped_at`` (or
    ``now``), standing still during ``pauses``.

    The due time is the moment the target is reached counting only running business time;
    None while the clock is paused now (and not yet breached)."""
    end = min(stopped_at, now) if stopped_at else now
    target = target_hours * 3600.0
    tl = Timeline.covering(calendar, started_at, max(end, now) + timedelta(days=366))
    spans = _merged(pauses, started_at, end)
    pos = tl.position
    paused_seconds = sum(float(pos(b) - pos(a)) for a, b in spans)
    elapsed = max(0.0, float(pos(_ts(end)) - pos(_ts(started_at))) - paused_seconds)
    paused_now = stopped_at is None and any(p.end is None or p.end > now for p in pauses)
    due = _due(tl, target, _ts(started_at), spans, open_pause=paused_now)
    return ClockState(target, elapsed, due, stopped_at if stopped_at else None, paused_now)


def _due(
    tl: Timeline, target: float, start: float, spans: list[tuple[float, float]], open_pause: bool
) -> datetime | None:
    remaining, cursor = target, start
    for a, b in spans:
        budget = float(tl.position(a) - tl.position(cursor))
        if budget >= remaining:
            return _dt(tl.moment(tl.position(cursor) + remaining))
        remaining -= budget
        cursor = b
    if open_pause:
        return None
    return _dt(tl.moment(tl.position(cursor) + remaining))


@dataclass(frozen=True)
class ClockArrays:
    """Many clocks at once (index = case): business seconds elapsed, the due moment in
    epoch seconds (NaN while paused), and whether the clock is paused now."""

    elapsed: Floats
    due: Floats
    paused: npt.NDArray[np.bool_]


def clock_arrays(
    calendar: BusinessCalendar,
    target_hours: Floats,
    started: Floats,
    now: float,
    stopped: Floats | None = None,
    pause_case: npt.NDArray[np.int64] | None = None,
    pause_start: Floats | None = None,
    pause_end: Floats | None = None,
) -> ClockArrays:
    """:func:`clock_state` for many cases with numpy (epoch seconds; ``stopped`` NaN while a
    clock runs; pauses as flat arrays: case index, start, end (NaN: still paused), not
    overlapping within a case). Same numbers as :func:`clock_state` (a test checks it)."""
    n = len(started)
    ends = np.full(n, now) if stopped is None else np.where(np.isnan(stopped), now, stopped)
    ends = np.minimum(ends, now)
    years = [datetime.fromtimestamp(float(x), UTC).year for x in (started.min(), now)]
    tl = _timeline(calendar, years[0], years[1] + 2)
    start_pos = tl.position(started)
    elapsed = tl.position(ends) - start_pos
    target = np.asarray(target_hours, dtype=np.float64) * 3600.0
    paused_now = np.zeros(n, dtype=bool)
    paused_total = np.zeros(n)
    unsure = np.zeros(n, dtype=bool)
    if (
        pause_case is not None
        and pause_start is not None
        and pause_end is not None
        and len(pause_case)
    ):
        open_ = np.isnan(pause_end)
        a = np.maximum(pause_start, started[pause_case])
        b = np.minimum(np.where(open_, now, pause_end), ends[pause_case])
        spent = np.where(b > a, tl.position(b) - tl.position(a), 0.0)
        np.add.at(paused_total, pause_case, spent)
        running = (
            np.ones(len(pause_case), bool) if stopped is None else np.isnan(stopped[pause_case])
        )
        np.logical_or.at(paused_now, pause_case, open_ & running)
        # a pause that began after the target was reached: the due time lies before it
        before = tl.position(a) - start_pos[pause_case]
        np.logical_or.at(unsure, pause_case, before >= target[pause_case])
    elapsed = np.maximum(elapsed - paused_total, 0.0)
    due = tl.moment(start_pos + target + paused_total)
    due = np.where(paused_now, np.nan, due)
    for i in np.flatnonzero(unsure):  # rare: breached before a pause; exact scalar path
        mine = pause_case == i
        pauses = [
            Pause(_dt(s0), None if np.isnan(e0) else _dt(e0))
            for s0, e0 in zip(pause_start[mine], pause_end[mine], strict=True)  # type: ignore[index]
        ]
        stop = None if stopped is None or np.isnan(stopped[i]) else _dt(stopped[i])
        st = clock_state(calendar, float(target_hours[i]), _dt(started[i]), _dt(now), stop, pauses)
        due[i] = np.nan if st.due_at is None else st.due_at.timestamp()
    return ClockArrays(elapsed, due, paused_now)


# -- escalation -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LadderStep:
    """At ``fraction`` of the target (0.5 = half the time used), do ``action``."""

    fraction: float
    action: Literal["owner", "team_lead", "reassign"]


DEFAULT_LADDER: tuple[LadderStep, ...] = (
    LadderStep(0.5, "owner"),
    LadderStep(1.0, "team_lead"),
    LadderStep(1.5, "reassign"),
)


@dataclass(frozen=True)
class Escalation:
    case_id: str
    team: str
    step: LadderStep
    day: date


def due_escalations(
    case_id: str,
    team: str,
    clock: ClockState,
    fired: Iterable[str],
    today: date,
    ladder: Sequence[LadderStep] = DEFAULT_LADDER,
) -> list[Escalation]:
    """The ladder steps reached by the first-action ``clock`` that have not fired yet.

    None once the clock stopped (a human acted: a reply, a note, a status change), none
    while it is paused; each step (by action) fires once."""
    if clock.stopped_at is not None or clock.paused:
        return []
    done = set(fired)
    return [
        Escalation(case_id, team, step, today)
        for step in sorted(ladder, key=lambda s: s.fraction)
        if clock.fraction >= step.fraction and step.action not in done
    ]


@dataclass
class AlertBudget:
    """At most ``per_team_per_day`` alerts per team and day; ``used`` counts what was sent.
    A reassignment is not an alert and is never held back."""

    per_team_per_day: int = 20
    used: dict[tuple[str, date], int] = field(default_factory=dict)

    def take(self, escalation: Escalation) -> bool:
        """True when the escalation's alert may go out (and counts it)."""
        if escalation.step.action == "reassign":
            return True
        key = (escalation.team, escalation.day)
        if self.used.get(key, 0) >= self.per_team_per_day:
            return False
        self.used[key] = self.used.get(key, 0) + 1
        return True
