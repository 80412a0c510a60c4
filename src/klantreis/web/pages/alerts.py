"""Alerts (``/alerts``): the reader's subscriptions and the alerts they got.

Anyone logged in subscribes to significant moves — everything, the index, one touchpoint or
one owner, or the follow-up cases that escalate (of every owner or one) — by e-mail, webhook or Web Push to their devices, with a daily budget; alerts
over the budget are listed, not sent. The alerts are mover sentences (no personal data).
``/api/v1/alerts`` has the same data; :mod:`klantreis.act.alerts` decides what fires.

Web Push is a progressive enhancement: ``/static/push.js`` asks the browser for a push
subscription with the server's VAPID public key and posts it (CSRF-checked) to
``/alerts/push``; without JavaScript or push support the page says so, and the devices can
still be removed with a plain form. :mod:`klantreis.act.push` keeps the devices.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from klantreis.act import alerts, push
from klantreis.outbox.hosts import allowed_hosts, host_allowed
from klantreis.settings import SettingsError
from klantreis.web.envelope import ApiError, ok_response
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

log = logging.getLogger(__name__)
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
    out.append({"value": "case:", "label": ctx.t("alerts.subject.cases")})
    out += [
        {
            "value": f"case:{o.id}",
            "label": ctx.t("alerts.subject.cases_owner", owner=names("owner", o.id)),
        }
        for o in journey.owners
    ]
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
    return {
        "subscriptions": subs,
        "alerts": log,
        "subjects": _subjects(ctx),
        "push": _push_data(ctx, user),
    }


def _push_key(ctx: PageContext) -> str | None:
    """The VAPID public key, or None when push is off (or its settings cannot work)."""
    try:
        key = ctx.app.push_key
    except SettingsError:
        log.warning("push is off: its settings cannot be used", exc_info=True)
        return None
    return key.public_text if key is not None else None


def _push_data(ctx: PageContext, user: str) -> dict[str, Any]:
    public = _push_key(ctx)
    return {
        "available": public is not None,
        "public_key": public,
        "devices": [
            {
                "id": d.device_id,
                "service": d.service,
                "added": d.created_at.isoformat() if d.created_at else None,
            }
            for d in push.devices(ctx.app.store, user)
        ],
    }


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
    target: Annotated[str, Form(max_length=500)] = "",
    subject: Annotated[str, Form(max_length=200)] = "",
    daily_budget: Annotated[int, Form(ge=1, le=100)] = 3,
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    assert ctx.principal is not None
    dimension, _, key = subject.partition(":")
    if subject and subject not in {s["value"] for s in _subjects(ctx)}:
        return _page(ctx, error=ctx.t("alerts.error.subject"), status=422)
    if channel == "push" and _push_key(ctx) is None:
        return _page(ctx, error=ctx.t("push.off"), status=422)
    hosts = allowed_hosts(ctx.app.settings.alert_webhook_hosts)
    if channel == "webhook" and ctx.principal.role != "admin" and not host_allowed(target, hosts):
        # the server posts to it: only an admin may aim it beyond the chat services listed
        return _page(ctx, error=ctx.t("alerts.error.webhook_host"), status=422)
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


@router.post("/alerts/push", include_in_schema=False)
def push_subscribe(
    request: Request,
    ctx: Annotated[PageContext, Depends(page_context)],
    endpoint: Annotated[str, Form(max_length=push.MAX_ENDPOINT_CHARS)],
    p256dh: Annotated[str, Form(max_length=200)],
    auth: Annotated[str, Form(max_length=100)],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Store this device's push subscription (from ``push.js``); the first device of a user
    without a push alert subscription gets one for everything (budget 3), so turning push
    on is one tap. JSON: the device and whether a subscription was added."""
    web_state(request).security.check_csrf(request, csrf_token)
    assert ctx.principal is not None
    if _push_key(ctx) is None:
        raise ApiError(409, ctx.t("push.off"), "push_off")
    user = ctx.principal.name
    try:
        device = push.add_device(
            ctx.app.store,
            user,
            endpoint,
            p256dh,
            auth,
            max_devices=ctx.app.settings.push_max_devices,
            hosts=allowed_hosts(ctx.app.settings.push_service_hosts),
        )
    except ValueError as exc:
        raise ApiError(422, ctx.t("push.error.invalid"), "invalid", str(exc)) from None
    added = not any(s.channel == "push" for s in alerts.subscriptions(ctx.app.store, user))
    if added:
        alerts.add_subscription(ctx.app.store, user, "push", "", lang=ctx.lang)
    return ok_response({"device": device.device_id, "subscription_added": added})


@router.post("/alerts/push/remove", include_in_schema=False)
def push_unsubscribe(
    request: Request,
    ctx: Annotated[PageContext, Depends(page_context)],
    endpoint: Annotated[str, Form(max_length=push.MAX_ENDPOINT_CHARS)],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Forget this device (``push.js`` when push is turned off here)."""
    web_state(request).security.check_csrf(request, csrf_token)
    assert ctx.principal is not None
    removed = push.remove_device(
        ctx.app.store, ctx.principal.name, push.device_id_for(endpoint.strip())
    )
    return ok_response({"removed": removed})


@router.post("/alerts/push/{device_id}/delete", include_in_schema=False)
def push_delete(
    request: Request,
    device_id: str,
    ctx: Annotated[PageContext, Depends(page_context)],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Remove one of the reader's devices (a plain form: works without JavaScript)."""
    web_state(request).security.check_csrf(request, csrf_token)
    assert ctx.principal is not None
    push.remove_device(ctx.app.store, ctx.principal.name, device_id[:64])
    return RedirectResponse("/alerts?" + urlencode({"done": "push_removed"}), status_code=303)


def _page(ctx: PageContext, error: str, status: int) -> Response:
    response = render_html(
        ctx, "alerts.html", data=alerts_data(ctx, Filters()), params=Filters(), error=error
    )
    response.status_code = status
    return response
