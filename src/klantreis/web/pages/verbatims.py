"""Verbatims (``/verbatims``): the customer comments behind a number, newest first,
searchable, filtered like the score pages (and by touchpoint, owner, metric). Viewers see
them with personal data masked (:mod:`klantreis.access.masking`)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Query

from klantreis.access.masking import mask_record, mask_text
from klantreis.analytics.scope import predicates
from klantreis.text.labels import comment_filter
from klantreis.web.pagekit import (
    Filters,
    NavItem,
    PageContext,
    PageSpec,
    register_guess,
    register_page,
)
from klantreis.web.pages.options import filter_options, newest_answer_day
from klantreis.web.state import web_state
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
    t = events.filter(comment_filter(events), events.text.notnull(), events.text != "")
    scope = replace(
        params.scope(newest_answer_day(ctx)),
        touchpoints=(params.touchpoint,) if params.touchpoint else (),
        owners=(params.owner,) if params.owner else (),
        metrics=(params.metric,) if params.metric else (),
    )
    preds = predicates(events, t, scope, ctx.app.journey, ctx.app.journey.timezone)
    if params.q and (ctx.sees_personal_data or not _BRACKETS.search(params.q)):
        # For a viewer this is only a pre-filter: a bracket-free piece of a masked text is
        # a piece of the raw text, so every masked match is among these rows.
        preds.append(t.text.lower().contains(params.q.lower()))
    return t.filter(*preds) if preds else t


_BRACKETS = re.compile(r"[\[\]]")
#: A viewer's search masks at most this many candidate comments (the newest), so one search
#: stays within a few seconds; ``total_capped`` says when there were more.
MAX_VIEWER_SCAN = 20_000


@functools.lru_cache(maxsize=MAX_VIEWER_SCAN)
def _masked_lower(text: str) -> str:
    return (mask_text(text) or "").lower()


def _masked_matches(t: Any, q: str) -> tuple[list[str], bool]:
    """Event ids of the rows of ``t`` whose masked text contains ``q`` (any case), newest
    first, and whether the scan stopped at :data:`MAX_VIEWER_SCAN` candidates: a viewer
    searches what a viewer sees."""
    rows = (
        t.order_by([t.occurred_at.desc(), t.event_id])
        .select("event_id", "text")
        .limit(MAX_VIEWER_SCAN + 1)
        .to_pyarrow()
        .to_pylist()
    )
    capped = len(rows) > MAX_VIEWER_SCAN
    needle = q.lower()
    ids = [r["event_id"] for r in rows[:MAX_VIEWER_SCAN] if needle in _masked_lower(r["text"])]
    return ids, capped


Page = tuple[int, list[dict[str, Any]], bool]


def _page(t: Any, params: VerbatimParams) -> Page:
    ordered = t.order_by([t.occurred_at.desc(), t.event_id]).select(*COLUMNS)
    total = int(t.count().to_pyarrow().as_py())
    page = ordered.limit(params.limit, offset=params.offset).to_pyarrow().to_pylist()
    return total, page, False


def _viewer_page(t: Any, params: VerbatimParams) -> Page:
    if not params.q:
        return _page(t, params)
    ids, capped = _masked_matches(t, params.q)
    wanted = ids[params.offset : params.offset + params.limit]
    if not wanted:
        return len(ids), [], capped
    rows = t.filter(t.event_id.isin(wanted)).select(*COLUMNS).to_pyarrow().to_pylist()
    by_id = {r["event_id"]: r for r in rows}
    return len(ids), [by_id[i] for i in wanted if i in by_id], capped


def verbatims_data(ctx: PageContext, params: VerbatimParams) -> dict[str, Any]:
    """Matching comments, newest first (``limit`` from ``offset``), and their total.

    A viewer's search runs on the masked texts, so ``total`` counts only what the viewer
    can see: a search for masked personal data (an e-mail address, phone number, IBAN, ...)
    finds nothing, and the count tells nothing about what the masks hide. A viewer's search
    looks at the newest :data:`MAX_VIEWER_SCAN` candidates (``total_capped`` when more)."""
    t = _selected(ctx, params)
    if ctx.sees_personal_data:
        total, page, capped = _page(t, params)
    else:
        total, page, capped = _viewer_page(t, params)
        handles = web_state(ctx.request).security.handles
        placeholders = ctx.placeholders
        page = [
            mask_record(
                {**r, "journey_id": None, "event_id": handles.of(r["event_id"])},
                placeholders=placeholders,
            )
            for r in page
        ]
    names = ctx.names
    page = [_worded(r, names) for r in page]
    return {
        "total": total,
        "total_capped": capped,
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


register_guess(router, "/comments", "/verbatims")  # where a newcomer looks first
