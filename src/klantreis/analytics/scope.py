"""One typed scope for every analysis: which answers/events, over which days.

A :class:`Scope` is what the score pages, the CX index and the API mean by their filters:

- **window**: local days in the journey's time zone. A named ``period`` (``7d``, ``30d``,
  ``90d``, ``365d``, ``all``) is the N days *ending* ``as_of`` (inclusive), so ``30d`` with
  ``as_of`` 31 March is 2-31 March; ``all`` has no first day. ``since``/``until`` (dates,
  both inclusive) override the named window. The pages set ``as_of`` to the local day of the
  newest answer in the store, once, so every page of one store means the same days.
- **filters**: touchpoints, channels, owners, stages, kinds, languages, sources (each a
  tuple of values; ``None`` in a tuple matches a missing value), ``attrs`` (key -> values).
- **segment**: ``segments`` is the customer segment: the answer's own ``attrs.segment``,
  else that of its journey's start event (the demo keeps it on ``order.placed`` only).
- ``start``/``end``: optional instant bounds [start, end) within the days (a naive
  date-time is wall-clock time in the journey's time zone), for callers that need finer
  bounds than days.
- ``outcome``: journeys only (a :class:`JourneyCondition`, e.g. a broken promise).

Answer analyses (scores, the CX index) select *events*. Journey analyses
(:mod:`klantreis.analytics.journeys`) read the same scope per *journey*: a journey is in
scope when one of its events matches each filter and its first event lies in the window;
``stages`` alone keeps only the events of those stages.

:func:`select` applies a scope to an Ibis event table (portable: DuckDB and Spark);
:func:`parse_scope` reads the one textual form used by query strings, the CLI and the Python
API (``{"channel": "web", "segment": ["zakelijk"], "period": "30d"}``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir

from klantreis.analytics.backend import json_text
from klantreis.analytics.periods import utc_bound
from klantreis.model.journey import JourneyConfig

__all__ = [
    "COLUMN_FILTERS",
    "DEFAULT_PERIOD",
    "NAMED_WINDOWS",
    "JourneyCondition",
    "Scope",
    "as_scope",
    "attr_value",
    "newest_answer_day",
    "parse_scope",
    "select",
]

#: Named windows -> days (None: everything up to ``as_of``).
NAMED_WINDOWS: dict[str, int | None] = {"7d": 7, "30d": 30, "90d": 90, "365d": 365, "all": None}
#: The period the pages show when none is chosen (the kept conditions count its root causes
#: when they are built or refreshed, so the first view of ``/contacts`` finds them).
DEFAULT_PERIOD = "90d"
#: Scope field -> the event column it filters.
COLUMN_FILTERS = {
    "touchpoints": "touchpoint",
    "channels": "channel",
    "owners": "owner",
    "kinds": "kind",
    "langs": "lang",
    "sources": "source",
    "metrics": "metric",
}
Values = tuple[str | None, ...]


class JourneyCondition(Protocol):
    """Something true or false per journey (a broken promise, many contacts, ...)."""

    @property
    def label(self) -> str: ...

    def journeys(self, events: ir.Table, journey: JourneyConfig) -> ir.Table:
        """The distinct ``journey_id`` of the journeys for which the condition holds."""
        ...


@dataclass(frozen=True)
class Scope:
    """Which events an analysis looks at (see the module docstring). Frozen and hashable, so
    it keys caches as it is."""

    period: str | None = None
    as_of: date | None = None
    since: date | None = None
    until: date | None = None
    touchpoints: Values = ()
    channels: Values = ()
    owners: Values = ()
    stages: Values = ()
    kinds: Values = ()
    langs: Values = ()
    sources: Values = ()
    metrics: Values = ()
    segments: Values = ()
    attrs: tuple[tuple[str, Values], ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    outcome: JourneyCondition | None = None

    def __post_init__(self) -> None:
        if self.period is not None and self.period not in NAMED_WINDOWS:
            raise ValueError(
                f"unknown period {self.period!r}; use one of {', '.join(NAMED_WINDOWS)}"
            )
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since {self.since} is after until {self.until}")

    # -- the window ---------------------------------------------------------------------
    @property
    def window_days(self) -> int | None:
        """Days of the named window (None for ``all`` or no period)."""
        return NAMED_WINDOWS[self.period] if self.period else None

    def last_day(self, newest: date | None = None) -> date | None:
        """The last local day: ``until``, else ``as_of``, else ``newest``."""
        return self.until or self.as_of or newest

    def first_day(self, newest: date | None = None) -> date | None:
        """The first local day: ``since``, else ``window_days`` before the last day."""
        if self.since is not None:
            return self.since
        last, days = self.last_day(newest), self.window_days
        return None if last is None or days is None else last - timedelta(days=days - 1)

    def days(self, newest: date | None = None) -> tuple[date | None, date | None]:
        """(first, last) local day, both inclusive; None = open."""
        return self.first_day(newest), self.last_day(newest)

    def bounds(self, zone: str) -> tuple[datetime | None, datetime | None]:
        """UTC instants [local midnight of the first day, local midnight after the last),
        narrowed by ``start``/``end``."""
        first, last = self.days()
        lo = _later(utc_bound(first, zone), utc_bound(self.start, zone))
        hi = utc_bound(last + timedelta(days=1) if last else None, zone)
        end = utc_bound(self.end, zone)
        return lo, (end if hi is None or (end is not None and end < hi) else hi)

    def previous(self) -> Scope | None:
        """The same filters over the window of the same length just before (None when open)."""
        first, last = self.days()
        if first is None or last is None:
            return None
        length = last - first + timedelta(days=1)
        return replace(
            self, period=None, as_of=None, since=first - length, until=first - timedelta(1)
        )

    def with_as_of(self, day: date | None) -> Scope:
        """This scope with ``as_of`` set when it has none."""
        return self if self.as_of is not None or day is None else replace(self, as_of=day)

    # -- the filters --------------------------------------------------------------------
    def columns(self) -> dict[str, Values]:
        """Column filters: event column -> wanted values (only the set ones)."""
        return {col: getattr(self, f) for f, col in COLUMN_FILTERS.items() if getattr(self, f)}

    @property
    def filters_only_columns(self) -> bool:
        """True when nothing but column filters is set (no stage, segment or attribute)."""
        return not (self.stages or self.segments or self.attrs)

    def without_window(self) -> Scope:
        return replace(self, period=None, as_of=None, since=None, until=None, start=None, end=None)

    @property
    def is_empty(self) -> bool:
        """True when the scope selects everything."""
        return self == Scope()

    def to_dict(self) -> dict[str, Any]:
        """The set parts as parameters (what :func:`parse_scope` reads back), JSON-ready."""
        names = {field: name for name, field in _PARAMS.items()}
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or value == ():
                continue
            if f.name == "outcome":
                out["outcome"] = value.label
            elif f.name == "attrs":
                out.update({f"attrs.{k}": list(v) for k, v in value})
            elif isinstance(value, date):
                out[f.name] = value.isoformat()
            else:
                out[names.get(f.name, f.name)] = list(value) if isinstance(value, tuple) else value
        return out


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return a if b is None else b if a is None else max(a, b)


# -- parsing --------------------------------------------------------------------------------
#: Parameter name (query string, CLI, API) -> Scope field.
_PARAMS = {
    "touchpoint": "touchpoints",
    "channel": "channels",
    "owner": "owners",
    "stage": "stages",
    "kind": "kinds",
    "lang": "langs",
    "source": "sources",
    "metric": "metrics",
    "segment": "segments",
}
_DAYS = ("as_of", "since", "until")
_INSTANTS = ("start", "end")


def _values(value: Any) -> Values:
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(None if v is None else str(v) for v in value)
    return (str(value),)


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def parse_scope(
    params: Mapping[str, Any] | None,
    read_condition: Callable[[str], JourneyCondition] | None = None,
) -> Scope:
    """A scope from parameters: ``period``, ``as_of``, ``since``, ``until`` (dates),
    ``touchpoint``, ``channel``, ``owner``, ``stage``, ``kind``, ``lang``, ``source``,
    ``metric``, ``segment`` (a value or a list; None *in a list* matches a missing value) and
    ``attrs.<key>``; ``start``/``end`` (instants) and ``outcome`` (a condition, or its short
    form read by ``read_condition``, e.g. :func:`klantreis.analytics.conditions.parse_condition`,
    which sits above this module). Values not given (``None``, ``""``, ``[]``) are ignored;
    unknown keys raise ValueError.

    >>> s = parse_scope({"period": "30d", "channel": "web", "attrs.agent": ["a1", "a2"]})
    >>> s.period, s.channels, s.attrs
    ('30d', ('web',), (('agent', ('a1', 'a2')),))
    """
    kw: dict[str, Any] = {}
    attrs: dict[str, Values] = {}
    for key, value in (params or {}).items():
        if value is None or value == "" or value == [] or value == ():
            continue
        if key == "period":
            kw["period"] = value or None
        elif key in _DAYS:
            kw[key] = _day(value)
        elif key in _INSTANTS:
            kw[key] = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        elif key == "outcome":
            if isinstance(value, str):
                if read_condition is None:
                    raise ValueError("an outcome in its short form needs read_condition")
                value = read_condition(value)
            kw["outcome"] = value
        elif key in _PARAMS:
            kw[_PARAMS[key]] = _values(value)
        elif key.startswith("attrs."):
            attrs[key.removeprefix("attrs.")] = _values(value)
        else:
            raise ValueError(
                f"cannot filter on {key!r}; use period, since, until, as_of, start, end,"
                f" outcome, attrs.<key> or one of {', '.join(_PARAMS)}"
            )
    if "segment" in attrs:  # attrs.segment is the segment: one meaning everywhere
        kw["segments"] = tuple(dict.fromkeys((*kw.get("segments", ()), *attrs.pop("segment"))))
    return Scope(**kw, attrs=tuple(sorted(attrs.items())))


def as_scope(value: Scope | Mapping[str, Any] | None) -> Scope:
    """A scope as it is, or parsed from parameters (see :func:`parse_scope`)."""
    return value if isinstance(value, Scope) else parse_scope(value)


def newest_answer_day(events: ir.Table, zone: str, answers_only: bool = True) -> date | None:
    """The local day of the newest feedback answer (an event with a metric), else of the
    newest event (a log without answers), None for an empty log: the ``as_of`` the answer
    pages (scores, index, verbatims) give their scopes, so they all end on the same day.
    ``answers_only=False``: the newest event's day (the journeys page, whose journeys may
    start after the last answer)."""
    newest: datetime | None = None
    if answers_only:
        answers = events.filter(events.metric.notnull())
        newest = answers.occurred_at.max().to_pyarrow().as_py()
    if newest is None:
        newest = events.occurred_at.max().to_pyarrow().as_py()
    return None if newest is None else newest.astimezone(ZoneInfo(zone)).date()


# -- applying -------------------------------------------------------------------------------
def attr_value(events: ir.Table, key: str) -> ir.StringValue:
    """``attrs[key]`` as text (null when absent); a column's value when ``key`` is one.

    Keys are letters, digits and ``_`` (ValueError otherwise)."""
    if key in events.columns and key != "attrs":
        return events[key].cast("string")
    return json_text(events, key)


def _match(expr: ir.Value, wanted: Values) -> ir.BooleanValue:
    present = [v for v in wanted if v is not None]
    pred = expr.isin(present) if present else ibis.literal(False)
    return (pred | expr.isnull()) if None in wanted else pred


def stage_expr(events: ir.Table, journey: JourneyConfig | None) -> ir.StringValue:
    """The journey stage of each event's touchpoint (NULL when unmapped), as a CASE."""
    mapping = journey.stage_of_touchpoint() if journey else {}
    if not mapping:
        return ibis.null().cast("string")
    branches = [(events.touchpoint == tp, stage) for tp, stage in mapping.items()]
    return ibis.cases(*branches, else_=ibis.null().cast("string")).cast("string")


def in_segment(
    events: ir.Table, rows: ir.Table, journey: JourneyConfig | None, segments: Values
) -> ir.BooleanValue:
    """``rows``' own ``attrs.segment``, else that of its journey's start event, is one of
    ``segments``. ``events`` is the whole log (where the start events are)."""
    own = json_text(rows, "segment")
    if journey is None:
        return _match(own, segments)
    starts = events.filter(events.kind == journey.journey_start, events.journey_id.notnull())
    starts = starts.filter(_match(json_text(starts, "segment"), segments))
    return _match(own, segments) | (own.isnull() & rows.journey_id.isin(starts.journey_id))


def predicates(
    events: ir.Table,
    rows: ir.Table,
    scope: Scope,
    journey: JourneyConfig | None,
    zone: str,
    window: bool = True,
) -> list[ir.BooleanValue]:
    """The filter predicates of ``scope`` on ``rows`` (a filtered view of ``events``)."""
    preds = [_match(rows[col], wanted) for col, wanted in scope.columns().items()]
    if scope.stages:
        preds.append(_match(stage_expr(rows, journey), scope.stages))
    if scope.outcome is not None and journey is not None:
        preds.append(rows.journey_id.isin(scope.outcome.journeys(events, journey).journey_id))
    for key, wanted in scope.attrs:
        preds.append(_match(attr_value(rows, key), wanted))
    if scope.segments:
        preds.append(in_segment(events, rows, journey, scope.segments))
    if window:
        lo, hi = scope.bounds(zone)
        if lo is not None:
            preds.append(rows.occurred_at >= lo)
        if hi is not None:
            preds.append(rows.occurred_at < hi)
    return preds


def select(
    events: ir.Table,
    scope: Scope | None,
    journey: JourneyConfig | None,
    zone: str,
    window: bool = True,
) -> ir.Table:
    """The events of ``scope`` (its window only when ``window``), portable Ibis."""
    if scope is None:
        return events
    preds = predicates(events, events, scope, journey, zone, window)
    return events.filter(*preds) if preds else events
