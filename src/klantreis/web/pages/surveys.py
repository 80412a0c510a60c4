"""Survey pages for analysts and admins.

* ``/surveys`` (and ``/api/v1/surveys``, the same data): every survey with its trigger, its
  questions, invitations sent, finished responses and the response rate.
* ``/surveys/edit``: the surveys file in a text area. Saving checks it in full with
  :mod:`klantreis.model.survey` and the journey (every problem listed, nothing saved when
  there is one) and writes it atomically (:func:`klantreis.listen.survey_file.save_surveys`);
  CSRF-protected like every form.
* ``/surveys/{survey_id}/preview``: the real respondent form in Dutch and English, not
  submittable.
* ``/surveys/webhooks`` (admins): the ``response.finished`` subscriptions, add and remove,
  and a button that sends a real signed sample payload.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from klantreis.listen import webhooks_out
from klantreis.listen.form import survey_view
from klantreis.listen.survey_file import save_surveys, survey_text, writable_path
from klantreis.model.survey import SurveyConfigError
from klantreis.web.envelope import ApiError, ok_response
from klantreis.web.pagekit import PageContext, render_html, require_role
from klantreis.web.pages.admin import RoleNavItem
from klantreis.web.pages.survey_form import runtime
from klantreis.web.state import web_state
from klantreis.wording import Wording

__all__ = ["NAV", "router", "surveys_data"]

router = APIRouter()
NAV = RoleNavItem("/surveys", "nav.surveys", order=60, roles=("analyst", "admin"))
ANALYST = require_role("analyst", "admin")
ADMIN = require_role("admin")
SURVEY_ID = Path(pattern=r"^[a-z][a-z0-9_]*$", max_length=100, description="The survey's id.")


def _counts(ctx: PageContext) -> dict[str, dict[str, int]]:
    rows = ctx.app.store.query(
        "SELECT i.survey_id, count(*) FILTER (WHERE i.status IN ('sent', 'answered', 'expired'))"
        " AS sent, count(r.finished_at) AS responses"
        " FROM survey_invitations i LEFT JOIN survey_responses r USING (invitation_id)"
        " GROUP BY i.survey_id"
    ).to_pylist()
    return {r["survey_id"]: r for r in rows}


def surveys_data(ctx: PageContext) -> dict[str, Any]:
    """Every survey with its trigger, questions, invitations sent, finished responses and
    response rate (keys and numbers; names in the page's language)."""
    rt = runtime(ctx.app)
    config = rt.config()
    counts = _counts(ctx)
    out = []
    for s in config.surveys if config else []:
        c = counts.get(s.id, {"sent": 0, "responses": 0})
        out.append(
            {
                "id": s.id,
                "name": s.name(ctx.lang),
                "active": s.active,
                "trigger": s.trigger.after,
                "trigger_name": ctx.names.kind(s.trigger.after),
                "questions": len(s.questions),
                "invitations": c["sent"],
                "responses": c["responses"],
                "rate": c["responses"] / c["sent"] if c["sent"] else None,
            }
        )
    return {
        "surveys": out,
        "problems": rt.problems(),
        "editable": writable_path(ctx.app.settings) is not None,
    }


@router.get("/surveys", include_in_schema=False, response_class=HTMLResponse, name="page_surveys")
def surveys_page(ctx: Annotated[PageContext, Depends(ANALYST)]) -> Response:
    return render_html(ctx, "surveys.html", data=surveys_data(ctx), page="surveys")


@router.get("/api/v1/surveys", tags=["pages"], summary="Surveys with response counts")
def surveys_api(ctx: Annotated[PageContext, Depends(ANALYST)]) -> Response:
    return ok_response(surveys_data(ctx), {"lang": ctx.lang})


# -- the editor ------------------------------------------------------------------------------
def _editor(
    ctx: PageContext,
    text: str,
    problems: list[str] | None = None,
    saved: int | None = None,
    status: int = 200,
) -> Response:
    response = render_html(
        ctx,
        "survey_edit.html",
        text=text,
        problems=problems or [],
        saved=saved,
        editable=writable_path(ctx.app.settings) is not None,
        page="survey_edit",
    )
    response.status_code = status
    return response


@router.get("/surveys/edit", include_in_schema=False, response_class=HTMLResponse)
def edit_page(ctx: Annotated[PageContext, Depends(ANALYST)]) -> Response:
    q = ctx.request.query_params.get("saved", "")
    return _editor(ctx, survey_text(ctx.app.settings), saved=int(q) if q.isdigit() else None)


@router.post("/surveys/edit", include_in_schema=False)
def edit_save(
    request: Request,
    ctx: Annotated[PageContext, Depends(ANALYST)],
    text: Annotated[str, Form(max_length=200_000)],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    if writable_path(ctx.app.settings) is None:
        return _editor(ctx, text, [ctx.t("surveys.edit.read_only")], status=409)
    try:
        config = save_surveys(ctx.app.settings, text.replace("\r\n", "\n"), ctx.app.journey)
    except SurveyConfigError as exc:
        return _editor(ctx, text, exc.problems, status=422)
    return RedirectResponse(f"/surveys/edit?saved={len(config.surveys)}", status_code=303)


# -- the preview ------------------------------------------------------------------------------
@router.get("/surveys/{survey_id}/preview", include_in_schema=False, response_class=HTMLResponse)
def preview_page(
    ctx: Annotated[PageContext, Depends(ANALYST)],
    survey_id: Annotated[str, SURVEY_ID],
) -> Response:
    survey = runtime(ctx.app).survey(survey_id)
    if survey is None:
        raise ApiError(404, "no such survey", "not_found")
    views = [
        survey_view(survey, lang) | {"lang_name": ctx.t(f"surveys.lang.{lang}"), "t": Wording(lang)}
        for lang in ("nl", "en")
    ]
    html = (
        web_state(ctx.request)
        .templates.get_template("survey_preview.html")
        .render(html_lang=ctx.lang, t=ctx.t, views=views, title=survey.name(ctx.lang))
    )
    return HTMLResponse(html)


# -- webhooks ----------------------------------------------------------------------------------
def _webhooks_page(ctx: PageContext, status: int = 200, **extra: Any) -> Response:
    subs = [s.to_dict() for s in webhooks_out.list_subscriptions(ctx.app.store)]
    q = ctx.request.query_params
    response = render_html(
        ctx,
        "survey_webhooks.html",
        subscriptions=subs,
        page="survey_webhooks",
        done=q.get("done", "")[:20],
        **({"secret": None, "test": None, "error": None} | extra),
    )
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/surveys/webhooks", include_in_schema=False, response_class=HTMLResponse)
def webhooks_page(ctx: Annotated[PageContext, Depends(ADMIN)]) -> Response:
    return _webhooks_page(ctx)


@router.post("/surveys/webhooks", include_in_schema=False)
def webhooks_add(
    request: Request,
    ctx: Annotated[PageContext, Depends(ADMIN)],
    url: Annotated[str, Form(max_length=2000)],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    try:
        sub = webhooks_out.add_subscription(ctx.app.store, url)
    except ValueError:
        return _webhooks_page(ctx, 422, error=ctx.t("surveys.webhooks.bad_url"))
    return _webhooks_page(ctx, secret=sub.secret)


def _subscription(ctx: PageContext, subscription_id: str) -> webhooks_out.Subscription:
    found = [
        s
        for s in webhooks_out.list_subscriptions(ctx.app.store)
        if s.subscription_id == subscription_id
    ]
    if not found:
        raise ApiError(404, "no such webhook", "not_found")
    return found[0]


@router.post("/surveys/webhooks/{subscription_id}/remove", include_in_schema=False)
def webhooks_remove(
    request: Request,
    ctx: Annotated[PageContext, Depends(ADMIN)],
    subscription_id: Annotated[str, Path(max_length=40)],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    webhooks_out.remove_subscription(
        ctx.app.store, _subscription(ctx, subscription_id).subscription_id
    )
    return RedirectResponse("/surveys/webhooks?" + urlencode({"done": "removed"}), status_code=303)


@router.post("/surveys/webhooks/{subscription_id}/test", include_in_schema=False)
def webhooks_test(
    request: Request,
    ctx: Annotated[PageContext, Depends(ADMIN)],
    subscription_id: Annotated[str, Path(max_length=40)],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Send the sample payload now and show what the receiver answered."""
    web_state(request).security.check_csrf(request, csrf_token)
    sub = _subscription(ctx, subscription_id)
    delivery = webhooks_out.send_test(sub, timeout=10.0)
    if delivery.ok:
        message = ctx.t("surveys.webhooks.test_ok", status=delivery.status)
    else:
        message = ctx.t(
            "surveys.webhooks.test_failed",
            error=f"HTTP {delivery.status}" if delivery.status else (delivery.error or "?"),
        )
    return _webhooks_page(ctx, test={"ok": delivery.ok, "message": message})
