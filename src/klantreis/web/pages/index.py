"""The CX index: one number for how customers feel, like a stock index (``/``).

Read-only and mobile-first, for every employee. Data from
:func:`klantreis.analytics.cx_index.cx_index`; the same dict feeds ``/api/v1/index``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from klantreis.analytics.cx_index import cx_index
from klantreis.analytics.scope import Scope
from klantreis.web import charts
from klantreis.web.pagekit import Filters, NavItem, PageContext, PageSpec, register_page
from klantreis.web.pages.options import filter_options, newest_answer_day
from klantreis.wording import Names, mover_label, mover_sentence

router = APIRouter()
NAV = NavItem("/", "nav.index", order=10)


def index_scope(ctx: PageContext, params: Filters) -> Scope:
    """The page's scope: the same window and segment as the score pages."""
    return params.scope(newest_answer_day(ctx))


def _mover(m: dict[str, Any], names: Names) -> dict[str, Any]:
    return {
        "dimension": m["dimension"],
        "key": m["key"],
        "label": mover_label(m, names),
        "delta_points": m["delta_points"],
        "score_before": m["score_before"],
        "score_after": m["score_after"],
        "n_before": m["n_before"],
        "n_after": m["n_after"],
        "sentence": mover_sentence(m, names),
        "driver": m["driver"],
    }


def _components(result: dict[str, Any], lang: str) -> dict[str, list[dict[str, Any]]]:
    label = "label_nl" if lang == "nl" else "label_en"
    return {
        dim: [
            {
                "key": c["key"],
                "label": c[label],
                "current": c["current"],
                "change": c["change"],
                "share": c["share"],
                "n": c["n"],
            }
            for c in series
        ]
        for dim, series in result["components"].items()
    }


def index_data(ctx: PageContext, params: Filters) -> dict[str, Any]:
    """The index now, its change today and over the period, its series and its movers."""
    result = cx_index(
        ctx.events(),
        ctx.app.journey,
        filters=index_scope(ctx, params),
        cache=ctx.app.index_cache(),
    ).to_dict()
    movers = result.get("movers") or {}
    names = Names(ctx.app.journey, ctx.t)
    return {
        "empty": result["empty"],
        "current": result["current"],
        "change_today": result["change_today"],
        "change_period": result["change_period"],
        "since": result["since"],
        "until": result["until"],
        "base": result["base"],
        "base_score": result["base_score"],
        "n_answers": result["n_answers"],
        "smoothing_days": result["smoothing_days"],
        "series": [{"day": p["day"], "value": p["value"], "n": p["n"]} for p in result["series"]],
        "movers": {
            "window_days": movers.get("window_days"),
            "total_change": movers.get("total_change"),
            "top": [_mover(m, names) for m in movers.get("top", [])],
        },
        "components": _components(result, ctx.lang),
        "options": filter_options(ctx),
    }


def index_charts(data: dict[str, Any], ctx: PageContext) -> dict[str, Any]:
    return {
        "index": charts.index_line(
            data["series"], ctx.t("index.chart_title"), ctx.t("index.value"), ctx.t("date")
        )
    }


register_page(
    router,
    PageSpec(
        name="index",
        path="/",
        template="index.html",
        data=index_data,
        charts=index_charts,
        summary="The CX index: current value, changes, series per day and movers",
    ),
)
