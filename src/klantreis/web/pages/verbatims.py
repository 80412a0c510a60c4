"""Verbatims (``/verbatims``): the customer comments behind a number, newest first,
searchable, filtered like the score pages (and by touchpoint, owner, metric). Viewers see
them with personal data masked (:mod:`klantreis.access.masking`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Query

from klantreis.access.masking import mask_record, mask_text
from klantreis.analytics.scope import predicates
from klantreis.web.pagekit import Filters, NavItem, PageContext, PageSpec, register_page
from klantreis.web.pages.options import filter_options, newest_answer_day
from klantreis.wording import Names

router = APIRouter()
NAV = NavItem("/verbatims", "nav.verbatims", order=40)

COLUMNS = (
    "event_id",
    "occurred_at",
    "kind",
    "customer_id",
    "journey_id",
    "touchpoint",
    "channel",
    "owner",
    "metric",
    "score",
    "text",
    "lang",
)
COMMENT_KINDS = ("survey.response", "review.posted")


@dataclass
class VerbatimParams(Filters):
    """The score filters plus drill-down keys, a search text and paging."""

    q: Annotated[str | None, Query(max_length=200, description="Words to search for")] = None
    touchpoint: Annotated[str | None, Query(max_length=100)] = None
    owner: Annotated[str | None, Query(max_length=100)] = None
    metric: Annotated[str | None, Query(pattern="^(nps|ces|csat|stars)$")] = None
    limit: Annotated[int, Query(ge=1, le=500)] = 50
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0


def _selected(ctx: PageContext, params: VerbatimParams) -> Any:
    events = ctx.events()
    t = events.filter(
        events.kind.isin(list(COMMENT_KINDS)), events.text.notnull(), events.text != ""
    )
    scope = replace(
        params.scope(newest_answer_day(ctx)),
        touchpoints=(params.touchpoint,) if params.touchpoint else (),
        owners=(params.owner,) if params.owner else (),
        metrics=(params.metric,) if params.metric else (),
    )
    preds = predicates(events, t, scope, ctx.app.journey, ctx.app.journey.timezone)
    if params.q:
        preds.append(t.text.lower().contains(params.q.lower()))
    return t.filter(*preds) if preds else t


def verbatims_data(ctx: PageContext, params: VerbatimParams) -> dict[str, Any]:
    """Matching comments, newest first (``limit`` from ``offset``), and their total.

    A viewer's search for personal data (an e-mail address, phone number, IBAN, ...) finds
    nothing: otherwise the number of hits would tell what the masked texts contain."""
    if params.q and not ctx.sees_personal_data and mask_text(params.q) != params.q:
        params.q = "\x00no match\x00"
    t = _selected(ctx, params)
    total = int(t.count().to_pyarrow().as_py())
    page = (
        t.order_by([t.occurred_at.desc(), t.event_id])
        .select(*COLUMNS)
        .limit(params.limit, offset=params.offset)
        .to_pyarrow()
        .to_pylist()
    )
    if not ctx.sees_personal_data:
        page = [mask_record({**r, "journey_id": None}) for r in page]
    names = ctx.names
    page = [_worded(r, names) for r in page]
    return {
        "total": total,
        "offset": params.offset,
        "limit": params.limit,
        "masked": not ctx.sees_personal_data,
        "comments": page,
        "drill_down": {
            dim: {"key": value, "label": names(dim, value)}
            for dim in ("touchpoint", "owner", "metric")
            if (value := getattr(params, dim))
        },
        "options": filter_options(ctx),
    }


def _worded(row: dict[str, Any], names: Names) -> dict[str, Any]:
    """A comment with ``*_label`` fields in the reader's language beside its ids."""
    out = dict(row)
    for dim in ("touchpoint", "channel", "owner"):
        out[f"{dim}_label"] = names(dim, row[dim]) if row.get(dim) else None
    metric = row.get("metric")
    out["score_label"] = names.score(metric, row.get("score")) if metric else None
    return out


register_page(
    router,
    PageSpec(
        name="verbatims",
        path="/verbatims",
        template="verbatims.html",
        data=verbatims_data,
        params=VerbatimParams,
        summary="Customer comments, newest first, searchable",
    ),
)
