"""Contact reasons (``/contacts``): the war room (top avoidable reasons, cost, root cause with
lift, owner, likely fix, saving), contacts per 100 orders, the cost Pareto and service by
channel; the labelling queue (``/contacts/queue``, lowest confidence first, label -> POST);
and classification of new texts (``/contacts/classify`` and ``/api/v1/contacts_classify``).

Every page and its JSON endpoint come from the same data function. Labels are written as
``contact.labelled`` events through the app's writer queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from klantreis.access.masking import mask_text
from klantreis.analytics import derived_scores
from klantreis.analytics.backend import json_text
from klantreis.analytics.scope import Scope
from klantreis.app import App
from klantreis.contacts.classifier import ColdStart, ContactClassifier
from klantreis.contacts.conditions import ConditionViews
from klantreis.contacts.derived import ContactViews
from klantreis.contacts.kept_reports import KeptContacts
from klantreis.contacts.labels import app_queue, label_record
from klantreis.contacts.reports import (
    OverviewOptions,
    contact_events,
    contacts_overview,
    kept_overview,
)
from klantreis.contacts.taxonomy import Taxonomy
from klantreis.contacts.warroom import build_war_room, load_analysis, war_room_csv
from klantreis.ingest.writer import Rejected
from klantreis.web import charts
from klantreis.web.envelope import ApiError, ok_response
from klantreis.web.pagekit import (
    Filters,
    NavItem,
    PageCache,
    PageContext,
    PageSpec,
    page_context,
    register_page,
    render_html,
    require_role,
)
from klantreis.web.pages.options import (
    cells_stamps,
    filter_options,
    local_day,
    newest_answer_day,
    score_cells,
    shared,
)
from klantreis.web.state import web_state
from klantreis.wording import Names
from klantreis.wording.warroom import war_room_html, worded_war_room, worded_war_room_dict

router = APIRouter()
NAV = NavItem("/contacts", "nav.contacts", order=35)
LABELLER_ROLES = ("admin", "analyst")
MAX_TEXTS = 1000
Reader = Annotated[PageContext, Depends(page_context)]
Labeller = Annotated[PageContext, Depends(require_role(*LABELLER_ROLES))]


def _taxonomy(ctx: PageContext) -> Taxonomy:
    return ctx.app.contacts.taxonomy


def _cold_start(ctx: PageContext) -> ColdStart:
    return ctx.app.contacts.cold_start()


def forget_model(app: App) -> None:
    """Drop the loaded model and the cached page data (after a new model version was saved):
    the next request loads the newest version and classifies with it."""
    app.contacts.forget_model()
    app.caches.get("pages", PageCache).clear()  # pages computed with the old model


def _model(ctx: PageContext) -> ContactClassifier | None:
    """The newest trained model next to the store (the App's contacts context keeps it)."""
    return ctx.app.contacts.model()


@dataclass
class ContactParams(Filters):
    """The common filters (period, channel, segment), plus the war room's size, a grouping
    of the rates, the repeat window and one reason to show the contacts of."""

    top: Annotated[int, Query(ge=1, le=20, description="Reasons in the war room")] = 5
    grouping: Annotated[
        str | None,
        Query(pattern="^(week|month)$", description="Contacts per 100 orders per period"),
    ] = None
    repeat_days: Annotated[float, Query(ge=0, le=365, description="Repeat window (days)")] = 7
    reason: Annotated[
        str | None, Query(max_length=100, description="Show the newest contacts of this reason")
    ] = None
    offset: Annotated[
        int, Query(ge=0, le=10**9, description="Skip this many of the reason's contacts")
    ] = 0


def contacts_data(ctx: PageContext, params: ContactParams) -> dict[str, Any]:
    """War room and reason metrics (see :func:`klantreis.contacts.reports.contacts_overview`),
    computed once for analysts and viewers alike while what the page reads is unchanged
    (:func:`contacts_reads`); a viewer's reason contacts are masked."""
    version = contacts_reads(ctx, params)
    data = shared(ctx, "contacts", version, params, lambda: _contacts_data(ctx, params))
    if ctx.sees_personal_data:
        return {**data, "masked": False}
    words = ctx.placeholders
    masked = [
        {**r, "text": mask_text(r["text"] or "", words), "customer_id": None}
        for r in data["reason_contacts"]
    ]
    return {**data, "reason_contacts": masked, "masked": True}


def _contacts_data(ctx: PageContext, params: ContactParams) -> dict[str, Any]:
    """The page's data as an analyst sees it (without ``masked``)."""
    events = ctx.app.events_table()
    cells = score_cells(ctx)
    newest = cells.stamp()[1] if cells is not None else None
    if newest is None:
        newest = events.occurred_at.max().to_pyarrow().as_py()
    scope = params.scope(newest_answer_day(ctx, answers_only=False))
    kept = _kept_contacts(ctx, scope)
    size = ctx.app.settings.contacts_page_size
    whole_days = scope.start is None and scope.end is None
    if kept is not None and whole_days and ctx.app.condition_views() is not None:
        data = _kept_overview(ctx, params, scope, kept, newest)
    else:  # the log's analysis (with the kept reasons when they are kept)
        since, until = scope.bounds(ctx.app.journey.timezone)
        data = contacts_overview(
            events,
            ctx.app.journey,
            _taxonomy(ctx),
            _model(ctx),
            top=params.top,
            period=params.grouping,
            repeat_days=params.repeat_days,
            lang=ctx.lang,
            scope=scope,
            reason=params.reason if kept is None else None,
            now=newest,
            contacts=None if kept is None else kept.frame(since, until, scope.channels),
            page=(size, params.offset),
        )
    if kept is not None and params.reason:
        since, until = scope.bounds(ctx.app.journey.timezone)
        data["reason_contacts"], data["reason_total"] = ctx.app.contact_views().reason_page(
            params.reason, since, until, scope.channels, size, params.offset
        )
    names = Names(ctx.app.journey, ctx.t)
    reason_names = {r.id: r.name(ctx.lang) for r in _taxonomy(ctx).reasons()}
    for b in data["trend"]["breaks"]:
        b["name"] = names.promise(b["promise_id"])
    return {
        **data,
        "warroom": worded_war_room_dict(data["warroom"], names),
        "reason_name": reason_names.get(params.reason or "", params.reason),
        "reason_names": reason_names,
        "options": _contact_options(ctx),
        "reason_pager": reason_pager(data["reason_total"], params.offset, size),
    }


def contacts_reads(ctx: PageContext, params: ContactParams) -> Any:
    """What the page reads when it is summed from the kept tables: the kept contacts' and
    the kept conditions' version counters, the answers' (the segments menu), the newest
    event's time (the period's end and "now" of the broken promises) and the menus of the
    kept conditions. None (the store's version) when the page reads the log."""
    stamp = cells_stamps(ctx)
    if stamp is None or stamp.newest is None:
        return None
    scope = params.scope(local_day(ctx, stamp.newest))
    kept = _kept_contacts(ctx, scope)
    conditions: ConditionViews | None = ctx.app.condition_views()
    if kept is None or conditions is None or scope.start is not None or scope.end is not None:
        return None
    if ctx.app.journey.promises and not conditions.supports_breaks():
        return None  # the weekly breaks are counted from the log
    menus = conditions.options()
    return (
        "contacts",
        kept.counter(),
        conditions.counter(),
        stamp.cells,
        stamp.newest,
        tuple(menus["channels"]),
        tuple(menus["segments"]),
    )


def reason_pager(total: int | None, offset: int, size: int) -> dict[str, Any] | None:
    """Where one page of a reason's contacts stands (None without a reason): the numbers
    ``first``-``last`` of ``total`` it shows (1-based), the offsets of the previous and the
    next page (None at either end) and ``past_end`` (an offset beyond the last contact)."""
    if total is None:
        return None
    shown = max(0, min(size, total - offset))
    return {
        "total": total,
        "offset": offset,
        "size": size,
        "first": offset + 1 if shown else None,
        "last": offset + shown if shown else None,
        "shown": shown,
        "previous_offset": max(0, offset - size) if offset and shown else None,
        "next_offset": offset + size if offset + size < total else None,
        "past_end": offset > 0 and shown == 0,
    }


def _kept_contacts(ctx: PageContext, scope: Scope) -> ContactViews | None:
    """The kept contacts (with their reasons, classified once, when they arrived), or None
    when the scope needs the log (a segment) or nothing is kept. With the kept conditions
    and orders and a scope of whole days the overview is summed from them in the store."""
    if scope.segments or not derived_scores.supports(scope) or scope.columns().keys() - {"channel"}:
        return None
    views: ContactViews | None = ctx.app.contact_views()
    return views


def _kept_overview(
    ctx: PageContext, params: ContactParams, scope: Scope, views: ContactViews, now: Any
) -> dict[str, Any]:
    """The overview summed in the store (:func:`klantreis.contacts.reports.kept_overview`):
    the page reads grouped rows, not a frame of every contact of the window."""
    conditions: ConditionViews = ctx.app.condition_views()
    conditions.ensure()
    since, until = scope.bounds(ctx.app.journey.timezone)
    # refreshes the contacts; the held counts read only the rows they need from it
    causes_of = views.cause_source(since, until, scope.channels)
    kept = KeptContacts(ctx.app.store, ctx.app.journey, since, until, scope.channels, scope.days())
    events = contact_events(ctx.app.events_table(), ctx.app.journey, scope)
    options = OverviewOptions(params.top, params.grouping, params.repeat_days, ctx.lang, now)
    return kept_overview(kept, conditions, causes_of, _taxonomy(ctx), events, options)


def _contact_options(ctx: PageContext) -> dict[str, list[str]]:
    """The filter choices of this page: the channels contacts came in on, and the segments
    of the answers and of the journeys' start events."""
    answers = filter_options(ctx)
    kept: ConditionViews | None = ctx.app.condition_views()
    if kept is not None:
        mine = kept.options()
        return {
            "channels": mine["channels"],
            "segments": sorted({*answers["segments"], *mine["segments"]}),
        }
    events = ctx.events()
    contacts = events.filter(events.kind == "contact.inbound")
    starts = events.filter(events.kind == ctx.app.journey.journey_start)
    channels = contacts.channel.name("v").as_table().distinct().to_pyarrow()["v"].to_pylist()
    segs = json_text(starts, "segment").name("v").as_table().distinct().to_pyarrow()["v"]
    return {
        "channels": sorted(str(c) for c in channels if c),
        "segments": sorted({*answers["segments"], *(str(v) for v in segs.to_pylist() if v)}),
    }


def contacts_charts(data: dict[str, Any], ctx: PageContext) -> dict[str, Any]:
    """The weekly trend per reason and the promise breaks beside it."""
    return {
        "trend": charts.weekly_lines(
            data["trend"]["contacts"],
            series="name",
            title=ctx.t("contacts.trend"),
            value_label=ctx.t("contacts.per100"),
            date_label=ctx.t("contacts.week"),
            series_label=ctx.t("contacts.reason"),
        ),
        "breaks": charts.weekly_lines(
            data["trend"]["breaks"],
            series="name",
            title=ctx.t("contacts.breaks"),
            value_label=ctx.t("contacts.breaks_per100"),
            date_label=ctx.t("contacts.week"),
            series_label=ctx.t("journeys.promise"),
        ),
    }


@dataclass
class QueueParams:
    limit: Annotated[int, Query(ge=1, le=500)] = 25


def queue_data(ctx: PageContext, params: QueueParams) -> dict[str, Any]:
    """Unlabelled contacts, lowest model confidence first; for viewers the texts are masked
    and the contact ids are opaque handles (:mod:`klantreis.web.handles`)."""
    tax = _taxonomy(ctx)
    items = [i.to_dict() for i in app_queue(ctx.app, limit=params.limit)]
    if not ctx.sees_personal_data:
        handles = web_state(ctx.request).security.handles
        words = ctx.placeholders
        for item in items:
            item["text"] = mask_text(item["text"], words)
            item["contact_id"] = handles.of(item["contact_id"])
    return {
        "items": items,
        "masked": not ctx.sees_personal_data,
        "can_label": ctx.principal is not None and ctx.principal.role in LABELLER_ROLES,
        "reasons": [{"id": r.id, "name": r.name(ctx.lang)} for r in tax.reasons()],
    }


@dataclass
class ClassifyParams:
    text: Annotated[list[str] | None, Query(max_length=5000, description="Texts to classify")] = (
        None
    )


def classify_texts(ctx: PageContext, texts: list[str]) -> dict[str, Any]:
    if len(texts) > MAX_TEXTS:
        raise ApiError(413, f"at most {MAX_TEXTS} texts per request", "too_many_texts")
    model = _model(ctx)
    tax = _taxonomy(ctx)
    preds = (model or _cold_start(ctx)).predict(texts) if texts else []
    names = {r.id: r.name(ctx.lang) for r in tax.reasons()}
    return {
        "model": "trained" if model else "cold start",
        "results": [
            {
                "text": t,
                "reason": p.reason,
                "name": names.get(p.reason, p.reason),
                "confidence": p.confidence,
                "method": p.method,
            }
            for t, p in zip(texts, preds, strict=True)
        ],
    }


def classify_data(ctx: PageContext, params: ClassifyParams) -> dict[str, Any]:
    """Reason and confidence per text (``?text=...&text=...``)."""
    return classify_texts(ctx, [t for t in params.text or [] if t.strip()])


register_page(
    router,
    PageSpec(
        name="contacts",
        path="/contacts",
        template="contacts.html",
        data=contacts_data,
        params=ContactParams,
        charts=contacts_charts,
        summary="Contact reasons: war room, per 100 orders, weekly trend, service",
        reads=contacts_reads,
    ),
)


# The queue is not cached (pagekit's page cache would show a just-labelled contact again).
@router.get("/contacts/queue", include_in_schema=False, response_class=HTMLResponse)
def queue_page(ctx: Reader, params: Annotated[QueueParams, Depends()]) -> Response:
    return render_html(
        ctx,
        "contacts_queue.html",
        data=queue_data(ctx, params),
        charts={},
        params=params,
        page="contacts_queue",
    )


@router.get(
    "/api/v1/contacts_queue", tags=["pages"], summary="Labelling queue, lowest confidence first"
)
def queue_api(ctx: Reader, params: Annotated[QueueParams, Depends()]) -> Response:
    return ok_response(
        queue_data(ctx, params),
        {"params": {"limit": params.limit}, "lang": ctx.lang, "masked": not ctx.sees_personal_data},
    )


register_page(
    router,
    PageSpec(
        name="contacts_classify",
        path="/contacts/classify",
        template="contacts_classify.html",
        data=classify_data,
        params=ClassifyParams,
        summary="Classify texts into contact reasons",
    ),
)


async def _store_label(ctx: PageContext, contact_id: str, reason: str) -> dict[str, Any]:
    labeller = ctx.principal.name if ctx.principal else "web"
    try:
        record = label_record(ctx.app.events_table(), contact_id, reason, _taxonomy(ctx), labeller)
    except ValueError as exc:
        raise ApiError(422, str(exc), "invalid_reason") from exc
    except KeyError as exc:
        raise ApiError(404, f"no contact with id '{contact_id}'", "not_found") from exc
    try:
        result = await web_state(ctx.request).writer.submit([record])
    except Rejected as exc:
        raise ApiError(422, "label rejected", "invalid_events", exc.details[:10]) from exc
    return {
        "contact_id": contact_id,
        "reason": reason,
        "stored": result.stored,
        "duplicates": result.duplicates,
    }


@router.post("/contacts/label", include_in_schema=False)
async def label_form(
    request: Request,
    ctx: Labeller,
    contact_id: Annotated[str, Form(max_length=200)],
    reason: Annotated[str, Form(max_length=100)],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    await _store_label(ctx, contact_id, reason)
    return RedirectResponse("/contacts/queue", status_code=303)


@router.post(
    "/api/v1/contacts/label",
    tags=["pages"],
    summary="Label a contact (a contact.labelled event); token of an admin/analyst",
)
async def label_api(
    ctx: Labeller,
    contact_id: Annotated[str, Body(max_length=200)],
    reason: Annotated[str, Body(max_length=100)],
) -> Response:
    if ctx.principal is None or ctx.principal.via != "token":
        raise ApiError(403, "use an API token (forms post to /contacts/label)", "forbidden")
    return ok_response(await _store_label(ctx, contact_id, reason))


def _war_room(ctx: PageContext, top: int) -> Any:
    a = load_analysis(ctx.app.events_table(), ctx.app.journey, _taxonomy(ctx), _model(ctx))
    return worded_war_room(build_war_room(a, top=top, lang=ctx.lang), Names(ctx.app.journey, ctx.t))


@router.get("/contacts/warroom.csv", tags=["pages"], summary="War room as CSV")
def war_room_csv_export(ctx: Reader, top: Annotated[int, Query(ge=1, le=20)] = 10) -> Response:
    return PlainTextResponse(
        war_room_csv(_war_room(ctx, top)),
        media_type="text/csv",
        headers={"Content-Disposition": "attachment; filename=warroom.csv"},
    )


@router.get("/contacts/warroom.html", include_in_schema=False)
def war_room_html_export(ctx: Reader, top: Annotated[int, Query(ge=1, le=20)] = 10) -> Response:
    return HTMLResponse(
        war_room_html(_war_room(ctx, top)),
        headers={"Content-Disposition": "attachment; filename=warroom.html"},
    )
