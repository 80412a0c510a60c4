"""Log in and out. The login form is protected by the signed double-submit CSRF token."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from klantreis.services import accounts
from klantreis.web.pagekit import anonymous_context, render_html
from klantreis.web.security import SESSION_COOKIE, SESSION_MAX_AGE

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only local paths: never redirect to another site after login."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return parts.path + (f"?{parts.query}" if parts.query else "") if not parts.netloc else "/"


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    ctx = anonymous_context(request)
    return render_html(
        ctx, "login.html", next=_safe_next(next), error=None, demo=ctx.app.settings.demo_mode
    )


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    security = request.app.state.security
    security.check_csrf(request, csrf_token)
    ctx = anonymous_context(request)
    user = accounts.authenticate(ctx.app.store, username, password)
    if user is None:
        response = render_html(
            ctx,
            "login.html",
            next=_safe_next(next),
            error=ctx.t("login.failed"),
            demo=ctx.app.settings.demo_mode,
        )
        response.status_code = 401
        return response
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        security.session_value(user),
        httponly=True,
        samesite="lax",
        secure=security.secure(request),
        max_age=SESSION_MAX_AGE,
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form(max_length=500)] = "") -> Response:
    request.app.state.security.check_csrf(request, csrf_token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
