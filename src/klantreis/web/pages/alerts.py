"""Alerts (``/alerts``): the reader's subscriptions and the alerts they got.

Anyone logged in subscribes to significant moves — everything, the index, one touchpoint or
one owner — by e-mail or webhook, with a daily budget; alerts over the budget are listed, not
sent. The alerts are mover sentences (no personal data). ``/api/v1/alerts`` has the same
data; :mod:`klantreis.act.alerts` decides what fires.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from klantreis.act import alerts
from klantreis.web.pagekit import (
    Filters,
    NavItem,
    PageContext,
    PageSpec,
    page_context,
    register_page,
    render_html,
)
from klantreis.web.state import web_state

router = APIRouter()
NAV = NavItem("/alerts", "nav.alerts", order=80)


def _subjects(ctx: PageContext) -> list[dict[str, str]]:
    names, journey = ctx.names, ctx.app.journey
    out = [
        {"value": "", "label": ctx.t("alerts.subject.all")},
        {"value": "index:", "label": ctx.t("alerts.subject.index")},
    ]
    out += [
        {"value": f"touchpoint:{tp.id}", "label": names("touchpoint", tp.id)}
        for tp in journey.touchpoints
    ]
    out += [{"value": f"owner:{o.id}", "label": names("owner", o.id)} for o in journey.owners]
    return out


def alerts_data(ctx: PageContext, params: Filters) -> dict[str, Any]:
    """The reader's subscriptions (worded) and newest alerts."""
    assert ctx.principal is not None
    user = ctx.principal.name
    subjects = {s["value"]: s["label"] for s in _subjects(ctx)}
    subs = [
        {
            "id": s.subscription_id,
            "channel": s.channel,
            "channel_label": ctx.t(f"alerts.channel.{s.channel}"),
            "target": s.target,
            "subject": subjects.get(f"{s.dimension}:{s.key or ''}" if s.dimension else "", "–"),
            "daily_budget": s.daily_budget,
        }
        for s in alerts.subscriptions(ctx.app.store, user)
    ]
    log = [
        {
            "text": r["text"],
            "status": r["status"],
            "at": r["created_at"].isoformat(),
            "channel": r["channel"],
        }
        for r in alerts.alert_log(ctx.app.store, user)
    ]
    return {"subscriptions": subs, "alerts": log, "subjects": _subjects(ctx)}


register_page(
    router,
    PageSpec(
        name="alerts",
        path="/alerts",
        template="alerts.html",
        data=alerts_data,
        summary="The reader's alert subscriptions and the alerts they got",
        cache=False,
    ),
)


@router.post("/alerts/subscriptions", include_in_schema=False)
def subscribe(
    request: Request,
    ctx: Annotated[PageContext, Depends(page_context)],
    channel: Annotated[str, Form(max_length=20)],
    target: Annotated[str, Form(max_length=500)],
    subject: Annotated[str, Form(max_length=200)] = "",
    daily_budget: Annotated[int, Form(ge=1, le=100)] = 3,
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    assert ctx.principal is not None
    dimension, _, key = subject.partition(":")
    if subject and subject not in {s["value"] for s in _subjects(ctx)}:
        return _page(ctx, error=ctx.t("alerts.error.subject"), status=422)
    try:
        alerts.add_subscription(
            ctx.app.store,
            ctx.principal.name,
            channel,
            target,
            dimension=dimension or None,
            key=key or None,
            daily_budget=daily_budget,
            lang=ctx.lang,
        )
    except ValueError:
        return _page(ctx, error=ctx.t(f"alerts.error.{channel}"), status=422)
    return RedirectResponse("/alerts?" + urlencode({"done": "added"}), status_code=303)


@router.post("/alerts/subscriptions/{subscription_id}/delete", include_in_schema=False)
def unsubscribe(
    request: Request,
    subscription_id: str,
    ctx: Annotated[PageContext, Depends(page_context)],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    assert ctx.principal is not None
    alerts.remove_subscription(ctx.app.store, ctx.principal.name, subscription_id[:64])
    return RedirectResponse("/alerts?" + urlencode({"done": "removed"}), status_code=303)


def _page(ctx: PageContext, error: str, status: int) -> Response:
    response = render_html(
        ctx, "alerts.html", data=alerts_data(ctx, Filters()), params=Filters(), error=error
    )
    response.status_code = status
    return response
