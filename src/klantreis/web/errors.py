"""How errors reach a client: the JSON envelope for programs, an HTML page or a redirect to
the login for people in a browser.

``install_error_handlers(api)`` maps ``ApiError``, HTTP errors, invalid parameters and
unexpected exceptions to :func:`klantreis.web.envelope.error_response`; a person who is not
logged in is sent to the login page; a logged-in person's browser gets translated HTML
pages: "not for your role" (403), "not found" (404), "invalid choice" (422, naming the
parameters) and "something went wrong" (500). (This was part of ``envelope``, which then had to reach
up to ``pagekit`` for the page: ``envelope`` -> ``pagekit`` -> ``security`` -> ``envelope``.)
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from klantreis.web.envelope import ApiError, error_response
from klantreis.web.pagekit import anonymous_context, render_html
from klantreis.web.state import web_state

__all__ = ["install_error_handlers"]


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


async def _api_error(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status == 401 and _wants_html(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
    if exc.status == 403 and _wants_html(request):
        page = _forbidden_page(request)
        if page is not None:
            return page
    return error_response(exc.status, exc.message, exc.code, exc.details, headers)


def _forbidden_page(request: Request) -> Any:
    """The translated 'not for your role' page for a logged-in person (None: use JSON)."""
    return _person_page(request, 403, "forbidden.html")


def _person_page(request: Request, status: int, template: str, **values: Any) -> Any:
    """A translated HTML page (403, 404, 422, 500) for a logged-in person's browser; None
    for programs (tokens, ``/api/``, no ``text/html`` in Accept) and anonymous visitors:
    they get the JSON envelope."""
    if not _wants_html(request):
        return None
    try:
        principal = web_state(request).security.principal(request)
        if principal is None or principal.via != "session":
            return None
        ctx = anonymous_context(request)
        ctx.principal = principal
        response = render_html(ctx, template, status=status, **values)
    except Exception:  # an error page must never fail: fall back to the JSON envelope
        logging.getLogger(__name__).exception("rendering the %s page failed", status)
        return None
    response.status_code = status
    return response


async def _http_error(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        page = _person_page(request, 404, "error.html")
        if page is not None:
            return page
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, RequestValidationError)
    details = [{"loc": list(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()]
    fields = sorted({str(d["loc"][-1]) for d in details if d["loc"]})
    page = _person_page(request, 422, "error.html", fields=fields)
    if page is not None:
        return page
    return error_response(422, "invalid request parameters", "invalid_input", details)


async def _unexpected(request: Request, exc: Exception) -> Any:
    logging.getLogger(__name__).exception("unhandled error on %s", request.url.path)
    page = _person_page(request, 500, "error.html")
    if page is not None:
        return page
    return error_response(500, "internal error", "internal_error")


def install_error_handlers(api: Any) -> None:
    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(Exception, _unexpected)
