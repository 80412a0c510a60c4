"""Journeys (``/journeys``): the journey map, variants, hand-overs, promises, what broken
promises cost, and the timeline of one journey or customer.

``journeys_data`` is the one data function behind the page and ``/api/v1/journeys``; both
show one page of the at-risk list (``limit`` from ``offset``, with its ``total``). "Now"
for promises is the newest event in the store (so a historical log is judged at its own end,
not at today's date). Viewers see the timeline and the at-risk list with personal data masked,
``attrs`` reduced to an allow-list, and opaque handles instead of journey and event ids
(:mod:`klantreis.web.handles`; ``?journey=`` takes a handle too). Looking up a customer's
history (``?customer=``) is for analysts and admins: viewers get 403.
Results are kept per parameters in the App's caches while the store is unchanged (impact
needs a few dozen queries).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pyarrow as pa
from fastapi import APIRouter, Query

from klantreis.access.masking import mask_customer_id, mask_record
from klantreis.analytics import (
    derived_promises,
    derived_reads,
    derived_scope,
    discovery,
    promises,
)
from klantreis.analytics.derived_views import DerivedViews
from klantreis.analytics.impact import Impact, impact_ranking
from klantreis.analytics.journeys import kind_labels
from klantreis.analytics.scope import Scope
from klantreis.analytics.timeline import timeline
from klantreis.caches import KeyedResults, Results
from klantreis.web import pagekit
from klantreis.web.envelope import ApiError
from klantreis.web.handles import Handles
from klantreis.web.pagekit import Filters, NavItem, PageContext, PageSpec, register_page
from klantreis.web.pages.journeys_map import layout
from klantreis.web.pages.options import filter_options, newest_answer_day
from klantreis.web.state import web_state
from klantreis.wording import Names
from klantreis.wording.impact import impact_summary

__all__ = ["JourneyParams", "journeys_data", "router"]

log = logging.getLogger(__name__)
router = APIRouter()
NAV = NavItem("/journeys", "nav.journeys", order=30)
_CACHE_SIZE = 16
#: At-risk journeys per page when ``limit`` is not given (the page and the JSON alike).
RISK_PAGE_SIZE = 20
#: The most at-risk journeys one request may ask for (``limit``).
MAX_RISK_LIMIT = 1_000
#: The highest ``offset`` into the at-risk list a request may give.
MAX_RISK_OFFSET = 10_000_000


@dataclass
class JourneyParams(Filters):
    """The common filters, plus what a step is, how the map is coloured, and a timeline."""

    period: Annotated[
        str,
        Query(
            description="Journeys that started in the last 7d, 30d, 90d, 365d or all",
            pattern="^(7d|30d|90d|365d|all)$",
        ),
    ] = "all"
    activity: Annotated[
        str,
        Query(pattern="^(kind|touchpoint)$", description="A step is an event kind or a touchpoint"),
    ] = "touchpoint"
    color: Annotated[
        str,
        Query(
            pattern="^(score|contacts)$", description="Colour steps by score or contacts per 100"
        ),
    ] = "score"
    metric: Annotated[str, Query(pattern="^(nps|ces|csat)$")] = "csat"
    journey: Annotated[str | None, Query(max_length=200, description="Journey id")] = None
    customer: Annotated[str | None, Query(max_length=200, description="Customer id")] = None
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_RISK_LIMIT,
            description="At-risk journeys per page (the at-risk list is paged; `total` counts"
            " them all)",
        ),
    ] = RISK_PAGE_SIZE
    offset: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_RISK_OFFSET,
            description="The first at-risk journey of the page (0 = the first; the"
            " response's `at_risk.next_offset` gives the next page's)",
        ),
    ] = 0


def _newest(ctx: PageContext, views: DerivedViews | None = None) -> datetime | None:
    """The newest event's time: kept by the derived views (else a scan of the log)."""
    if views is not None:
        return views.newest()[0]
    events = ctx.app.events_table()
    value: datetime | None = events.occurred_at.max().to_pyarrow().as_py()
    return value


def _filter(ctx: PageContext, params: JourneyParams, newest: datetime | None) -> Scope:
    """Journeys that started in the period's days (ending the newest event's day), with an
    event of the channel and of the segment."""
    if newest is None:
        return params.scope(newest_answer_day(ctx, answers_only=False))
    return params.scope(newest.astimezone(ZoneInfo(ctx.app.journey.timezone)).date())


def _options(ctx: PageContext, views: DerivedViews | None) -> dict[str, list[str]]:
    """The filter menus' values: kept by the derived views (else a scan of the log)."""
    return views.options() if views is not None else filter_options(ctx)


def _records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in rows
    ]


def _views(ctx: PageContext, flt: Scope | None) -> DerivedViews | None:
    """The derived views when they can answer ``flt`` (else None: the portable functions)."""
    if flt is not None and not derived_reads.supports(flt):
        return None
    views: DerivedViews | None = ctx.app.derived_views()
    return views


def _part(
    ctx: PageContext,
    views: DerivedViews | None,
    reads: tuple[str, ...],
    key: tuple[Any, ...],
    build: Any,
    moving: tuple[Any, ...] = (),
) -> Any:
    """``build()`` kept under ``key`` plus the version counters of the derived views it
    ``reads`` and the ``moving`` values it depends on (the newest event's time): a batch that
    changed none of them keeps the result. Without views, kept while the store is unchanged
    (:func:`_cached`)."""
    if views is None:
        return _cached(ctx, key, build)
    versions = views.versions()
    cache = ctx.app.caches.get("journeys_parts", lambda: KeyedResults(4 * _CACHE_SIZE))
    return cache.get((*key, *moving, *(versions[r] for r in reads)), build)


def _step_parts(ctx: PageContext, params: JourneyParams, flt: Scope) -> dict[str, Any]:
    """Step statistics and step owners (from the derived views when they can answer)."""
    events, journey = ctx.app.events_table(), ctx.app.journey
    views = _views(ctx, flt)
    act: Any = params.activity
    if views is not None:
        steps = derived_reads.step_stats(views, journey, flt, act, params.metric)
        owners = derived_reads.step_owners(views, journey, flt, act, params.metric)
    else:
        steps = discovery.step_stats(events, journey, flt, act, params.metric)
        owners = discovery.step_owners(events, journey, flt, act, params.metric)
    return {"steps": _records(steps.to_pylist()), "owners": _records(owners.to_pylist())}


def _handovers(ctx: PageContext, flt: Scope) -> list[dict[str, Any]]:
    views = _views(ctx, flt)
    if views is not None:
        table = derived_reads.owner_handovers(views, ctx.app.journey, flt)
    else:
        table = discovery.owner_handovers(ctx.app.events_table(), ctx.app.journey, flt)
    return _records(table.to_pylist())


def _graph(ctx: PageContext, params: JourneyParams, flt: Scope) -> dict[str, Any]:
    """The graph, variants, start and end (journey index) and the kind labels. A scope the
    derived views answer selects its journeys from ``dv_journey`` (one row per journey), not
    from the event log."""
    events, journey = ctx.app.events_table(), ctx.app.journey
    index, views = ctx.app.journey_index(), _views(ctx, flt)
    act: Any = params.activity
    if index is not None and views is not None:
        selection = derived_scope.journey_sql(views, journey, flt)
        d = index.discover(activity=act, top=10, journeys=selection)
    else:
        d = discovery.discover(events, journey, flt, act, 10, index=index)
    return {
        "journeys": d.journeys,
        "dfg": _records(d.dfg.to_pylist()),
        "variants": _records(d.variants.to_pylist()),
        "start": d.start.to_pylist(),
        "end": d.end.to_pylist(),
        "labels": kind_labels(events) if params.activity == "kind" else {},
    }


def _discovery(
    ctx: PageContext,
    params: JourneyParams,
    graph: dict[str, Any],
    step_parts: dict[str, Any],
    handovers: list[dict[str, Any]],
) -> dict[str, Any]:
    journey = ctx.app.journey
    steps, owners, dfg = step_parts["steps"], step_parts["owners"], graph["dfg"]
    names = Names(journey, ctx.t, kind_labels=graph["labels"])
    shown = {s["activity"] for s in steps if s["activity"] is not None}
    shown |= {a for v in graph["variants"] for a in v["variant"]}
    shape = dict(
        handovers={(h["from_owner"], h["to_owner"]) for h in handovers},
        journey=journey,
        activity=params.activity,
        color=params.color,
        metric=params.metric,
        lang=ctx.lang,
        owners=owners,
        owner_name=names.owner,
    )
    return {
        "names": {a: names(params.activity, a) for a in sorted(shown)},
        "journeys": graph["journeys"],
        "dfg": dfg,
        "steps": steps,
        "variants": graph["variants"],
        "start": graph["start"],
        "end": graph["end"],
        "handovers": [
            {**h, "from_name": names.owner(h["from_owner"]), "to_name": names.owner(h["to_owner"])}
            for h in handovers
        ],
        "step_owners": owners,
        "map": layout(dfg, steps, orientation="horizontal", **shape),
        "map_phone": layout(dfg, steps, orientation="vertical", max_edges=10, **shape),
    }


def _promises(ctx: PageContext, now: datetime | None) -> dict[str, Any]:
    """Promise rates, and the whole at-risk list as a table: only the rows of the page
    shown are made into records (:func:`_risk_page`; on 10M events the list holds ~10,000
    journeys, and making every one a named, masked record cost 0.4 CPU s of a fresh view)."""
    events, journey = ctx.app.events_table(), ctx.app.journey
    if not journey.promises:
        return {"now": now, "rates": [], "at_risk": None, "promises": []}
    views = _views(ctx, None)
    if views is not None:
        risk_table = derived_promises.at_risk(views, journey, now)
        rates = derived_promises.promise_rates(views, journey, "owner", now=now)
    else:
        risk_table = promises.at_risk(events, journey, now)
        rates = promises.promise_rates(events, journey, "owner", now=now)
    names = {p.id: (p.name_nl if ctx.lang == "nl" else p.name_en) for p in journey.promises}
    return {
        "now": now,
        "promises": [{"id": k, "name": v} for k, v in names.items()],
        "rates": _records(rates.to_pylist()),
        "at_risk": risk_table,
    }


def _risk_rows(
    ctx: PageContext, rows: list[dict[str, Any]], now: datetime | None, masked: bool
) -> list[dict[str, Any]]:
    """At-risk rows as shown: masked for viewers, with the owner's name and the minutes
    until the deadline."""
    risk = _records(rows)
    if masked:
        handles = _handles(ctx)
        risk = [
            {
                **r,
                "customer_id": mask_customer_id(r["customer_id"]),
                "journey_id": handles.of(r["journey_id"]),
            }
            for r in risk
        ]
    owner = Names(ctx.app.journey, ctx.t).owner
    return [
        {
            **r,
            "owner_name": owner(r["owner"]) if r["owner"] else None,
            "due_in_minutes": _minutes_between(now, r["deadline"]),
        }
        for r in risk
    ]


def _risk_page(
    ctx: PageContext,
    params: JourneyParams,
    risk: pa.Table | None,
    now: datetime | None,
    masked: bool,
) -> dict[str, Any]:
    """One page of the at-risk list (the whole list stays cached as a table): ``limit``
    rows from ``offset`` made into records, the ``total``, and the offsets and links of the
    pages before and after (None at either end). A link is the JSON's, made from the
    parameters (not from the request: the page cache shares one computation between the
    page, its JSON and the kept-views job; the HTML page builds its own links)."""
    offset, limit = params.offset, params.limit
    total = risk.num_rows if risk is not None else 0
    pages = max(1, -(-total // limit))
    nxt = offset + limit if offset + limit < total else None
    prev = max(0, min(offset, total) - limit) if offset > 0 else None
    shown = risk.slice(min(offset, total), limit).to_pylist() if risk is not None else []
    return {
        "total": total,
        "offset": offset,
        "limit": limit,
        "next_offset": nxt,
        "prev_offset": prev,
        "next": _link(params, nxt),
        "prev": _link(params, prev),
        "page": min(offset // limit + 1, pages),
        "pages": pages,
        "rows": _risk_rows(ctx, shown, now, masked),
    }


def _link(params: JourneyParams, offset: int | None) -> str | None:
    """The JSON's address for these parameters with ``offset`` set (None for no such page):
    the parameters that differ from their defaults, then ``offset``."""
    if offset is None:
        return None
    default = JourneyParams()
    query = {
        k: v
        for k, v in asdict(params).items()
        if k != "offset" and v not in (None, "") and v != getattr(default, k)
    }
    return f"/api/v1/journeys?{urlencode(query | {'offset': offset})}"


def _minutes_between(now: datetime | None, deadline: datetime | None) -> float | None:
    """Minutes from ``now`` to ``deadline`` (negative once it has passed)."""
    if now is None or deadline is None:
        return None
    return (deadline - now).total_seconds() / 60


def _handles(ctx: PageContext) -> Handles:
    handles: Handles = web_state(ctx.request).security.handles
    return handles


def _viewer_event(
    handles: Handles, row: dict[str, Any], placeholders: dict[str, str]
) -> dict[str, Any]:
    out = mask_record(row, placeholders=placeholders)
    out["journey_id"] = handles.of(row["journey_id"])
    out["event_id"] = handles.of(row["event_id"])
    return out


def _timeline(ctx: PageContext, params: JourneyParams, masked: bool) -> dict[str, Any] | None:
    if not params.journey and not params.customer:
        return None
    journey = params.journey or None  # an empty ?journey= means "not given"
    if masked and not journey:
        raise ApiError(403, "looking up a customer needs the analyst or admin role", "forbidden")
    shown = journey
    if journey and Handles.is_handle(journey):  # a link a viewer shares works for everyone
        journey = _handles(ctx).resolve(journey, ctx.app.events_table()) or "\x00unknown"
    table = timeline(
        ctx.app.events_table(), journey, None if journey else params.customer, limit=500
    )
    rows = _records(table.to_pylist())
    if masked:
        handles = _handles(ctx)
        words = ctx.placeholders
        rows = [_viewer_event(handles, r, words) for r in rows]
        shown = handles.of(journey) if rows else shown
    return {
        "journey": shown,
        "customer": None if masked else params.customer,
        "events": rows,
        "promises": _journey_promises(ctx, journey) if journey else [],
    }


def _journey_promises(ctx: PageContext, journey_id: str) -> list[dict[str, Any]]:
    """The journey's promises: name, deadline, status (kept/broken/open), minutes late."""
    events, journey = ctx.app.events_table(), ctx.app.journey
    if not journey.promises:
        return []
    out = promises.promise_outcomes_expr(events, journey, now=_newest(ctx, _views(ctx, None)))
    rows = _records(out.filter(out.journey_id == journey_id).to_pyarrow().to_pylist())
    names = Names(journey, ctx.t)
    keep = (
        "promise_id",
        "owner",
        "deadline",
        "fulfilled_at",
        "status",
        "minutes_late",
        "at_risk",
        "overdue",
    )
    return [
        {**{k: r[k] for k in keep}, "name": names.promise(r["promise_id"])}
        for r in sorted(rows, key=lambda r: (r["deadline"] is None, r["deadline"]))
    ]


#: A ``late:`` row holding at least this share of its ``broken:`` row's journeys says the
#: same thing (broken = late or not delivered): it is left out.
NEAR_DUPLICATE = 0.9


def merge_near_duplicates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The impact ranking without ``late:<promise>[@owner]`` rows that are (nearly) their
    ``broken:`` row: "Belofte gebroken" and "Te laat" on 3,380 and 3,331 journeys with the
    same effects are one finding. A ``late:`` row that differs stays (worded "Te laat").
    Likewise a ``<condition>@<owner>`` row on exactly the journeys of ``<condition>``."""
    by_condition = {r["condition"]: r for r in rows}
    out = []
    for r in rows:
        kind, _, rest = r["condition"].partition(":")
        twin = by_condition.get(f"broken:{rest}") if kind == "late" else None
        if twin and r["journeys_with"] >= NEAR_DUPLICATE * twin["journeys_with"]:
            continue
        whole = by_condition.get(r["condition"].partition("@")[0])
        if "@" in r["condition"] and whole and whole["journeys_with"] == r["journeys_with"]:
            continue  # one owner holds all of them: the row without the owner says it
        out.append(r)
    return out


def _condition_name(names: Names, condition: str) -> str:
    """A condition in words; ``broken:`` says what it covers ("Te laat of niet bezorgd")."""
    body, _, owner = condition.partition("@")
    kind, _, promise = body.partition(":")
    if kind != "broken":
        return names.condition(condition)
    text = names.w("journeys.condition.broken_or_late", name=names.promise(promise))
    return f"{text} ({names.owner(owner)})" if owner else text


def _ranking(
    ctx: PageContext, views: DerivedViews | None, flt: Scope, now: datetime | None
) -> list[Impact]:
    if views is not None:
        return derived_promises.impact_ranking(views, ctx.app.journey, flt=flt, now=now)
    return impact_ranking(ctx.app.events_table(), ctx.app.journey, flt=flt, now=now)


def _cached(ctx: PageContext, key: tuple[Any, ...], build: Any) -> Any:
    """``build()`` kept per key in the App's caches while the store is unchanged."""
    app = ctx.app
    return app.caches.get("journeys_page", lambda: Results(app.caches, _CACHE_SIZE)).get(key, build)


def journeys_data(ctx: PageContext, params: JourneyParams) -> dict[str, Any]:
    """Everything on the journeys page, as plain data. Each part is cached on what it reads:
    the graph while the store is unchanged (the journey index refreshes only the touched
    journeys), the other parts while the derived views they read are unchanged."""
    masked = not ctx.sees_personal_data
    promise_views = _views(ctx, None)
    newest = _newest(ctx, promise_views)
    flt = _filter(ctx, params, newest)
    views = _views(ctx, flt)
    if views is not None:
        flt = derived_reads.trim_scope(views, ctx.app.journey, flt) or flt
    act, metric = params.activity, params.metric
    graph = _cached(ctx, ("g", flt, act), lambda: _graph(ctx, params, flt))
    step_parts = _part(
        ctx,
        views,
        ("steps", "answers", "journey"),
        ("s", flt, act, metric),
        lambda: _step_parts(ctx, params, flt),
    )
    handovers = _part(
        ctx, views, ("handovers", "journey"), ("h", flt), lambda: _handovers(ctx, flt)
    )
    main = _discovery(ctx, params, graph, step_parts, handovers)
    promise_data = _part(
        ctx,
        promise_views,
        ("promise",),
        (ctx.lang, "p"),
        lambda: _promises(ctx, newest),
        (newest,),
    )
    ranking = _part(
        ctx,
        views,
        ("journey", "answers", "promise"),
        ("i", flt),
        lambda: merge_near_duplicates([i.as_dict() for i in _ranking(ctx, views, flt, newest)])[
            :10
        ],
        (newest,),
    )
    names = Names(ctx.app.journey, ctx.t)
    risk = promise_data["at_risk"]
    return {
        **main,
        "at_risk": _risk_page(ctx, params, risk, promise_data["now"], masked),
        "params": asdict(params),
        "masked": masked,
        "promises": {k: v for k, v in promise_data.items() if k != "at_risk"},
        "impact": [
            {
                **i,
                "name": _condition_name(names, i["condition"]),
                "summary": impact_summary(i, ctx.t, names),
            }
            for i in ranking
        ],
        "timeline": _timeline(ctx, params, masked),
        "options": _options(ctx, promise_views),
    }


def journeys_reads(ctx: PageContext, params: JourneyParams) -> Any:
    """What the default parts of the page read when the kept tables answer them: the
    journey index's stamp (the map and variants), every derived view's version counter,
    the newest event's and answer's times (the period's end, "now" of the promises) and the
    filter menus. None (the store's version) for a timeline (it reads the log), steps by
    event kind (their labels come from the log) or a scope the views cannot answer."""
    if params.journey or params.customer or params.activity == "kind":
        return None
    views, index = _views(ctx, None), ctx.app.journey_index()
    if views is None or index is None:
        return None
    newest = views.newest()
    if newest[0] is None or not derived_reads.supports(_filter(ctx, params, newest[0])):
        return None
    menus = views.options()
    return (
        "journeys",
        index.stamp(),
        tuple(sorted(views.versions().items())),
        newest,
        tuple(menus["channels"]),
        tuple(menus["segments"]),
    )


register_page(
    router,
    PageSpec(
        name="journeys",
        path="/journeys",
        template="journeys.html",
        data=journeys_data,
        params=JourneyParams,
        summary="Journey map, variants, hand-overs, promises, impact, a timeline and one page"
        " of the journeys at risk (limit, offset)",
        reads=journeys_reads,
    ),
)
pagekit.register_guess(
    router, "/journeys/map", "/journeys", "journey-map"
)  # the map is on /journeys
