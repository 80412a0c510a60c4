"""The one JSON envelope for every API answer, success or error.

Success: ``{"ok": true, "data": ..., "meta": {...}}``.
Error: ``{"ok": false, "error": {"code": str, "message": str, "details": ...}}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["ApiError", "error_response", "install_error_handlers", "ok_response", "to_jsonable"]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """Raised by handlers for a clean error envelope with a status code."""

    def __init__(
        self, status: int, message: str, code: str | None = None, details: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _HTTP_CODES.get(status, "error")
        self.message = message
        self.details = details


def to_jsonable(value: Any) -> Any:
    """Dates as ISO strings, NaN/inf as null, dataclass-like objects via ``to_dict``."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return to_jsonable(value.item())
    return value


class EnvelopeJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(
            to_jsonable(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")


def ok_response(data: Any, meta: dict[str, Any] | None = None, status: int = 200) -> JSONResponse:
    return EnvelopeJSON({"ok": True, "data": data, "meta": meta or {}}, status_code=status)


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {
        "ok": False,
        "error": {
            "code": code or _HTTP_CODES.get(status, "error"),
            "message": message,
            "details": details,
        },
    }
    return EnvelopeJSON(body, status_code=status, headers=headers)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


async def _api_error(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status == 401 and _wants_html(request):
        from urllib.parse import quote

        from fastapi.responses import RedirectResponse

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
    """A translated HTML page for a logged-in person's browser; None for programs (tokens,
    ``/api/``, no ``text/html`` in Accept) and anonymous visitors: they get JSON."""
    from klantreis.web.pagekit import anonymous_context, render_html

    if not _wants_html(request):
        return None
    try:
        principal = request.app.state.security.principal(request)
        if principal is None or principal.via != "session":
            return None
        ctx = anonymous_context(request)
        ctx.principal = principal
        response = render_html(ctx, template, status=status, **values)
    except Exception:  # an error page must never fail: fall back to the JSON envelope
        import logging

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
    import logging

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
