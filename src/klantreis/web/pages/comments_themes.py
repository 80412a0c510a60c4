"""What customers write (``/comments/themes`` and ``/api/v1/comments/themes``): the themes
and sentiment of the comments behind the scores, filtered like the score pages (period,
channel, segment) and by touchpoint, owner, metric and score group ("what detractors of
VlotBezorgd talk about this week": ``?owner=carrier:vlotbezorgd&group=low&period=7d``).

Per theme the share of comments mentioning it with its Wilson interval, the change against
the window before (a one-sided Fisher test with the Benjamini-Hochberg correction: themes
flagged new or growing only when the test says so), the weekly trend, the top themes per
owner and per touchpoint, the key drivers of the score (regression with relative weights,
see :mod:`klantreis.text.insights`) and a few example comments with their sentiment per
sentence. Viewers see the example texts masked and no customer or event ids.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query

from klantreis.access.masking import mask_text
from klantreis.analytics.scope import Scope, predicates
from klantreis.text.insights import (
    key_drivers,
    tagged_frame,
    theme_changes,
    theme_shares,
    top_themes_by,
    weekly_shares,
    wilson_share,
)
from klantreis.text.labels import comment_filter
from klantreis.text.sentiment import LexiconSentiment
from klantreis.text.themes import ThemeTaxonomy
from klantreis.web import charts
from klantreis.web.envelope import ApiError
from klantreis.web.pagekit import Filters, NavItem, PageContext, PageSpec, register_page
from klantreis.web.pages.options import filter_options, newest_answer_day
from klantreis.web.state import web_state

__all__ = ["ThemeParams", "router", "themes_data"]

router = APIRouter()
NAV = NavItem("/comments/themes", "nav.themes", order=42)

#: At most this many comments (the newest) are read per window.
MAX_COMMENTS = 100_000
#: Themes drawn in the weekly chart.
CHART_THEMES = 5
#: Example comments shown.
EXAMPLES = 5
_COLUMNS = ("event_id", "occurred_at", "touchpoint", "owner", "channel", "metric", "score", "text")


@dataclass
class ThemeParams(Filters):
    """The score filters plus touchpoint, owner, metric, score group and one theme."""

    touchpoint: Annotated[str | None, Query(max_length=100)] = None
    owner: Annotated[str | None, Query(max_length=100)] = None
    metric: Annotated[
        str | None,
        Query(pattern="^(nps|ces|csat|stars)$", description="Only comments on this metric"),
    ] = None
    group: Annotated[
        str,
        Query(
            pattern="^(all|low|mid|high)$",
            description="Score group: low = detractors (NPS 0-6, CSAT/stars 1-2, CES 5-7),"
            " mid = passives, high = promoters",
        ),
    ] = "all"
    theme: Annotated[
        str | None, Query(max_length=100, description="Show example comments of this theme")
    ] = None


def _scope(ctx: PageContext, params: ThemeParams) -> Scope:
    return replace(
        params.scope(newest_answer_day(ctx)),
        touchpoints=(params.touchpoint,) if params.touchpoint else (),
        owners=(params.owner,) if params.owner else (),
        metrics=(params.metric,) if params.metric else (),
    )


def _comments(ctx: PageContext, scope: Scope | None) -> tuple[pd.DataFrame, bool]:
    """The comments in ``scope`` (newest :data:`MAX_COMMENTS`), tagged; and whether capped."""
    if scope is None:
        return pd.DataFrame(columns=[*_COLUMNS, "themes", "sentiment", "group"]), False
    events = ctx.events()
    t = events.filter(comment_filter(events), events.text.notnull())
    t = t.filter(t.text != "")
    preds = predicates(events, t, scope, ctx.app.journey, ctx.app.journey.timezone)
    t = t.filter(*preds) if preds else t
    t = t.order_by([t.occurred_at.desc(), t.event_id]).select(*_COLUMNS).limit(MAX_COMMENTS + 1)
    df = t.to_pyarrow().to_pandas()
    capped = len(df) > MAX_COMMENTS
    df = df.head(MAX_COMMENTS)
    df["occurred_at"] = pd.to_datetime(df["occurred_at"], utc=True)
    tags = ctx.app.text.tags([str(i) for i in df["event_id"]], [str(x) for x in df["text"]])
    return tagged_frame(df, tags), capped


def _in_group(df: pd.DataFrame, group: str) -> pd.DataFrame:
    return df if group == "all" or df.empty else df[df["group"] == group]


def _named(rows: list[dict[str, Any]], tax: ThemeTaxonomy, lang: str) -> list[dict[str, Any]]:
    known = set(tax.ids())
    return [
        {**r, "name": tax.get(r["theme"]).name(lang) if r["theme"] in known else r["theme"]}
        for r in rows
    ]


def _examples(ctx: PageContext, df: pd.DataFrame, theme: str | None) -> list[dict[str, Any]]:
    """The newest comments mentioning ``theme`` with their sentiment per sentence (masked
    texts and opaque handles for viewers)."""
    if theme is None or df.empty:
        return []
    hits = df[[theme in t for t in df["themes"]]].head(EXAMPLES)
    lex = LexiconSentiment()
    handles = web_state(ctx.request).security.handles
    placeholders = ctx.placeholders
    out = []
    for row in hits.itertuples(index=False):
        text = str(row.text)
        if not ctx.sees_personal_data:
            text = mask_text(text, placeholders) or ""
        out.append(
            {
                "comment_id": row.event_id if ctx.sees_personal_data else handles.of(row.event_id),
                "occurred_at": row.occurred_at.isoformat(),
                "touchpoint": row.touchpoint,
                "owner": row.owner,
                "metric": row.metric,
                "score": None if pd.isna(row.score) else float(row.score),
                "sentiment": row.sentiment,
                "sentences": [{"text": s.text, "label": s.label} for s in lex.sentences(text)],
            }
        )
    return out


def _drivers(df: pd.DataFrame, metric: str | None, tax: ThemeTaxonomy, lang: str) -> dict[str, Any]:
    """Key drivers of one metric: the chosen one, else the most commented one."""
    scored = df[df["metric"].notna() & df["score"].notna()] if not df.empty else df
    if metric is None and not scored.empty:
        metric = str(scored["metric"].value_counts().idxmax())
    part = scored[scored["metric"] == metric] if metric else scored.iloc[0:0]
    result = key_drivers(part, tax.ids())
    return {
        **result,
        "metric": metric,
        "rows": _named(result["rows"], tax, lang),
        "left_out": [{"theme": t, "name": tax.get(t).name(lang)} for t in result["left_out"]],
    }


def themes_data(ctx: PageContext, params: ThemeParams) -> dict[str, Any]:
    """Themes and sentiment of the comments in the filters (see the module docstring)."""
    tax = ctx.app.text.taxonomy
    if params.theme and params.theme not in tax.ids():
        raise ApiError(422, f"unknown theme {params.theme!r}", "invalid_input")
    scope = _scope(ctx, params)
    everything, capped = _comments(ctx, scope)
    before, _ = _comments(ctx, scope.previous())
    now, prev = _in_group(everything, params.group), _in_group(before, params.group)
    shares = theme_shares(now, tax.ids())
    changes = theme_changes(now, prev, tax.ids())
    rows = [{**r, **changes[r["theme"]]} for r in shares]
    rows = _named(rows, tax, ctx.lang)
    mentioned = [r["theme"] for r in rows if r["k"] > 0]
    chart_themes = set(mentioned[:CHART_THEMES])
    weekly = [
        r
        for r in weekly_shares(now, tax.ids(), ctx.app.journey.timezone)
        if r["theme"] in chart_themes
    ]
    negative = int((now["sentiment"] < -0.05).sum()) if not now.empty else 0
    positive = int((now["sentiment"] > 0.05).sum()) if not now.empty else 0
    theme = params.theme or (mentioned[0] if mentioned else None)
    models = ctx.app.text.versions_in_use()
    return {
        "n": len(now),
        "n_all_groups": len(everything),
        "n_before": len(prev),
        "capped": capped,
        "group": params.group,
        "themes": rows,
        "flagged": [r for r in rows if r["growing"]],
        "weekly": _named(weekly, tax, ctx.lang),
        "by_owner": [
            {**g, "themes": _named(g["themes"], tax, ctx.lang)}
            for g in top_themes_by(now, "owner", tax.ids())
        ],
        "by_touchpoint": [
            {**g, "themes": _named(g["themes"], tax, ctx.lang)}
            for g in top_themes_by(now, "touchpoint", tax.ids())
        ],
        "sentiment": {
            "negative": {"k": negative, "n": len(now), **wilson_share(negative, len(now))},
            "positive": {"k": positive, "n": len(now), **wilson_share(positive, len(now))},
        },
        "drivers": _drivers(everything, params.metric, tax, ctx.lang),
        "theme": theme,
        "theme_name": tax.get(theme).name(ctx.lang) if theme else None,
        "examples": _examples(ctx, now, theme),
        "masked": not ctx.sees_personal_data,
        "models": models,
        "options": {
            **filter_options(ctx),
            "themes": [{"id": t.id, "name": t.name(ctx.lang)} for t in tax.themes],
        },
        "drill_down": {
            dim: {"key": value, "label": ctx.names(dim, value)}
            for dim in ("touchpoint", "owner", "metric")
            if (value := getattr(params, dim))
        },
    }


def themes_charts(data: dict[str, Any], ctx: PageContext) -> dict[str, Any]:
    """The weekly share (in %) of the most mentioned themes."""
    rows = [
        {"period": r["week"], "name": r["name"], "share": 100 * r["share"]}
        for r in data["weekly"]
        if r["share"] is not None
    ]
    return {
        "weekly": charts.weekly_lines(
            rows,
            series="name",
            title=ctx.t("themes.weekly"),
            value_label=ctx.t("themes.share_pct"),
            date_label=ctx.t("contacts.week"),
            series_label=ctx.t("themes.theme"),
            value="share",
        )
    }


register_page(
    router,
    PageSpec(
        name="comments/themes",
        path="/comments/themes",
        template="comments_themes.html",
        data=themes_data,
        params=ThemeParams,
        charts=themes_charts,
        summary="Themes and sentiment of the comments behind the scores, with key drivers",
    ),
)
