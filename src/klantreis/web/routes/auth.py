"""Log in and out. The login form is protected by the signed double-submit CSRF token.

Logging in starts a session stored server-side and issues a CSRF token bound to it; logging
out ends that session in the store, so a captured copy of the cookie no longer works.

Failed logins are throttled per user name and per client address
(:class:`klantreis.web.security.LoginThrottle`): once over the limit, the form answers 429
with a message saying when to try again, without checking the password.
"""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from klantreis.access import accounts
from klantreis.web.pagekit import PageContext, anonymous_context, render_html
from klantreis.web.security import CSRF_COOKIE, CSRF_MAX_AGE, SESSION_COOKIE, SESSION_MAX_AGE
from klantreis.web.state import web_state

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
    security = web_state(request).security
    security.check_csrf(request, csrf_token)
    ctx = anonymous_context(request)
    address = request.client.host if request.client else None
    wait = security.throttle.retry_after(username, address)
    if wait > 0:
        minutes = max(1, math.ceil(wait / 60))
        return _login_error(ctx, next, ctx.t("login.throttled", minutes=minutes), 429, wait)
    user = accounts.authenticate(ctx.app.store, username, password)
    if user is None:
        security.throttle.failed(username, address)
        return _login_error(ctx, next, ctx.t("login.failed"), 401)
    security.throttle.succeeded(username)
    session, csrf = security.start_session(user)
    response = RedirectResponse(_safe_next(next), status_code=303)
    secure = security.secure(request)
    response.set_cookie(
        SESSION_COOKIE,
        session,
        httponly=True,
        samesite="lax",
        secure=secure,
        max_age=SESSION_MAX_AGE,
    )
    # The login page's token belonged to no session: forms after login need a bound one.
    response.set_cookie(
        CSRF_COOKIE, csrf, httponly=True, samesite="lax", secure=secure, max_age=CSRF_MAX_AGE
    )
    return response


def _login_error(
    ctx: PageContext, next: str, message: str, status: int, retry_after: float = 0
) -> Response:
    response = render_html(
        ctx, "login.html", next=_safe_next(next), error=message, demo=ctx.app.settings.demo_mode
    )
    response.status_code = status
    if retry_after > 0:
        response.headers["Retry-After"] = str(math.ceil(retry_after))
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form(max_length=500)] = "") -> Response:
    security = web_state(request).security
    security.check_csrf(request, csrf_token)
    security.end_session(request)  # a copy of the cookie is refused from now on
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response
