"""The respondent's side of a survey: the personal-link form, the widget's endpoints and the
responses API.

* ``GET /s/{token}`` — one question per page, server-rendered, no JavaScript, no login, no
  cookies, nothing personal shown. Each answer is saved when it is sent, so a link opened
  again continues at the first unanswered question ("Previous question" goes back one).
  ``?lang=`` overrides the invitation's language (texts follow the survey's fallback chain).
* ``POST /s/{token}`` — saves one answer (errors: 422 with an error summary and the message
  tied to the question by ``aria-describedby``); after the last question the response is
  finished: ``survey.response`` events through the server's single writer, the invitation
  answered in the ledger, one ``response.finished`` webhook. Posts are limited per client
  address (``survey_posts_per_minute``: 429) and in size (413).
* ``GET /s/{token}/thanks`` — the thank-you page.
* A refused link gets a page saying why: invalid (404), expired (410), already answered
  (409), survey no longer available (410).
* The widget (``/static/survey-widget.js``, see docs/surveys.md): ``GET /s/widget/ask`` asks
  the server whether this customer may be asked now (the server-side fatigue decision,
  :data:`klantreis.listen.widget.MayAsk`), and gets the questions and a signed link token;
  ``POST /s/widget/{token}`` sends the answers. Both answer any origin without credentials
  (CORS ``*``; the widget sends no cookies).
* ``POST /api/v1/surveys/{survey_id}/responses`` — a whole response from a program (token
  with the ``ingest`` scope).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from klantreis.app import App
from klantreis.ingest.writer import Rejected
from klantreis.listen import ledger, responses
from klantreis.listen.form import form_lang, survey_view, ui_lang
from klantreis.listen.ledger import Invitation
from klantreis.listen.links import Links, Verified, link_base
from klantreis.listen.widget import (
    MayAsk,
    check_customer,
    simple_may_ask,
    widget_invitation,
    widget_secret,
)
from klantreis.model.survey import Survey, SurveyConfig, SurveyConfigError
from klantreis.settings import Settings, SettingsError
from klantreis.web.envelope import ApiError, ok_response
from klantreis.web.state import WebState, web_state
from klantreis.wording import Wording

__all__ = ["SurveyRuntime", "router", "runtime"]

log = logging.getLogger(__name__)
router = APIRouter()

#: The largest form or widget post accepted (bytes).
MAX_POST_BYTES = 256 * 1024
#: HTTP status of each refusal.
REFUSAL_STATUS = {
    "bad_signature": 404,
    "unknown": 404,
    "expired": 410,
    "already_answered": 409,
    "unavailable": 410,
}
_CORS = {"Access-Control-Allow-Origin": "*", "Vary": "Origin"}


class PostLimit:
    """Posts per client address in a sliding minute, in this process's memory."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute, self.clock = per_minute, clock
        self._times: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, address: str) -> bool:
        now = self.clock()
        with self._lock:
            if len(self._times) > 50_000:
                self._times.clear()
            times = self._times.setdefault(address, deque())
            while times and now - times[0] >= 60:
                times.popleft()
            if len(times) >= self.per_minute:
                return False
            times.append(now)
            return True


@dataclass
class SurveyRuntime:
    """What the survey routes share per App: the link signer, the post limit, the surveys
    file (re-read when it changes) and the fatigue decision (``may_ask``, replaceable)."""

    app: App
    links: Links
    limit: PostLimit
    may_ask: MayAsk | None = None
    recovered: bool = False

    def config(self) -> SurveyConfig | None:
        """The App's surveys (``App.surveys``: one reader, re-read when the file changes);
        None when the file has problems (:meth:`problems` lists them)."""
        try:
            return self.app.surveys
        except SurveyConfigError:
            return None

    def problems(self) -> list[str]:
        try:
            _ = self.app.surveys
        except SurveyConfigError as exc:
            return list(exc.problems)
        return []

    def survey(self, survey_id: str) -> Survey | None:
        config = self.config()
        return config.survey(survey_id) if config else None

    def decide(self, customer_id: str, survey_id: str) -> tuple[bool, str]:
        config = self.config()
        if config is None:
            return False, "unknown_survey"
        decide = self.may_ask or simple_may_ask(self.app.store, config)
        return decide(customer_id, survey_id)


def runtime(app: App) -> SurveyRuntime:
    """The :class:`SurveyRuntime` of ``app`` (made on first use; its tables ensured)."""

    def make() -> SurveyRuntime:
        responses.ensure_schema(app.store)
        return SurveyRuntime(app, app.links, PostLimit(app.settings.survey_posts_per_minute))

    return app.caches.get("surveys_runtime", make)


# -- finishing through the single writer --------------------------------------------------
async def finish(state: WebState, survey: Survey, invitation: Invitation) -> None:
    """Close the response (if not yet), write its events through the server's writer and
    settle it (ledger, webhook); safe to repeat."""
    store = state.app.store
    responses.close(store, survey, invitation.invitation_id)
    records = responses.closed_records(store, survey, invitation)
    try:
        await state.writer.submit(records)
    except Rejected as exc:  # our own records: a bug, not the respondent's fault
        log.error("survey.response events refused: %s", exc.details[:3])
        raise ApiError(500, "the answer could not be stored", "internal_error") from exc
    responses.settle(store, invitation)


async def recover_once(state: WebState) -> None:
    """Record responses closed before a crash (once per App, on the first survey request)."""
    rt = runtime(state.app)
    if rt.recovered:
        return
    rt.recovered = True
    for inv_id in responses.unrecorded(state.app.store):
        invitation = ledger.get(state.app.store, inv_id)
        survey = rt.survey(invitation.survey_id) if invitation else None
        if invitation and survey:
            await finish(state, survey, invitation)


# -- pages ---------------------------------------------------------------------------------
def _render(state: WebState, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = state.templates.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers={"X-Robots-Tag": "noindex"})


def _message(
    state: WebState, lang: str, reason: str, status: int, survey: Survey | None = None
) -> HTMLResponse:
    base = lang.split("-")[0]
    w = Wording(ui_lang(lang, survey) if survey else base if base in ("nl", "en") else "nl")
    if reason == "thanks" and survey is not None:
        view = survey_view(survey, lang)
        title, text = w("survey.thanks.title"), view["thanks"]
    else:
        title, text = w("survey.refused.title"), w(f"survey.refused.{reason}")
    return _render(
        state,
        "survey_message.html",
        status,
        html_lang=lang,
        title=title,
        text=text,
        reason=reason,
    )


def _asked_lang(request: Request) -> str | None:
    lang = request.query_params.get("lang")
    return lang[:10] if lang else None


def _refused(state: WebState, request: Request, reason: str) -> HTMLResponse:
    lang = _asked_lang(request) or state.app.settings.language
    return _message(state, lang, reason, REFUSAL_STATUS.get(reason, 404))


@dataclass
class _Open:
    link: Verified
    invitation: Invitation
    survey: Survey
    lang: str


def _open(state: WebState, request: Request, token: str) -> _Open | HTMLResponse:
    rt = runtime(state.app)
    link = rt.links.verify(token)
    if not isinstance(link, Verified):
        return _refused(state, request, link)
    invitation = ledger.get(state.app.store, link.invitation_id)
    survey = rt.survey(link.survey_id)
    if invitation is None or survey is None or not survey.active:
        return _refused(state, request, "unavailable")
    return _Open(link, invitation, survey, form_lang(_asked_lang(request), invitation.lang, survey))


def _lang_query(request: Request) -> str:
    lang = _asked_lang(request)
    return "?" + urllib.parse.urlencode({"lang": lang}) if lang else ""


def _form_page(
    state: WebState,
    request: Request,
    token: str,
    o: _Open,
    question_id: str | None = None,
    value: Any = None,
    error: str | None = None,
) -> HTMLResponse:
    saved = responses.answers(state.app.store, o.invitation.invitation_id)
    ids = [q.id for q in o.survey.questions]
    upto = responses.next_question(o.survey, saved)
    limit = ids.index(upto.id) if upto else len(ids) - 1
    index = ids.index(question_id) if question_id in ids else limit
    index = min(index, limit)
    view = survey_view(o.survey, o.lang)
    w = Wording(ui_lang(o.lang, o.survey))
    q = view["questions"][index]
    query = _lang_query(request)
    back = None
    if index > 0:
        back_params = {"q": ids[index - 1]} | ({"lang": o.lang} if _asked_lang(request) else {})
        back = f"/s/{token}?" + urllib.parse.urlencode(back_params)
    return _render(
        state,
        "survey_form.html",
        422 if error else 200,
        html_lang=o.lang,
        t=w,
        survey=view,
        q=q,
        value=value if error else saved.get(q["id"]),
        error=error,
        first=index == 0,
        last=index == len(ids) - 1,
        position=index + 1,
        total=len(ids),
        action=f"/s/{token}{query}",
        back=back,
    )


@router.get("/s/{token}", include_in_schema=False, response_class=HTMLResponse)
async def form_page(request: Request, token: str) -> Response:
    state = web_state(request)
    await recover_once(state)
    o = _open(state, request, token)
    if isinstance(o, HTMLResponse):
        return o
    saved = responses.answers(state.app.store, o.invitation.invitation_id)
    if saved and responses.next_question(o.survey, saved) is None:
        await finish(state, o.survey, o.invitation)  # answered in full before a crash
        return RedirectResponse(f"/s/{token}/thanks{_lang_query(request)}", status_code=303)
    return _form_page(state, request, token, o, request.query_params.get("q"))


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _client(request: Request) -> str:
    return request.client.host if request.client else "-"


async def _guarded_body(request: Request, lang: str | None) -> bytes | HTMLResponse:
    """The post's body, or the page refusing it (too many posts, too large)."""
    state = web_state(request)
    lang = lang or state.app.settings.language
    if not runtime(state.app).limit.allow(_client(request)):
        page = _message(state, lang, "too_many", 429)
        page.headers["Retry-After"] = "60"
        return page
    body = await _read_body(request, MAX_POST_BYTES)
    if body is None:
        return _message(state, lang, "too_large", 413)
    return body


def _form_fields(body: bytes) -> dict[str, list[str]] | None:
    try:
        return urllib.parse.parse_qs(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=50, strict_parsing=False
        )
    except (UnicodeDecodeError, ValueError):
        return None


def _error_text(w: Wording, survey: Survey, exc: responses.AnswerError) -> str:
    q = next((q for q in survey.questions if q.id == exc.question_id), None)
    return w(f"survey.error.{exc.code}", max=w.number(q.max_length if q else 0, 0))


@router.post("/s/{token}", include_in_schema=False, response_class=HTMLResponse)
async def form_post(request: Request, token: str) -> Response:
    body = await _guarded_body(request, _asked_lang(request))
    if isinstance(body, HTMLResponse):
        return body
    state = web_state(request)
    await recover_once(state)
    o = _open(state, request, token)
    if isinstance(o, HTMLResponse):
        return o
    fields = _form_fields(body)
    if fields is None:
        return _message(state, o.lang, "too_large", 413, o.survey)
    qid = (fields.get("question") or [""])[0]
    question = next((q for q in o.survey.questions if q.id == qid), None)
    if question is None:
        return _form_page(state, request, token, o)
    given = fields.get(qid, [])
    raw: Any = given if question.type == "multiple" else (given[0] if given else None)
    store = state.app.store
    responses.open_response(store, o.invitation, "form", o.lang)
    try:
        responses.save_answer(store, o.survey, o.invitation.invitation_id, qid, raw)
    except responses.Closed:
        return _refused(state, request, "already_answered")
    except responses.AnswerError as exc:
        w = Wording(ui_lang(o.lang, o.survey))
        return _form_page(state, request, token, o, qid, raw, _error_text(w, o.survey, exc))
    saved = responses.answers(store, o.invitation.invitation_id)
    query = _lang_query(request)
    if responses.next_question(o.survey, saved) is None:
        try:
            await finish(state, o.survey, o.invitation)
        except responses.AnswerError as exc:  # a required question skipped via "back"
            return _form_page(state, request, token, o, exc.question_id)
        return RedirectResponse(f"/s/{token}/thanks{query}", status_code=303)
    return RedirectResponse(f"/s/{token}{query}", status_code=303)


@router.get("/s/{token}/thanks", include_in_schema=False, response_class=HTMLResponse)
def thanks_page(request: Request, token: str) -> Response:
    state = web_state(request)
    rt = runtime(state.app)
    link = rt.links.check_signature(token)
    if link is None or not responses.is_finished(state.app.store, link.invitation_id):
        return _refused(state, request, "bad_signature")
    survey = rt.survey(link.survey_id)
    invitation = ledger.get(state.app.store, link.invitation_id)
    if survey is None or invitation is None:
        return _refused(state, request, "unavailable")
    lang = form_lang(_asked_lang(request), invitation.lang, survey)
    return _message(state, lang, "thanks", 200, survey)


# -- the widget ----------------------------------------------------------------------------
def _cors(payload: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status, headers=_CORS)


def _identity_refused(
    settings: Settings, customer: str, expires: str | None, sig: str | None, lang: str | None
) -> Response | None:
    """A 403 (or 503 when the widget has no secret) in the widget's envelope, or None when
    the shop's signature of ``customer`` is valid."""
    base = (lang or settings.language).split("-")[0]
    w = Wording(base if base in ("nl", "en") else settings.language)
    try:
        secret = widget_secret(settings)
    except SettingsError:
        log.warning("the survey widget is off: KLANTREIS_WIDGET_SECRET is not set")
        error = {"code": "widget_not_configured", "message": w("listen.widget.not_configured")}
        return _cors({"ok": False, "error": error}, 503)
    reason = check_customer(secret, customer, expires, sig)
    if reason is None:
        return None
    return _cors(
        {"ok": False, "error": {"code": reason, "message": w(f"listen.widget.{reason}")}}, 403
    )


@router.get("/s/widget/ask", include_in_schema=False)
async def widget_ask(
    request: Request,
    survey: Annotated[str, Query(max_length=100, pattern=r"^[a-z][a-z0-9_]*$")],
    customer: Annotated[str, Query(min_length=1, max_length=200)],
    journey: Annotated[str | None, Query(max_length=200)] = None,
    lang: Annotated[str | None, Query(max_length=10)] = None,
    expires: Annotated[str | None, Query(max_length=20)] = None,
    sig: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """The server's fatigue decision for ``customer`` and ``survey``; when yes, the survey's
    questions in the customer's language and a signed token to answer with (valid two
    hours, one per customer, survey and day). ``customer`` must come with the shop's
    signature (``expires``, ``sig``: :func:`klantreis.listen.widget.check_customer`)."""
    state = web_state(request)
    rt = runtime(state.app)
    if not rt.limit.allow(_client(request)):
        return _cors({"ok": False, "error": {"code": "too_many_requests"}}, 429)
    refused = _identity_refused(state.app.settings, customer, expires, sig, lang)
    if refused is not None:
        return refused
    await recover_once(state)
    found = rt.survey(survey)
    allowed, reason = rt.decide(customer, survey)
    if found is None or not allowed:
        return _cors({"ok": True, "data": {"ask": False, "reason": reason}})
    chosen = form_lang(lang, None, found)
    invitation = widget_invitation(state.app.store, survey, customer, chosen, journey)
    if responses.is_finished(state.app.store, invitation.invitation_id):
        return _cors({"ok": True, "data": {"ask": False, "reason": "already_answered"}})
    assert invitation.expires_at is not None
    token = rt.links.token(invitation.invitation_id, survey, invitation.expires_at)
    link = f"{link_base(state.app.settings, str(request.base_url))}/s/{token}"
    w = Wording(ui_lang(chosen, found))
    view = survey_view(found, chosen) | {
        "send": w("survey.form.send"),
        "required_mark": w("survey.form.required"),
        "errors_title": w("survey.form.errors_title"),
    }
    return _cors(
        {
            "ok": True,
            "data": {"ask": True, "reason": "ok", "token": token, "link": link, "survey": view},
        }
    )


@router.post("/s/widget/{token}", include_in_schema=False)
async def widget_answer(request: Request, token: str) -> Response:
    """The widget's answers as a JSON object ``{"answers": {question id: value}}`` (sent as
    text/plain, so no preflight is needed)."""
    state = web_state(request)
    await recover_once(state)
    body = await _guarded_body(request, None)
    if isinstance(body, HTMLResponse):
        code = "too_many_requests" if body.status_code == 429 else "too_large"
        return _cors({"ok": False, "error": {"code": code}}, body.status_code)
    rt = runtime(state.app)
    link = rt.links.verify(token)
    if not isinstance(link, Verified):
        return _cors({"ok": False, "error": {"code": link}}, REFUSAL_STATUS[link])
    invitation = ledger.get(state.app.store, link.invitation_id)
    survey = rt.survey(link.survey_id)
    if invitation is None or survey is None:
        return _cors({"ok": False, "error": {"code": "unavailable"}}, 410)
    try:
        given = json.loads(body or b"{}").get("answers", {})
        if not isinstance(given, dict):
            raise ValueError("answers must be an object")
    except (ValueError, AttributeError):
        return _cors({"ok": False, "error": {"code": "invalid_json"}}, 400)
    result = await _save_and_finish(state, survey, invitation, given, "widget", invitation.lang)
    if result is not None:
        w = Wording(ui_lang(invitation.lang or survey.default_lang, survey))
        return _cors(
            {
                "ok": False,
                "error": {
                    "code": result.code,
                    "question_id": result.question_id,
                    "message": _error_text(w, survey, result),
                },
            },
            409 if isinstance(result, responses.Closed) else 422,
        )
    view = survey_view(survey, invitation.lang or survey.default_lang)
    return _cors({"ok": True, "data": {"thanks": view["thanks"]}})


async def _save_and_finish(
    state: WebState,
    survey: Survey,
    invitation: Invitation,
    given: dict[str, Any],
    via: responses.Via,
    lang: str | None,
) -> responses.AnswerError | None:
    try:
        responses.save_all(state.app.store, survey, invitation, given, via, lang)
    except responses.AnswerError as exc:
        return exc
    await finish(state, survey, invitation)
    return None


# -- the API ---------------------------------------------------------------------------------
@router.post(
    "/api/v1/surveys/{survey_id}/responses",
    tags=["surveys"],
    summary="A whole response to an invitation (token with the 'ingest' scope)",
)
async def api_response(
    request: Request,
    survey_id: str,
    invitation_id: Annotated[str, Body(max_length=100)],
    answers: Annotated[dict[str, Any], Body()],
    lang: Annotated[str | None, Body(max_length=10)] = None,
) -> Response:
    state = web_state(request)
    principal = state.security.principal(request)
    if principal is None or principal.via != "token":
        raise ApiError(401, "send an API token with the 'ingest' scope", "unauthorized")
    if "ingest" not in principal.scopes:
        raise ApiError(403, "this token has no 'ingest' scope", "forbidden")
    await recover_once(state)
    rt = runtime(state.app)
    survey = rt.survey(survey_id)
    invitation = ledger.get(state.app.store, invitation_id)
    if survey is None or invitation is None or invitation.survey_id != survey_id:
        raise ApiError(404, "no such survey or invitation", "not_found")
    if len(answers) > len(survey.questions):
        raise ApiError(422, "more answers than questions", "invalid_answers")
    result = await _save_and_finish(state, survey, invitation, answers, "api", lang)
    if isinstance(result, responses.Closed):
        raise ApiError(409, "this invitation was answered already", "already_answered")
    if result is not None:
        raise ApiError(422, f"answer to '{result.question_id}': {result.code}", "invalid_answers")
    return ok_response(
        {
            "response_id": responses.response_id(invitation_id),
            "invitation_id": invitation_id,
            "finished": True,
        }
    )
