"""The CX index: one number for how customers feel, like a stock index (``/``).

Read-only and mobile-first, for every employee. Data from
:func:`klantreis.analytics.cx_index.cx_index`; the same dict feeds ``/api/v1/index``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter

from klantreis.analytics.cx_index import cx_index
from klantreis.analytics.derived_scores import supports
from klantreis.analytics.movers import ALPHA
from klantreis.analytics.scope import Scope
from klantreis.web import charts
from klantreis.web.pagekit import Filters, NavItem, PageContext, PageSpec, register_page
from klantreis.web.pages.options import (
    cells_stamps,
    filter_options,
    local_day,
    newest_answer_day,
)
from klantreis.wording import Names, Wording, driver_phrase, mover_label, mover_sentence

router = APIRouter()
NAV = NavItem("/", "nav.index", order=10)
#: Data whose newest event is this many days old or older gets a notice.
STALE_DAYS = 2


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
        # what the page shows under the mover's name (the sentence repeats name and change)
        "phrase": driver_phrase(m["driver"], m["dimension"], m["delta_points"], names),
        "p_value": m.get("p_value"),
        "significant": bool(m.get("significant")),
        "driver": m["driver"],
    }


def _components(result: dict[str, Any], names: Names) -> dict[str, list[dict[str, Any]]]:
    """Per dimension: the components with their configured names (``label``) beside ids."""
    return {
        dim: [
            {
                "key": c["key"],
                "label": names(dim, c["key"]),
                "current": c["current"],
                "change": c["change"],
                "change_p": c.get("change_p"),
                "significant": c.get("change_p") is not None and c["change_p"] < ALPHA,
                "share": c["share"],
                "n": c["n"],
            }
            for c in series
        ]
        for dim, series in result["components"].items()
    }


def local_today(zone: str) -> date:
    """Today in the journey's time zone (what "vandaag" means on the page)."""
    return datetime.now(ZoneInfo(zone)).date()


def freshness(ctx: PageContext, until: str | None) -> dict[str, Any]:
    """How old the data is: the newest event's day, its age in days, whether that is stale
    (``STALE_DAYS`` or more), and the word for the index's last day ("vandaag",
    "gisteren" or its date: never "vandaag" for a day weeks ago)."""
    zone = ctx.app.journey.timezone
    today = local_today(zone)
    newest = newest_answer_day(ctx, answers_only=False)
    age = None if newest is None else (today - newest).days
    last = date.fromisoformat(until) if until else None
    w: Wording = ctx.t
    if last == today:
        word = w("index.today")
    elif last == today - timedelta(days=1):
        word = w("index.yesterday")
    else:
        word = w("index.on_day", day=w.date(last, "d MMM")) if last else w("index.today")
    return {
        "newest_day": newest,
        "age_days": age,
        "stale": age is not None and age >= STALE_DAYS,
        "last_day_word": word,
    }


def index_data(ctx: PageContext, params: Filters) -> dict[str, Any]:
    """The index now, its change on the last day and over the period (with their tests),
    its series with the daily interval (days with too few answers are gaps), the base
    period, how fresh the data is, and its movers."""
    result = cx_index(
        ctx.events(),
        ctx.app.journey,
        filters=index_scope(ctx, params),
        cache=ctx.app.index_cache(),
        min_answers=ctx.app.defaults.min_answers,
    ).to_dict()
    movers = result.get("movers") or {}
    names = ctx.names
    return {
        "empty": result["empty"],
        "current": result["current"],
        "change_today": result["change_today"],
        "change_today_p": result["change_today_p"],
        "change_today_significant": result["change_today_significant"],
        "change_period": result["change_period"],
        "change_period_p": result["change_period_p"],
        "change_period_significant": result["change_period_significant"],
        "since": result["since"],
        "until": result["until"],
        "base": result["base"],
        "base_score": result["base_score"],
        "n_answers": result["n_answers"],
        "min_answers": result["min_answers"],
        "smoothing_days": result["smoothing_days"],
        "freshness": freshness(ctx, result["until"]),
        "series": [
            {
                "day": p["day"],
                "value": p["value"],
                "ci_low": p["ci_low"],
                "ci_high": p["ci_high"],
                "n": p["n"],
                "n_window": p["n_window"],
            }
            for p in result["series"]
        ],
        "movers": {
            "window_days": movers.get("window_days"),
            "total_change": movers.get("total_change"),
            "top": [_mover(m, names) for m in movers.get("top", [])],
        },
        "components": _components(result, names),
        "options": filter_options(ctx),
    }


def index_charts(data: dict[str, Any], ctx: PageContext) -> dict[str, Any]:
    return {
        "index": charts.index_line(
            data["series"],
            ctx.t("index.chart_title"),
            ctx.t("index.value"),
            ctx.t("date"),
            (ctx.t("chart.ci_low", confidence=95), ctx.t("chart.ci_high", confidence=95)),
        )
    }


def index_reads(ctx: PageContext, params: Filters) -> Any:
    """What the page reads, when the kept score cells answer it: the answers (the cells'
    version), the movers' driver counts (their version: failures, contacts, promises), the
    newest event's day (the freshness line) and today (its words). None (the store's
    version) for a segment, which also matches the journeys' start events in the log."""
    stamp = cells_stamps(ctx) if supports(params.scope(None)) else None
    if stamp is None:
        return None
    zone = ctx.app.journey.timezone
    return ("index", stamp.cells, stamp.facts, local_day(ctx, stamp.newest), local_today(zone))


register_page(
    router,
    PageSpec(
        name="index",
        path="/",
        template="index.html",
        data=index_data,
        charts=index_charts,
        summary="The CX index: current value, changes, series per day and movers",
        reads=index_reads,
    ),
)
