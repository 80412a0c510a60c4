"""The CX index: one number for how customers feel, moving like a stock index.

The formula is documented in ``docs/cx-index.md``. In short: every survey answer becomes
points on 0-100 (nps: promoter 100, passive 50, detractor 0; csat: top-2 box 100 else 0;
ces: inverted, 1 -> 100 ... 7 -> 0; stars: 1 -> 0 ... 5 -> 100); the composite score of a
period is the mean of those points, each answer weighted by its touchpoint's configured
``weight``; a day's value uses the answers of the 7 days ending that day; the index is that
score divided by the score of the base period, times 100.

Filters: one :class:`klantreis.analytics.scope.Scope` (or its parameters, parsed by
:func:`klantreis.analytics.scope.parse_scope`), the same as the score pages, e.g.::

    {
        "channel": ["email", "web"],      # channel of the answer (how it was given)
        "owner": ["carrier:vlotbezorgd"], # owner of the moment asked about
        "touchpoint": ["bezorging"],      # touchpoint asked about
        "segment": ["nieuw"],             # attrs.segment of the answer or of its journey's
                                          # start event (order.placed)
        "period": "30d",                  # the 30 days ending as_of (or the last answer day)
        "since": date(2026, 1, 1),        # first day shown (inclusive)
        "until": date(2026, 3, 31),       # last day shown (inclusive)
    }

so the index selects exactly the answers the score pages select. Dimension filters apply to the answers and to the base period, so a filtered index is 100
when that slice is as good as it was in its base period. ``owner`` also restricts the
operational drivers (late parcels of that carrier); the other filters do not (they describe
answers, not parcels). Days are local days in the journey's time zone (Europe/Amsterdam in
the demo), as on the score pages.

Entry points: :func:`cx_index` (series, components and movers in one
:class:`IndexResult`; ``.to_dict()`` is JSON-serialisable) and :func:`index_movers`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import pandas as pd

from klantreis.analytics import index_cache as ic
from klantreis.analytics import movers as mv
from klantreis.analytics.backend import local_time
from klantreis.analytics.scope import Scope, as_scope, select
from klantreis.analytics.stats import DETRACTOR_MAX, PROMOTER_MIN, TOP2_MIN
from klantreis.model.journey import JourneyConfig

__all__ = [
    "BASE_DAYS",
    "DIMENSIONS",
    "METRIC_POINTS",
    "SMOOTHING_DAYS",
    "ComponentPoint",
    "ComponentSeries",
    "IndexPoint",
    "IndexResult",
    "Mover",
    "MoversResult",
    "answer_points",
    "cx_index",
    "index_movers",
]

log = logging.getLogger(__name__)

#: Days of answers behind each day's value (the day itself and the 6 before).
SMOOTHING_DAYS = 7
#: Default base period: the first this-many days with survey answers.
BASE_DAYS = 28
#: Component dimensions, in display order.
DIMENSIONS = ("touchpoint", "owner", "channel")
#: Values are rounded to this many decimals in results.
DECIMALS = 2

Mover = mv.Mover
MoversResult = mv.MoversResult


@dataclass(frozen=True)
class IndexPoint:
    """One day of the index: ``value`` (None without answers in the window), the answers of
    that day (``n``) and of its smoothing window (``n_window``), and the 95% interval of the
    value (from the window's answers; the base taken as fixed; None below 2 answers)."""

    day: date
    value: float | None
    n: int
    n_window: int
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class ComponentPoint:
    """One day of a component: ``value`` on the index scale (100 x score / base score),
    ``score`` its 0-100 points, ``n`` answers in the smoothing window."""

    day: date
    value: float | None
    score: float | None
    n: int


@dataclass(frozen=True)
class ComponentSeries:
    """The series of one touchpoint, owner or channel on the index scale.

    ``share`` is its share of the index weight in the last window (0-1); ``current`` the
    last value; ``change`` the last value minus the first value of the period; ``change_p``
    the p-value of that change (the z-test of the index change, on this component's answers
    of the first and the last window; None without a change).
    """

    dimension: str
    key: str
    label_nl: str
    label_en: str
    share: float
    current: float | None
    change: float | None
    n: int
    points: list[ComponentPoint]
    change_p: float | None = None

    @property
    def change_significant(self) -> bool:
        return self.change_p is not None and self.change_p < mv.ALPHA


@dataclass(frozen=True)
class IndexResult:
    """The CX index over a period, with its components and movers.

    ``current`` is the last day's value; ``change_today`` = last day minus the day before;
    ``change_period`` = last day minus the first day with a value. ``base`` is the base period
    (first and last day, inclusive) and ``base_score`` its 0-100 score (None without answers).
    ``components`` maps each of DIMENSIONS to its series, largest share first.
    """

    since: date | None
    until: date | None
    base: tuple[date, date] | None
    base_score: float | None
    smoothing_days: int
    series: list[IndexPoint]
    current: float | None
    change_today: float | None
    change_period: float | None
    n_answers: int
    components: dict[str, list[ComponentSeries]]
    movers: MoversResult | None
    filters: dict[str, Any] = field(default_factory=dict)
    #: Days whose smoothing window holds fewer answers than this have no value (a gap).
    min_answers: int = 1
    #: z-tests of the changes (None when untestable): ``change_today`` compares the answers
    #: of the day that entered the window with those of the day that left it (that is what
    #: moves a rolling mean); ``change_period`` the last window with the first day's window.
    change_today_p: float | None = None
    change_period_p: float | None = None

    @property
    def change_today_significant(self) -> bool:
        return self.change_today_p is not None and self.change_today_p < mv.ALPHA

    @property
    def change_period_significant(self) -> bool:
        return self.change_period_p is not None and self.change_period_p < mv.ALPHA

    @property
    def empty(self) -> bool:
        """True when no answer falls in the period."""
        return self.n_answers == 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (dates as ISO strings, tuples as lists)."""
        out: dict[str, Any] = _jsonable(self)
        out["empty"] = self.empty
        out["change_today_significant"] = self.change_today_significant
        out["change_period_significant"] = self.change_period_significant
        return out


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- answers in the engine ------------------------------------------------------------------
#: The metrics that count in the index (see answer_points); other metrics get no points.
METRIC_POINTS = ("nps", "csat", "ces", "stars")
UNKNOWN = "unknown"
#: Labels of survey channels: id -> (nl, en). Other channels show their id.
CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    "email": ("E-mail", "Email"),
    "web": ("Website", "Web"),
    "app": ("App", "App"),
    "phone": ("Telefoon", "Phone"),
    "chat": ("Chat", "Chat"),
    "sms": ("Sms", "Text message"),
    "whatsapp": ("WhatsApp", "WhatsApp"),
    "social": ("Social media", "Social media"),
    "store": ("Winkel", "Store"),
    UNKNOWN: ("Onbekend", "Unknown"),
}


def answer_points(metric: Any, score: Any) -> Any:
    """The 0-100 points of one answer, as an Ibis expression (see docs/cx-index.md).

    nps: 9-10 -> 100, 7-8 -> 50, 0-6 -> 0 (the mean is (NPS + 100) / 2); csat: 4-5 -> 100,
    else 0 (the mean is the top-2-box share); ces (1-7, low effort is good): (7 - score) / 6
    x 100; stars (1-5): (score - 1) / 4 x 100.
    """
    nps = ibis.cases((score >= PROMOTER_MIN, 100.0), (score <= DETRACTOR_MAX, 0.0), else_=50.0)
    return ibis.cases(
        (metric == "nps", nps),
        (metric == "csat", ibis.ifelse(score >= TOP2_MIN, 100.0, 0.0)),
        (metric == "ces", (7.0 - score) * (100.0 / 6.0)),
        (metric == "stars", (score - 1.0) * 25.0),
        else_=ibis.null("float64"),
    )


def _answers(events: ibis.Table, journey: JourneyConfig, scope: Scope) -> ibis.Table:
    """Scored answers (any event with a metric and a score, like the score pages) with the
    scope's filters (not its window: the days are cut later) applied and ``pts`` added."""
    t = select(events, scope, journey, journey.timezone, window=False)
    t = t.filter(t.score.notnull())
    t = t.mutate(pts=answer_points(t.metric, t.score))
    # Filtering on the points, not on ``metric IN (...)``, is the same (other metrics get no
    # points) and lets the engine compare strings only for rows with a score.
    return t.filter(t.pts.notnull())


def _cell_filters(scope: Scope) -> dict[str, list[Any]] | None:
    """The scope's filters as cell-column filters, or None when cells cannot apply them."""
    if not scope.filters_only_columns:
        return None
    return {col: list(values) for col, values in scope.columns().items()}


def _day_span(answers: ibis.Table, zone: str) -> tuple[date, date] | None:
    """First and last local day with an answer, or None."""
    row = answers.aggregate(lo=answers.occurred_at.min(), hi=answers.occurred_at.max())
    lo, hi = row.to_pyarrow().to_pylist()[0].values()
    if lo is None:
        return None
    tz = ZoneInfo(zone)
    return lo.astimezone(tz).date(), hi.astimezone(tz).date()


def _daily_cells(
    answers: ibis.Table, spans: Iterable[tuple[date, date]], journey: JourneyConfig
) -> pd.DataFrame:
    """Answers and points per (day, touchpoint, owner, channel) inside ``spans``, with the
    touchpoint weight applied: ``wp`` = weight x points, ``wn`` = weight x answers."""
    bounds = [mv.day_bounds(a, b, journey.timezone) for a, b in spans]
    cond = [(answers.occurred_at >= lo) & (answers.occurred_at < hi) for lo, hi in bounds]
    t = answers.filter(ibis.or_(*cond)) if cond else answers
    t = t.mutate(day=local_time(t, journey.timezone).date())
    agg = t.group_by(["day", "touchpoint", "owner", "channel"]).aggregate(
        n=t.count(), points=t.pts.sum(), points_sq=(t.pts * t.pts).sum()
    )
    return _weighted(agg.to_pyarrow().to_pandas(), journey)


def _weighted(df: pd.DataFrame, journey: JourneyConfig) -> pd.DataFrame:
    """Raw cells (n, points, points_sq) -> with UNKNOWN for missing keys and the weighted
    sums ``wp``, ``wn``, ``w2ss``, ``w2p``, ``w2n``."""
    df = df.copy()
    for col in ("touchpoint", "owner", "channel"):
        df[col] = df[col].fillna(UNKNOWN).astype(str)
    weights = {tp.id: tp.weight for tp in journey.touchpoints}
    w = df["touchpoint"].map(weights).fillna(1.0).astype(float)
    df["n"] = df["n"].astype(int)
    df["wp"] = w * df["points"].astype(float)
    df["wn"] = w * df["n"]
    df["w2ss"] = w * w * df["points_sq"].astype(float)
    df["w2p"] = w * df["wp"]
    df["w2n"] = w * df["wn"]
    return df


# -- series in Python -----------------------------------------------------------------------
def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _rolled(cells: pd.DataFrame, key: str, days: list[date]) -> dict[str, pd.DataFrame]:
    """Per group of ``key``: daily ``n`` and rolling-window ``wp``/``wn``/``nw`` on ``days``."""
    g = cells.groupby(["day", key])[list(mv.SUM_COLUMNS)].sum().unstack(key, fill_value=0)
    out = {col: g[col].reindex(days, fill_value=0) for col in mv.SUM_COLUMNS}
    for col in mv.SUM_COLUMNS:
        out[col + "_r"] = out[col].rolling(SMOOTHING_DAYS, min_periods=1).sum()
    return out


def _index_values(wide: Mapping[str, pd.DataFrame], base_score: float | None) -> pd.DataFrame:
    """100 x window score / base score (NaN without weighted answers or base)."""
    score = wide["wp_r"] / wide["wn_r"].where(wide["wn_r"] > 0)
    return (100.0 * score / base_score) if base_score else score * float("nan")


def _opt(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    return round(float(value), DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, DECIMALS) + 0.0


def _base_score(cells: pd.DataFrame, base: tuple[date, date]) -> float | None:
    inside = cells[(cells["day"] >= base[0]) & (cells["day"] <= base[1])]
    wn = float(inside["wn"].sum())
    return float(inside["wp"].sum()) / wn if wn > 0 else None


def _total_series(
    cells: pd.DataFrame,
    days: list[date],
    shown: list[date],
    base_score: float | None,
    min_answers: int = 1,
) -> list[IndexPoint]:
    """The index per shown day; a day whose window holds fewer than ``min_answers`` answers
    has no value and no interval (a gap in the line, not a number)."""
    wide = _rolled(cells.assign(all="all"), "all", days)
    values = _index_values(wide, base_score)
    if "all" not in values.columns:
        return [IndexPoint(d, None, 0, 0) for d in shown]
    rolled = {col: wide[col + "_r"]["all"] for col in mv.SUM_COLUMNS}
    half = mv.Z95 * mv.standard_error(rolled) * (100.0 / base_score if base_score else math.nan)
    enough = wide["n_r"]["all"] >= min_answers
    value = values["all"].where(enough).loc[shown]
    return [
        IndexPoint(*row)
        for row in zip(
            shown,
            _floats(value),
            _ints(wide["n"]["all"].loc[shown]),
            _ints(wide["n_r"]["all"].loc[shown]),
            _floats(value - half.loc[shown]),
            _floats(value + half.loc[shown]),
            strict=True,
        )
    ]


def _floats(values: pd.Series) -> list[float | None]:
    """Rounded floats, None for NaN (vectorised; avoids per-cell pandas lookups)."""
    return [None if math.isnan(v) else v + 0.0 for v in values.round(DECIMALS).tolist()]


def _ints(values: pd.Series) -> list[int]:
    return [int(v) for v in values.tolist()]


def _first_last(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    present = [v for v in values if v is not None]
    return (present[0], present[-1]) if present else (None, None)


def _components(
    cells: pd.DataFrame,
    dimension: str,
    days: list[date],
    shown: list[date],
    base_score: float | None,
    labels: Mapping[str, tuple[str, str]],
) -> list[ComponentSeries]:
    """One series per group of ``dimension`` on the index scale, largest share first."""
    if cells.empty:
        return []
    wide = _rolled(cells, dimension, days)
    values = _index_values(wide, base_score)
    score = wide["wp_r"] / wide["wn_r"].where(wide["wn_r"] > 0)
    last_total = float(wide["wn_r"].loc[shown[-1]].sum())
    # the tests' window sums from daily sums per group (far fewer rows than the cells)
    daily = cells.groupby(["day", dimension], sort=False)[list(mv.SUM_COLUMNS)].sum()
    daily = daily.reset_index()
    out = []
    for key in values.columns:
        points = [
            ComponentPoint(*row)
            for row in zip(
                shown,
                _floats(values[key].loc[shown]),
                _floats(score[key].loc[shown]),
                _ints(wide["n_r"][key].loc[shown]),
                strict=True,
            )
        ]
        first, last = _first_last([p.value for p in points])
        change_p = _component_p_value(daily[daily[dimension] == key], points)
        share = float(wide["wn_r"].at[shown[-1], key]) / last_total if last_total else 0.0
        nl, en = labels.get(key, (key, key))
        out.append(
            ComponentSeries(
                dimension=dimension,
                key=str(key),
                label_nl=nl,
                label_en=en,
                share=round(share, 4),
                current=points[-1].value,
                change=_diff(last, first),
                n=int(wide["n"].loc[shown, key].sum()),
                points=points,
                change_p=change_p,
            )
        )
    return sorted(out, key=lambda c: (-c.share, -c.n, c.key))


def _component_p_value(cells: pd.DataFrame, points: Sequence[ComponentPoint]) -> float | None:
    """p-value of a component's change (its first valued window against its last), from
    the component's own cells: the same test as the index's ``change_period_p``."""
    valued = [p.day for p in points if p.value is not None]
    if len(valued) < 2:
        return None
    span = timedelta(days=SMOOTHING_DAYS - 1)
    first, last = valued[0], valued[-1]
    p = _window_p_value(cells, (first - span, first), (last - span, last))
    return None if p is None else round(p, 4)


def _labels(journey: JourneyConfig) -> dict[str, dict[str, tuple[str, str]]]:
    unknown = CHANNEL_LABELS[UNKNOWN]
    return {
        "touchpoint": {
            UNKNOWN: unknown,
            **{tp.id: (tp.name_nl, tp.name_en) for tp in journey.touchpoints},
        },
        "owner": {
            UNKNOWN: unknown,
            **{o.id: (o.label("nl"), o.label("en")) for o in journey.owners},
        },
        "channel": dict(CHANNEL_LABELS),
    }


# -- public functions -----------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    """The resolved days of one index computation."""

    since: date
    until: date
    base: tuple[date, date]
    mover_window: int

    @property
    def spans(self) -> list[tuple[date, date]]:
        prev, _ = mv.windows(self.until, self.mover_window)
        first = min(self.since - timedelta(days=SMOOTHING_DAYS - 1), prev[0])
        return [(first, self.until), self.base]


@dataclass(frozen=True)
class _Call:
    """The arguments of one index or movers computation (see :func:`cx_index`)."""

    scope: Scope
    days: int
    base: tuple[date, date] | None
    mover_window: int
    mover_limit: int = 5
    with_movers: bool = True
    min_answers: int = 1


def _plan(span: tuple[date, date], call: _Call) -> _Plan:
    """The days shown: the scope's window (its named period, else ``days``) ending at its
    last day (default the last day with answers), never before the first answer day."""
    scope = call.scope
    end = scope.last_day(span[1]) or span[1]
    if scope.since is not None:
        start = scope.since
    else:
        days = scope.window_days or max(call.days, 1)
        first = span[0] if scope.period == "all" else end - timedelta(days=days - 1)
        start = max(first, min(span[0], end))
    if start > end:
        raise ValueError(f"since {start} is after until {end}")
    default_base = (span[0], span[0] + timedelta(days=BASE_DAYS - 1))
    return _Plan(
        since=start, until=end, base=call.base or default_base, mover_window=call.mover_window
    )


def _empty_result(call: _Call) -> IndexResult:
    return IndexResult(
        since=call.scope.since,
        until=call.scope.until,
        base=call.base,
        base_score=None,
        smoothing_days=SMOOTHING_DAYS,
        series=[],
        current=None,
        change_today=None,
        change_period=None,
        n_answers=0,
        components={d: [] for d in DIMENSIONS},
        movers=None,
        filters=call.scope.to_dict(),
    )


def _prepare(
    events: ibis.Table,
    journey: JourneyConfig,
    call: _Call,
    hit: tuple[Any, ic.StoreCache] | None,
) -> tuple[_Plan, pd.DataFrame, float | None] | None:
    """Resolve the days and fetch the cells; None when no answer matches the filters.

    On the fast path (raw all-history cells, see ``index_cache``) the filters, span and
    spans are cut from that frame instead of queried, when the cells can apply them."""
    wanted = _cell_filters(call.scope)
    all_cells = ic.all_cells(hit, journey.timezone, wanted) if wanted is not None else None
    if all_cells is not None and wanted is not None:
        return _from_cells(all_cells, journey, call, wanted)
    answers = _answers(events, journey, call.scope)
    span = _day_span(answers, journey.timezone)
    if span is None:
        return None
    plan = _plan(span, call)
    cells = _daily_cells(answers, plan.spans, journey)
    return plan, cells, _base_score(cells, plan.base)


def _from_cells(
    all_cells: pd.DataFrame, journey: JourneyConfig, call: _Call, wanted: Mapping[str, list[Any]]
) -> tuple[_Plan, pd.DataFrame, float | None] | None:
    cells = all_cells
    for key, values in wanted.items():
        cells = cells[cells[key].isin(values)]  # NULL matches no value, as in the engine
    if cells.empty:
        return None
    plan = _plan((min(cells["day"]), max(cells["day"])), call)
    inside = pd.Series(False, index=cells.index)
    for lo, hi in plan.spans:
        inside |= (cells["day"] >= lo) & (cells["day"] <= hi)
    weighted = _weighted(cells[inside].reset_index(drop=True), journey)
    return plan, weighted, _base_score(weighted, plan.base)


def cx_index(
    events: ibis.Table,
    journey: JourneyConfig,
    *,
    until: date | None = None,
    days: int = 90,
    base: tuple[date, date] | None = None,
    filters: Scope | Mapping[str, Any] | None = None,
    mover_window: int = 7,
    mover_limit: int = 5,
    with_movers: bool = True,
    fast: bool = True,
    cache: ic.StoreCache | None = None,
    min_answers: int = 1,
) -> IndexResult:
    """The CX index per day over ``days`` days ending ``until`` (default: the last day with
    answers; the scope's ``until``/``as_of`` when set), with per-touchpoint/owner/channel series and the movers of the last
    ``mover_window`` days versus the ``mover_window`` before.

    ``base`` is the base period (first, last day inclusive); default: the first 28 days with
    answers (under the dimension filters). ``filters``: a Scope or its parameters (see the
    module docstring); its ``period`` or ``since`` overrides ``days``, its ``until`` the
    default end (ValueError when since > until).
    ``min_answers``: a day whose smoothing window holds fewer answers gets no value (a gap);
    the period's first value is then the first day with enough answers.
    ``with_movers=False`` skips the movers and their driver queries (most of the engine
    time on a large store); ``movers`` is then None.
    ``fast`` (default) uses :mod:`klantreis.analytics.index_cache` on DuckDB stores (cells and
    results, kept and incrementally refreshed in ``cache``, the App's ``app.index_cache()``;
    the same numbers); ``fast=False`` forces the portable engine queries (the reference the
    fast path is tested against).
    Never raises on an empty store or filters matching nothing: the result then has
    ``empty`` True and no series.

    >>> from klantreis.app import open_app
    >>> app = open_app(":memory:")
    >>> cx_index(app.events_table(), app.journey).to_dict()["empty"]
    True
    >>> app.close()
    """
    scope = as_scope(filters)
    call = _Call(
        scope=replace(scope, as_of=until) if until else scope,
        days=days,
        base=base,
        mover_window=mover_window,
        mover_limit=mover_limit,
        with_movers=with_movers,
        min_answers=max(1, min_answers),
    )
    return ic.cached_call(
        events,
        journey,
        fast,
        ("cx_index", call),
        lambda hit: _cx_index(events, journey, call, hit),
        cache,
    )


def _cx_index(
    events: ibis.Table, journey: JourneyConfig, call: _Call, hit: tuple[Any, ic.StoreCache] | None
) -> IndexResult:
    prepared = _prepare(events, journey, call, hit)
    if prepared is None:
        return _empty_result(call)
    plan, cells, base_score = prepared
    days_all = _days(plan.spans[0][0], plan.until)
    shown = _days(plan.since, plan.until)
    series = _total_series(cells, days_all, shown, base_score, call.min_answers)
    first, current = _first_last([p.value for p in series])
    labels = _labels(journey)
    components = {
        d: _components(cells, d, days_all, shown, base_score, labels[d]) for d in DIMENSIONS
    }
    yesterday = series[-2].value if len(series) > 1 else None
    movers = (
        _movers(events, journey, cells, plan, base_score, call, hit) if call.with_movers else None
    )
    return IndexResult(
        since=plan.since,
        until=plan.until,
        base=plan.base,
        base_score=_opt(base_score),
        smoothing_days=SMOOTHING_DAYS,
        series=series,
        current=series[-1].value,
        change_today=_diff(series[-1].value, yesterday),
        change_period=_diff(current, first),
        n_answers=sum(p.n for p in series),
        components=components,
        movers=movers,
        filters=call.scope.to_dict(),
        min_answers=call.min_answers,
        **_change_tests(cells.groupby("day")[list(mv.SUM_COLUMNS)].sum().reset_index(), series),
    )


def _change_tests(cells: pd.DataFrame, series: list[IndexPoint]) -> dict[str, float | None]:
    """p-values of ``change_today`` and ``change_period`` (see :class:`IndexResult`)."""
    valued = [p.day for p in series if p.value is not None]
    today = None
    if len(series) > 1 and series[-1].value is not None and series[-2].value is not None:
        entered = series[-1].day
        left = entered - timedelta(days=SMOOTHING_DAYS)
        today = _window_p_value(cells, (left, left), (entered, entered))
    period = None
    if len(valued) > 1 and series[-1].value is not None:
        span = timedelta(days=SMOOTHING_DAYS - 1)
        first, last = valued[0], series[-1].day
        period = _window_p_value(cells, (first - span, first), (last - span, last))
    return {
        "change_today_p": None if today is None else round(today, 4),
        "change_period_p": None if period is None else round(period, 4),
    }


def index_movers(
    events: ibis.Table,
    journey: JourneyConfig,
    *,
    until: date | None = None,
    window: int = 7,
    base: tuple[date, date] | None = None,
    filters: Scope | Mapping[str, Any] | None = None,
    limit: int = 5,
    fast: bool = True,
    cache: ic.StoreCache | None = None,
) -> MoversResult | None:
    """The movers alone: the last ``window`` days (ending ``until``) versus the ``window``
    days before. None when no answer matches the filters. ``fast``, ``cache``: see
    :func:`cx_index`."""
    scope = as_scope(filters)
    call = _Call(
        scope=replace(scope, as_of=until, period=None) if until else replace(scope, period=None),
        days=1,
        base=base,
        mover_window=window,
        mover_limit=limit,
    )
    return ic.cached_call(
        events,
        journey,
        fast,
        ("index_movers", call),
        lambda hit: _index_movers(events, journey, call, hit),
        cache,
    )


def _index_movers(
    events: ibis.Table, journey: JourneyConfig, call: _Call, hit: tuple[Any, ic.StoreCache] | None
) -> MoversResult | None:
    prepared = _prepare(events, journey, call, hit)
    if prepared is None:
        return None
    plan, cells, base_score = prepared
    return _movers(events, journey, cells, plan, base_score, call, hit)


def _movers(
    events: ibis.Table,
    journey: JourneyConfig,
    cells: pd.DataFrame,
    plan: _Plan,
    base_score: float | None,
    call: _Call,
    hit: tuple[Any, ic.StoreCache] | None = None,
) -> MoversResult:
    prev, cur = mv.windows(plan.until, plan.mover_window)
    before, after = _window_index(cells, prev, base_score), _window_index(cells, cur, base_score)
    by_dim: dict[str, list[Mover]] = {d: [] for d in DIMENSIONS}
    if before is not None and after is not None and base_score:
        parts = {d: mv.decompose(cells, [d], prev, cur, base_score) for d in DIMENSIONS}
        pairs = mv.decompose(cells, ["owner", "touchpoint"], prev, cur, base_score)
        owner_deltas = {str(k): float(v) for k, v in parts["owner"]["delta"].items()}
        owners = [o for o in call.scope.owners if o is not None] or None
        ctx = mv.MoverContext(
            journey=journey,
            facts=ic.facts(events, journey, prev, cur, owners, hit),
            owner_touchpoints=mv.owner_touchpoints(pairs, owner_deltas),
        )
        by_dim = {
            d: [mv.make_mover(ctx, d, str(key), row) for key, row in parts[d].iterrows()]
            for d in DIMENSIONS
        }
    total = _diff(after, before)
    p = _window_p_value(cells, prev, cur)
    return MoversResult(
        window_days=plan.mover_window,
        current=cur,
        previous=prev,
        index_before=before,
        index_after=after,
        total_change=total,
        p_value=None if p is None else round(p, 4),
        significant=p is not None and p < mv.ALPHA,
        by_dimension=by_dim,
        top=by_dim["touchpoint"][: call.mover_limit],
    )


def _window_index(
    cells: pd.DataFrame, span: tuple[date, date], base_score: float | None
) -> float | None:
    score = _base_score(cells, span)
    return _opt(100.0 * score / base_score) if score is not None and base_score else None


def _window_p_value(
    cells: pd.DataFrame, prev: tuple[date, date], cur: tuple[date, date]
) -> float | None:
    """z-test of the composite score of ``cur`` against ``prev``."""
    sums = [
        cells[(cells["day"] >= a) & (cells["day"] <= b)][list(mv.SUM_COLUMNS)].sum()
        for a, b in (prev, cur)
    ]
    if min(float(s["wn"]) for s in sums) <= 0:
        return None
    frame = pd.DataFrame(sums)
    se = mv.standard_error(frame)
    score = frame["wp"] / frame["wn"]
    return mv.p_value(float(score.iloc[1] - score.iloc[0]), float(se.iloc[0]), float(se.iloc[1]))
