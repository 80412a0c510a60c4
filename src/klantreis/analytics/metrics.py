"""Scores per group (NPS, CES, CSAT, stars), period-over-period changes, the NPS x CES matrix
and contacts per 100 journeys, over an Ibis event table on any engine (DuckDB, Spark).

The split of work keeps both engines exact and fast: the engine reduces the answers of each
group to a few sums (:func:`summarize`: n, sum, sum of squares, promoters, detractors, top-2
boxes); :mod:`klantreis.analytics.stats` turns those small results into values, intervals and
tests in Python. Sums of integer scores are exact in any order, so DuckDB and Spark agree.

Group keys (``by``): ``period`` (with ``period`` = day/week/month in the journey's time zone,
see :mod:`klantreis.analytics.periods`), ``touchpoint``, ``stage`` (from the journey config's
touchpoint -> stage mapping), ``channel``, ``owner``, ``kind``, ``lang``, ``source``, or an
attribute ``attrs.<key>`` (its value as text). ``filters`` is a
:class:`klantreis.analytics.scope.Scope` (or its parameters, e.g. ``{"channel": "email"}``):
its filters and its window (local days) select the answers, as on every page.

Answers are the events with a ``metric`` and a ``score`` (``survey.response``, but also e.g.
``review.posted`` with stars), whatever their kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from klantreis.analytics import stats
from klantreis.analytics.answer_context import CONTEXT_KEYS, with_journey_context
from klantreis.analytics.backend import json_text
from klantreis.analytics.periods import (
    next_period_start,
    period_starts,
    previous_period_start,
    time_span,
    utc_bound,
    with_period_key,
)
from klantreis.analytics.scope import Scope, as_scope, predicates, stage_expr
from klantreis.model.journey import JourneyConfig

__all__ = [
    "COLUMN_KEYS",
    "SUMMARY_FIELDS",
    "answers",
    "contacts_per_100_journeys",
    "group_keys",
    "nps_ces_matrix",
    "period_change",
    "score_table",
    "select_events",
    "summarize",
    "summarize_cells",
    "summary_expr",
]

#: Event columns usable directly as group keys and filters.
COLUMN_KEYS = ("touchpoint", "channel", "owner", "kind", "lang", "source", "metric")
SUMMARY_FIELDS = ("n", "total", "total_sq", "promoters", "detractors", "top2")
DEFAULT_ZONE = "Europe/Amsterdam"

Filters = Scope | Mapping[str, Any]


# -- expressions ----------------------------------------------------------------------------
def _zone(journey: JourneyConfig | None, timezone: str | None) -> str:
    return timezone or (journey.timezone if journey else DEFAULT_ZONE)


def key_expr(
    events: ir.Table,
    key: str,
    journey: JourneyConfig | None = None,
    period: str | None = None,
    timezone: str | None = None,
) -> ir.Value:
    """The Ibis expression for one group key or filter key."""
    if key == "period":
        if period is None or "_period" not in events.columns:
            raise ValueError(
                "grouping by 'period' needs period='day', 'week' or 'month'"
                " (and a table from with_period_key)"
            )
        return events["_period"]
    if key == "stage":
        return stage_expr(events, journey)
    if key.startswith("attrs."):
        return json_text(events, key.removeprefix("attrs."))
    if key in COLUMN_KEYS:
        return events[key]
    raise ValueError(
        f"cannot group by {key!r}; use period, stage, attrs.<key> or one of "
        f"{', '.join(COLUMN_KEYS)}"
    )


def _with_period(
    t: ir.Table,
    period: str | None,
    journey: JourneyConfig | None,
    timezone: str | None,
    events: ir.Table | None = None,
) -> ir.Table:
    """``t`` with the ``_period`` key; the offset tree covers the time span of ``events``
    (the unfiltered table, whose span DuckDB knows from statistics)."""
    if not period:
        return t
    span = time_span(events if events is not None else t)
    return with_period_key(t, period, _zone(journey, timezone), span=span)


def group_keys(by: Sequence[str], period: str | None) -> list[str]:
    """``by`` with ``period`` first when a period is asked for (no duplicates)."""
    keys = [k for k in by if k not in ("period", "metric")]  # metric is always a key
    return (["period"] if period or "period" in by else []) + keys


def select_events(
    events: ir.Table,
    filters: Filters | None = None,
    since: Any = None,
    until: Any = None,
    journey: JourneyConfig | None = None,
    timezone: str | None = None,
) -> ir.Table:
    """Apply the scope ``filters`` (its filters and window) and the extra time bounds
    ``since`` (inclusive) and ``until`` (exclusive)."""
    zone = _zone(journey, timezone)
    preds = predicates(events, events, as_scope(filters), journey, zone)
    lo, hi = utc_bound(since, zone), utc_bound(until, zone)
    if lo is not None:
        preds.append(events.occurred_at >= lo)
    if hi is not None:
        preds.append(events.occurred_at < hi)
    return events.filter(*preds) if preds else events


def answers(events: ir.Table, metrics: Sequence[str]) -> ir.Table:
    """The feedback answers (events with a score) that may belong to ``metrics``.

    One metric is filtered in the engine (``metric = 'nps'``, cheap). For several, the engine
    only drops events without a score and groups by metric; the caller drops the other
    metrics' rows (measured on DuckDB: a string ``IN`` filter cost more than the extra groups).
    """
    unknown = [m for m in metrics if m not in stats.METRICS]
    if unknown or not metrics:
        raise ValueError(f"unknown metric(s) {unknown}; use {', '.join(stats.METRICS)}")
    answered = events.filter(events.score.notnull())
    if len(metrics) == 1:
        return answered.filter(answered.metric == metrics[0])
    return answered


# -- engine aggregation ---------------------------------------------------------------------
def summary_expr(
    events: ir.Table,
    metrics: Sequence[str] | str,
    by: Sequence[str] = (),
    period: str | None = None,
    filters: Filters | None = None,
    journey: JourneyConfig | None = None,
    since: Any = None,
    until: Any = None,
    timezone: str | None = None,
    journey_context: bool = False,
    weight: str | None = None,
) -> ir.Table:
    """The Ibis expression behind :func:`summarize` (for inspection and ``ibis.to_sql``).

    ``weight``: a column of counts, each row standing for that many answers with its score
    (the score cells of :mod:`klantreis.analytics.derived_scores`); sums come out the same.

    With ``journey_context`` and grouped by owner, touchpoint or stage, an answer without
    them takes its journey's (:mod:`klantreis.analytics.answer_context`): review answers
    linked only by their order number are broken down by the order's carrier.

    With a ``period`` it runs one small query first: the time span of ``events``.
    """
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    t = answers(select_events(events, filters, since, until, journey, timezone), metrics)
    if journey_context and any(k in CONTEXT_KEYS for k in by):
        t = with_journey_context(t, events)
    t = _with_period(t, period, journey, timezone, events)
    exprs = {k: key_expr(t, k, journey, period, timezone) for k in group_keys(by, period)}
    s = t.score
    if weight is None:
        return t.group_by(metric=t.metric, **exprs).aggregate(
            n=s.count(),
            total=s.sum(),
            total_sq=(s * s).sum(),
            promoters=ibis.ifelse(s >= stats.PROMOTER_MIN, 1, 0).sum(),
            detractors=ibis.ifelse(s <= stats.DETRACTOR_MAX, 1, 0).sum(),
            top2=ibis.ifelse(s >= stats.TOP2_MIN, 1, 0).sum(),
        )
    w = t[weight]
    return t.group_by(metric=t.metric, **exprs).aggregate(
        n=w.sum(),
        total=(s * w).sum(),
        total_sq=(s * s * w).sum(),
        promoters=ibis.ifelse(s >= stats.PROMOTER_MIN, w, 0).sum(),
        detractors=ibis.ifelse(s <= stats.DETRACTOR_MAX, w, 0).sum(),
        top2=ibis.ifelse(s >= stats.TOP2_MIN, w, 0).sum(),
    )


def summarize(
    events: ir.Table,
    metrics: Sequence[str] | str,
    by: Sequence[str] = (),
    period: str | None = None,
    filters: Filters | None = None,
    journey: JourneyConfig | None = None,
    since: Any = None,
    until: Any = None,
    timezone: str | None = None,
    journey_context: bool = False,
    weight: str | None = None,
) -> pd.DataFrame:
    """Sufficient statistics per (metric, group): one engine query, a small pandas result.

    Columns: ``metric``, the group keys, then ``n, total, total_sq, promoters, detractors,
    top2``; sorted by metric and keys.
    """
    wanted = [metrics] if isinstance(metrics, str) else list(metrics)
    if isinstance(events, pd.DataFrame):  # score cells in memory (derived_scores.frame)
        return summarize_cells(events, wanted, by, period, filters, journey, since, until, timezone)
    expr = summary_expr(
        events,
        wanted,
        by,
        period,
        filters,
        journey,
        since,
        until,
        timezone,
        journey_context,
        weight,
    )
    df = expr.to_pandas()
    df = df[df["metric"].isin(wanted)]
    return _tidy(df, ["metric", *group_keys(by, period)], period)


def _matches(values: pd.Series, wanted: Sequence[Any]) -> np.ndarray:
    """As ``scope._match``: one of the present values, or missing when None is wanted."""
    present = [v for v in wanted if v is not None]
    hit = np.asarray(values.isin(present).to_numpy(dtype=bool))
    return (hit | values.isna().to_numpy(dtype=bool)) if None in wanted else hit


def summarize_cells(
    cells: pd.DataFrame,
    metrics: Sequence[str],
    by: Sequence[str] = (),
    period: str | None = None,
    filters: Filters | None = None,
    journey: JourneyConfig | None = None,
    since: Any = None,
    until: Any = None,
    timezone: str | None = None,
) -> pd.DataFrame:
    """:func:`summarize` over score cells in memory (``derived_scores.ScoreCells.frame``:
    ``occurred_at, day_number, metric, touchpoint, owner, channel, segment`` and either
    ``score, w`` or the six sums of SUMMARY_FIELDS, the score already summed out), for
    scopes the cells answer (``derived_scores.supports``) and windows of whole local days;
    the same rows and types as the engine query."""
    zone = _zone(journey, timezone)
    scope = as_scope(filters)
    reduced = "n" in cells.columns  # the six sums already there (ScoreCells.frame)
    answered = np.ones(len(cells), dtype=bool) if reduced else cells["score"].notna().to_numpy()
    df = cells[answered & cells["metric"].isin(list(metrics)).to_numpy()]
    mask = np.ones(len(df), dtype=bool)
    for col, wanted in scope.columns().items():
        mask &= _matches(df[col], wanted)
    stage_of = journey.stage_of_touchpoint() if journey else {}
    stages = df["touchpoint"].map(stage_of) if stage_of else pd.Series(None, index=df.index)
    if scope.stages:
        mask &= _matches(stages, scope.stages)
    bounds = [*scope.bounds(zone), utc_bound(since, zone), utc_bound(until, zone)]
    for i, bound in enumerate(bounds):
        if bound is not None:
            at = df["occurred_at"]
            mask &= (at >= bound if i % 2 == 0 else at < bound).to_numpy(dtype=bool)
    df = df[mask]
    keys = group_keys(by, period)
    columns: dict[str, Any] = {}
    for key in keys:
        if key == "period":
            day = df["day_number"]
            columns[key] = day - (day + 3) % 7 if period == "week" else day
        elif key == "stage":
            columns[key] = stages[mask] if len(df) else stages.iloc[0:0]
        elif key == "attrs.segment":
            columns[key] = df["segment"]
        elif key in COLUMN_KEYS and key in df.columns:
            columns[key] = df[key]
        else:
            raise ValueError(f"score cells cannot group by {key!r}")
    parts = pd.DataFrame({"metric": df["metric"], **columns, **_cell_sums(df, reduced)})
    out = parts.groupby(["metric", *keys], dropna=False, sort=False)[list(SUMMARY_FIELDS)].sum()
    return _tidy(out.reset_index(), ["metric", *keys], period)


def _cell_sums(df: pd.DataFrame, reduced: bool) -> dict[str, pd.Series]:
    """The six sums of each cell: taken as they are from reduced cells, else from its
    ``score`` and answer count ``w``."""
    if reduced:
        return {f: df[f] for f in SUMMARY_FIELDS}
    s, w = df["score"].astype(float), df["w"].astype("int64")
    return {
        "n": w,
        "total": s * w,
        "total_sq": s * s * w,
        "promoters": w.where(s >= stats.PROMOTER_MIN, 0),
        "detractors": w.where(s <= stats.DETRACTOR_MAX, 0),
        "top2": w.where(s >= stats.TOP2_MIN, 0),
    }


def _tidy(df: pd.DataFrame, keys: list[str], period: str | None = None) -> pd.DataFrame:
    """Same types on every engine: dates for periods, None for missing keys, int counts.

    Period keys (day numbers) become start dates; rows of the same period (the days of a
    month) are summed.
    """
    df = df.copy()
    counts = [
        c
        for c in ("n", "promoters", "detractors", "top2", "contacts", "journeys")
        if c in df.columns
    ]
    for name in counts:
        df[name] = df[name].fillna(0).astype("int64")
    for name in ("total", "total_sq"):
        if name in df.columns:
            df[name] = df[name].astype("float64")
    if "period" in keys and period is not None:
        df["period"] = period_starts(df["period"], period)
    for key in keys:
        df[key] = df[key].astype(object).where(df[key].notna(), None)
    if period == "month" and len(df):
        values = [c for c in df.columns if c not in keys]
        df = df.groupby(keys, dropna=False, sort=False)[values].sum().reset_index()
        for key in keys:
            df[key] = df[key].astype(object).where(df[key].notna(), None)
    return df.sort_values(keys, na_position="last", kind="stable").reset_index(drop=True)


def _summary_arrays(df: pd.DataFrame, suffix: str = "") -> dict[str, np.ndarray]:
    return {f: df[f + suffix].to_numpy(dtype=float) for f in SUMMARY_FIELDS}


# -- reports --------------------------------------------------------------------------------
def score_table(
    events: ir.Table,
    metric: str | Sequence[str],
    by: Sequence[str] = (),
    period: str | None = None,
    filters: Filters | None = None,
    journey: JourneyConfig | None = None,
    min_answers: int | None = None,
    confidence: float = 0.95,
    since: Any = None,
    until: Any = None,
    timezone: str | None = None,
    journey_context: bool = False,
    weight: str | None = None,
) -> pd.DataFrame:
    """Scores per group: ``metric``, group keys, ``n, value, ci_low, ci_high, std_error,
    too_few``. ``value`` and the interval are NaN when ``too_few`` (n < ``min_answers``,
    default the journey's ``min_answers`` or 30). Scales: see :mod:`klantreis.analytics.stats`.
    ``journey_context``: answers without owner/touchpoint take their journey's (see
    :func:`summary_expr`).
    """
    minimum = _min_answers(journey, min_answers)
    summ = summarize(
        events,
        metric,
        by,
        period,
        filters,
        journey,
        since,
        until,
        timezone,
        journey_context,
        weight,
    )
    keys = ["metric", *group_keys(by, period)]
    out = summ[[*keys, "n"]].copy()
    for col in ("value", "ci_low", "ci_high", "std_error"):
        out[col] = np.nan
    out["too_few"] = True
    for m in out["metric"].unique():
        rows = (summ["metric"] == m).to_numpy()
        est = stats.estimate_arrays(m, _summary_arrays(summ[rows]), confidence, minimum)
        for col in ("value", "ci_low", "ci_high", "std_error", "too_few"):
            out.loc[rows, col] = est[col]
    out["too_few"] = out["too_few"].astype(bool)
    return out


def _min_answers(journey: JourneyConfig | None, min_answers: int | None) -> int:
    if min_answers is not None:
        return min_answers
    return journey.min_answers if journey else 30


def period_change(
    events: ir.Table,
    metric: str,
    period: str = "week",
    by: Sequence[str] = (),
    filters: Filters | None = None,
    journey: JourneyConfig | None = None,
    min_answers: int | None = None,
    alpha: float = 0.05,
    since: Any = None,
    until: Any = None,
    latest: bool = False,
    timezone: str | None = None,
) -> pd.DataFrame:
    """Each period versus the one before it, per group, with the metric's test.

    Columns: ``metric``, keys (``period`` first), ``previous_period, n_previous, n,
    value_previous, value, diff, ci_low, ci_high, p_value, significant, too_few, test``;
    ``diff`` = value - value_previous and its CI at 1 - ``alpha``. A period without answers
    in the period before has ``n_previous`` 0 (too few). ``latest=True`` keeps only the last
    period of each group.
    """
    summ = summarize(events, metric, by, period, filters, journey, since, until, timezone)
    keys = group_keys(by, period)
    others = [k for k in keys if k != "period"]
    prev = summ.copy()
    prev["period"] = next_period_start(prev["period"], period) if len(prev) else prev["period"]
    cur = summ.merge(prev, on=["metric", *keys], how="left", suffixes=("", "_prev"))
    for f in SUMMARY_FIELDS:
        cur[f + "_prev"] = cur[f + "_prev"].fillna(0)
    res = stats.compare_arrays(
        metric,
        _summary_arrays(cur, "_prev"),
        _summary_arrays(cur),
        alpha,
        _min_answers(journey, min_answers),
    )
    out = cur[["metric", *keys]].copy()
    out["previous_period"] = previous_period_start(out["period"], period)
    out["n_previous"] = cur["n_prev"].astype("int64")
    out["n"] = cur["n"].astype("int64")
    out["value_previous"], out["value"] = res["value_a"], res["value_b"]
    for col in ("diff", "ci_low", "ci_high", "p_value", "significant", "too_few"):
        out[col] = res[col]
    out["test"] = stats.test_name(metric)
    if latest and len(out):
        last = (
            out.groupby(others, dropna=False)["period"].transform("max")
            if others
            else (out["period"].max())
        )
        out = out[out["period"] == last].reset_index(drop=True)
    return out


def nps_ces_matrix(
    events: ir.Table,
    journey: JourneyConfig,
    min_answers: int | None = None,
    confidence: float = 0.95,
    filters: Filters | None = None,
    since: Any = None,
    until: Any = None,
    weight: str | None = None,
) -> pd.DataFrame:
    """Per touchpoint: NPS and CES side by side, each with its own n and interval.

    A survey's NPS and CES answers are separate events, so the matrix is not a cross-tab of
    answers: each touchpoint is one point (x = CES, effort; y = NPS, loyalty). Rows follow the
    journey's touchpoints (also those without answers), then any other touchpoints seen.
    Columns: ``touchpoint, stage, nps_n, nps, nps_ci_low, nps_ci_high, nps_too_few`` and the
    same for ``ces``.
    """
    table = score_table(
        events,
        ["nps", "ces"],
        by=["touchpoint"],
        filters=filters,
        journey=journey,
        min_answers=min_answers,
        confidence=confidence,
        since=since,
        until=until,
        weight=weight,
    )
    known = [tp.id for tp in journey.touchpoints]
    seen = [tp for tp in table["touchpoint"].dropna().unique() if tp not in known]
    out = pd.DataFrame({"touchpoint": known + sorted(seen)})
    out["stage"] = out["touchpoint"].map(journey.stage_of_touchpoint())
    for m in ("nps", "ces"):
        part = table[table["metric"] == m].set_index("touchpoint")
        out[f"{m}_n"] = out["touchpoint"].map(part["n"]).fillna(0).astype("int64")
        out[m] = out["touchpoint"].map(part["value"])
        out[f"{m}_ci_low"] = out["touchpoint"].map(part["ci_low"])
        out[f"{m}_ci_high"] = out["touchpoint"].map(part["ci_high"])
        out[f"{m}_too_few"] = out["touchpoint"].map(part["too_few"]).fillna(True).astype(bool)
    return out


def contacts_per_100_journeys(
    events: ir.Table,
    journey: JourneyConfig,
    by: Sequence[str] = (),
    period: str | None = None,
    filters: Filters | None = None,
    confidence: float = 0.95,
    since: Any = None,
    until: Any = None,
    contact_kind: str = "contact.inbound",
) -> pd.DataFrame:
    """Inbound contacts per 100 journeys, with an exact (Poisson) interval.

    Journeys = distinct ``journey_id`` with a ``journey.journey_start`` event (e.g.
    ``order.placed``), counted in the period the journey started; contacts are counted in the
    period they happened. Keys other than ``period`` (channel, owner, ...) split the contacts
    only: the denominator is all journeys of the period (or of the whole range).
    Columns: keys, ``contacts, journeys, per_100, ci_low, ci_high``.
    """
    keys = group_keys(by, period)
    scope = as_scope(filters)
    t = select_events(events, scope, since=since, until=until, journey=journey)
    contacts = t.filter(t.kind == contact_kind)
    contacts = _with_period(contacts, period if "period" in keys else None, journey, None, events)
    cexprs = {k: key_expr(contacts, k, journey, period) for k in keys}
    num = _tidy(
        contacts.group_by(**cexprs).aggregate(contacts=contacts.count()).to_pandas()
        if keys
        else pd.DataFrame({"contacts": [contacts.count().to_pyarrow().as_py()]}),
        keys,
        period if "period" in keys else None,
    )
    window = Scope(since=scope.since, until=scope.until, as_of=scope.as_of, period=scope.period)
    starts = select_events(events, window, since=since, until=until, journey=journey)
    starts = starts.filter(starts.kind == journey.journey_start, starts.journey_id.notnull())
    den = _journey_counts(starts, journey, period if "period" in keys else None)
    merged = (
        num.merge(den, on=["period"], how="left")
        if "period" in keys
        else num.assign(journeys=int(den["journeys"].iloc[0]))
    )
    merged["journeys"] = merged["journeys"].fillna(0).astype("int64")
    rate = stats.poisson_rate_arrays(merged["contacts"], merged["journeys"], confidence, 100.0)
    merged["per_100"], merged["ci_low"], merged["ci_high"] = rate.value, rate.ci_low, rate.ci_high
    return merged[[*keys, "contacts", "journeys", "per_100", "ci_low", "ci_high"]]


def _journey_counts(starts: ir.Table, journey: JourneyConfig, period: str | None) -> pd.DataFrame:
    if period is None:
        n = starts.journey_id.nunique().to_pyarrow().as_py()
        return pd.DataFrame({"journeys": [int(n or 0)]})
    first = starts.group_by("journey_id").aggregate(occurred_at=starts.occurred_at.min())
    first = _with_period(first, period, journey, None, starts)
    expr = key_expr(first, "period", journey, period)
    df = first.group_by(period=expr).aggregate(journeys=first.count()).to_pandas()
    return _tidy(df, ["period"], period)
