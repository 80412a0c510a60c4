"""Score pages (``/scores``): NPS, CES and CSAT over time with confidence bands, breakdowns
by touchpoint, stage, channel, owner and segment with the change against the previous period
of the same length (marked when significant, with the test and p-value), and the NPS x CES
matrix per touchpoint. Every number follows the filters (period, channel, segment).

The numbers come from :mod:`klantreis.analytics.metrics` (sums per group in the engine) and
:mod:`klantreis.analytics.stats` (values, intervals, tests).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from fastapi import APIRouter

from klantreis.analytics import metrics, stats
from klantreis.web import charts
from klantreis.web.pagekit import Filters, NavItem, PageContext, PageSpec, register_page
from klantreis.web.pages.options import filter_options, newest_answer_day, score_cells, shared
from klantreis.wording import test_label

router = APIRouter()
NAV = NavItem("/scores", "nav.scores", order=20)

METRICS = ("nps", "ces", "csat")
DIMENSIONS = {
    "touchpoint": "touchpoint",
    "stage": "stage",
    "channel": "channel",
    "owner": "owner",
    "segment": "attrs.segment",
}
GRAIN = {"7d": "day", "30d": "day", "90d": "week", "365d": "month", "all": "month"}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in row.items()} for row in df.to_dict("records")]


class _Query:
    """The events, journey and scope shared by all numbers of one page view: the window is
    the scope's local days (the same days as the index page), ``since``/``until`` their UTC
    bounds (``until`` exclusive)."""

    def __init__(self, ctx: PageContext, params: Filters) -> None:
        self.ctx = ctx
        self.journey = ctx.app.journey
        self.scope = params.scope(newest_answer_day(ctx))
        self.filters = self.scope.without_window()
        self.since, self.until = self.scope.bounds(self.journey.timezone)
        cells = score_cells(ctx, self.scope)
        # the kept score cells of both periods in memory when they answer the scope (one
        # read), else the event log itself
        self.events = ctx.events() if cells is None else cells.frame(self.previous()[0])
        self.weight = None
        self.min_answers = ctx.app.defaults.min_answers
        self.confidence = ctx.app.defaults.confidence

    def previous(self) -> tuple[datetime | None, datetime | None]:
        """UTC bounds of the same number of days just before (None, None for ``all``)."""
        before = self.scope.previous()
        return (None, None) if before is None else before.bounds(self.journey.timezone)

    def previous_coverage(self) -> dict[str, Any] | None:
        """The previous period's length in days and how many of them hold answers (None for
        ``all``, which has no previous period): a comparison with a period that holds only
        part of its days is flagged on the page ("vorige periode: 29 van 30 dagen")."""
        before = self.scope.previous()
        if before is None:
            return None
        first, last = before.days()
        assert first is not None and last is not None
        since, until = before.bounds(self.journey.timezone)
        per_day = self.summarize([], since, until, period="day")
        with_data = int(per_day["period"].nunique()) if not per_day.empty else 0
        days = (last - first).days + 1
        return {
            "first_day": first,
            "last_day": last,
            "days": days,
            "days_with_data": with_data,
            "partial": with_data < days,
        }

    def window(self) -> dict[str, Any]:
        """The first and last local day of the window (inclusive; first None for ``all``)."""
        first, last = self.scope.days()
        return {"first_day": first, "last_day": last}

    def summarize(
        self, by: list[str], since: Any, until: Any, period: str | None = None
    ) -> pd.DataFrame:
        return metrics.summarize(
            self.events,
            list(METRICS),
            by=by,
            period=period,
            filters=self.filters,
            journey=self.journey,
            since=since,
            until=until,
            weight=self.weight,
        )


def _summary(df: pd.DataFrame) -> dict[str, Any]:
    return {f: df[f].to_numpy(dtype=float) for f in metrics.SUMMARY_FIELDS}


def _with_change(q: _Query, key: str | None) -> dict[str, list[dict[str, Any]]]:
    """Per metric: rows of (group, n, value, interval, change vs the previous period)."""
    by = [DIMENSIONS[key]] if key else []
    cur = q.summarize(by, q.since, q.until)
    prev_since, prev_until = q.previous()
    prev = q.summarize(by, prev_since, prev_until) if prev_since else cur.iloc[0:0]
    col = DIMENSIONS[key] if key else None
    out: dict[str, list[dict[str, Any]]] = {}
    for metric in METRICS:
        a = prev[prev["metric"] == metric]
        b = cur[cur["metric"] == metric]
        if col:
            b = b.merge(a, on=["metric", col], how="left", suffixes=("", "_prev"))
        else:
            b = b.reset_index(drop=True).join(a.reset_index(drop=True), rsuffix="_prev")
        for f in metrics.SUMMARY_FIELDS:
            b[f + "_prev"] = b[f + "_prev"].fillna(0)
        out[metric] = _rows(q, metric, b, col)
    return out


def _rows(q: _Query, metric: str, b: pd.DataFrame, col: str | None) -> list[dict[str, Any]]:
    if b.empty:
        return []
    est = stats.estimate_arrays(metric, _summary(b), q.confidence, q.min_answers)
    prev = {f: b[f + "_prev"].to_numpy(dtype=float) for f in metrics.SUMMARY_FIELDS}
    cmp = stats.compare_arrays(metric, prev, _summary(b), 1 - q.confidence, q.min_answers)
    frame = pd.DataFrame(
        {
            "key": b[col] if col else "all",
            "n": b["n"],
            "value": est["value"],
            "ci_low": est["ci_low"],
            "ci_high": est["ci_high"],
            "too_few": est["too_few"],
            "n_previous": b["n_prev"],
            "value_previous": cmp["value_a"],
            "diff": cmp["diff"],
            "p_value": cmp["p_value"],
            "significant": cmp["significant"],
        }
    )
    frame["test"] = stats.test_name(metric)
    return sorted(_records(frame), key=lambda r: -(r["n"] or 0))


def _by_key(per_metric: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rows per metric -> one row per group: ``{"key", "nps": {...}, "ces": ..., ...}``."""
    groups: dict[Any, dict[str, Any]] = {}
    for metric in METRICS:
        for row in per_metric[metric]:
            groups.setdefault(row["key"], {"key": row["key"]})[metric] = row
    return list(groups.values())


def _labelled(
    ctx: PageContext, dim: str, rows: list[dict[str, Any]], key: str = "key"
) -> list[dict[str, Any]]:
    """Add ``label``: the name of the group in the page's language (configured names of
    touchpoints, stages, owners; worded channels and segments); the id stays in ``key``."""
    names = ctx.names
    for row in rows:
        value = row.get(key)
        row["label"] = names(dim, value) if value is not None else None
        if "stage" in row and key != "stage":
            row["stage_label"] = names("stage", row["stage"]) if row["stage"] else None
    return rows


def _series(q: _Query, grain: str) -> dict[str, list[dict[str, Any]]]:
    table = metrics.score_table(
        q.events,
        list(METRICS),
        period=grain,
        filters=q.filters,
        journey=q.journey,
        min_answers=q.min_answers,
        confidence=q.confidence,
        since=q.since,
        until=q.until,
        weight=q.weight,
    )
    table["period"] = table["period"].astype(str)
    return {
        m: _records(
            table[table["metric"] == m][["period", "n", "value", "ci_low", "ci_high", "too_few"]]
        )
        for m in METRICS
    }


def scores_data(ctx: PageContext, params: Filters) -> dict[str, Any]:
    """Overall scores with change, series per period, breakdowns and the NPS x CES matrix;
    nothing personal, so computed once for analysts and viewers alike while the score cells
    are unchanged (:func:`scores_reads`)."""
    version = scores_reads(ctx, params)
    return shared(ctx, "scores", version, params, lambda: _scores_data(ctx, params))


def _scores_data(ctx: PageContext, params: Filters) -> dict[str, Any]:
    q = _Query(ctx, params)
    grain = GRAIN.get(params.period, "week")
    overall = _with_change(q, None)
    matrix = metrics.nps_ces_matrix(
        q.events,
        q.journey,
        q.min_answers,
        q.confidence,
        filters=q.filters,
        since=q.since,
        until=q.until,
        weight=q.weight,
    )
    return {
        "since": q.since,
        "until": q.until,
        "previous": list(q.previous()),
        "previous_coverage": q.previous_coverage(),
        "window": q.window(),
        "grain": grain,
        "confidence": q.confidence,
        "min_answers": q.min_answers,
        "overall": {m: (rows[0] if rows else None) for m, rows in overall.items()},
        "series": _series(q, grain),
        "breakdowns": {
            dim: _labelled(ctx, dim, _by_key(_with_change(q, dim))) for dim in DIMENSIONS
        },
        "matrix": _labelled(ctx, "touchpoint", _records(matrix), key="touchpoint"),
        "tests": {m: test_label(stats.test_name(m), ctx.t) for m in METRICS},
        "options": filter_options(ctx),
    }


def scores_charts(data: dict[str, Any], ctx: PageContext) -> dict[str, Any]:
    t = ctx.t
    conf = round(data["confidence"] * 100)
    out = {
        f"series_{m}": charts.band_line(
            data["series"][m],
            t("scores.over_time", metric=t(f"metric.{m}"), confidence=conf),
            t(f"metric.{m}.scale"),
            t("date"),
            (t("chart.ci_low", confidence=conf), t("chart.ci_high", confidence=conf)),
        )
        for m in METRICS
    }
    out["matrix"] = charts.matrix_scatter(
        data["matrix"],
        t("scores.matrix"),
        t("scores.matrix_x"),
        t("scores.matrix_y"),
        t("dim.touchpoint"),
    )
    out["touchpoint_nps"] = charts.bars_with_ci(
        [{**r["nps"], "label": r["label"]} for r in data["breakdowns"]["touchpoint"] if "nps" in r],
        "label",
        t("scores.breakdown", dim=t("dim.touchpoint").lower()),
        t("metric.nps.scale"),
        t("dim.touchpoint"),
    )
    return out


def scores_reads(ctx: PageContext, params: Filters) -> Any:
    """What the page reads when the score cells answer it: their version (None: the log)."""
    cells = score_cells(ctx, params.scope(None))
    return None if cells is None else ("score_cells", cells.stamp()[0])


register_page(
    router,
    PageSpec(
        name="scores",
        path="/scores",
        template="scores.html",
        data=scores_data,
        charts=scores_charts,
        summary="NPS, CES and CSAT: overall, over time, breakdowns with significance, matrix",
        reads=scores_reads,
    ),
)
