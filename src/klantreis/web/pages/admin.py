"""Administration for people (``/admin``, admins only): the users with their role and state,
and the API tokens (never their secrets) with a button to revoke each.

From the page an admin adds a user (name, role, first password), disables and re-enables
users, ends a user's sessions, and creates an API token (name, scopes, optional user and expiry): its secret is
shown once, on the answer to that form, and never again. The same can be done on the command
line (``klantreis user ...``, ``klantreis token ...``). Anonymous visitors are
sent to the login page; other roles get a 403 page. The same data is in the JSON API
(``/api/v1/users``, ``/api/v1/tokens``, :mod:`klantreis.web.routes.admin`).

The router is included by :mod:`klantreis.web.routes.admin` (a core router), so this module
is not listed in ``PAGE_MODULES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from klantreis.access import accounts
from klantreis.web.envelope import ApiError
from klantreis.web.pagekit import NavItem, PageContext, page_context, render_html, require_role
from klantreis.web.state import web_state

__all__ = ["NAV", "RoleNavItem", "admin_data", "router"]

router = APIRouter()


@dataclass(frozen=True)
class RoleNavItem(NavItem):
    """A menu entry shown only to the given roles (``base.html`` checks ``roles``)."""

    roles: tuple[str, ...] = ()


NAV = RoleNavItem("/admin", "nav.admin", order=90, roles=("admin",))
ADMIN = require_role("admin")
TOKEN_ID = Path(min_length=1, max_length=64, description="The token's id (not its secret).")
USER_NAME = Path(min_length=1, max_length=100, description="The user's name.")


def admin_data(ctx: PageContext) -> dict[str, Any]:
    """Users (name, role, disabled, live sessions) and tokens (no secrets), for the page and
    the API."""
    store = ctx.app.store
    live: dict[str, int] = {}
    for session in accounts.list_sessions(store):
        live[session.user] = live.get(session.user, 0) + 1
    return {
        "users": [
            {
                "name": u.name,
                "role": u.role,
                "disabled": u.disabled,
                "sessions": live.get(u.name, 0),
            }
            for u in accounts.list_users(store)
        ],
        "tokens": [t.to_dict() for t in accounts.list_tokens(store)],
    }


@router.get("/admin", include_in_schema=False, response_class=HTMLResponse)
def admin_page(request: Request, ctx: Annotated[PageContext, Depends(page_context)]) -> Response:
    if ctx.principal is None or ctx.principal.role != "admin":
        response = render_html(ctx, "forbidden.html")
        response.status_code = 403
        return response
    return _admin_html(request, ctx)


def _admin_html(
    request: Request,
    ctx: PageContext,
    secret: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    web_state(request).security.flush_token_use(force=True)
    q = request.query_params
    response = render_html(
        ctx,
        "admin.html",
        data=admin_data(ctx),
        revoked=q.get("revoked", "")[:100],
        done=q.get("done", "")[:40],
        done_name=q.get("name", "")[:100],
        roles=accounts.ROLES,
        scopes=accounts.SCOPES,
        max_expires=accounts.MAX_EXPIRES_DAYS,
        new_secret=secret,
        error=error,
    )
    response.status_code = status
    if secret:  # the secret is on this answer only: never keep it in a cache
        response.headers["Cache-Control"] = "no-store"
    return response


def _done(what: str, name: str) -> Response:
    return RedirectResponse("/admin?" + urlencode({"done": what, "name": name}), status_code=303)


@router.post("/admin/users", include_in_schema=False)
def add_user_form(
    request: Request,
    ctx: Annotated[PageContext, Depends(ADMIN)],
    name: Annotated[str, Form(max_length=100)],
    role: Annotated[str, Form(max_length=20)],
    password: Annotated[str, Form(max_length=500)],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """A new user; an existing name is refused (passwords change on the command line)."""
    web_state(request).security.check_csrf(request, csrf_token)
    name = name.strip()
    if accounts.get_user(ctx.app.store, name) is not None:
        return _admin_html(request, ctx, error=ctx.t("admin.users.exists", name=name), status=409)
    try:
        accounts.add_user(ctx.app.store, name, role, password)
    except accounts.AccountError as exc:
        return _admin_html(request, ctx, error=str(exc), status=422)
    return _done("user_added", name)


@router.post("/admin/users/{name}/{action}", include_in_schema=False)
def disable_form(
    request: Request,
    ctx: Annotated[PageContext, Depends(ADMIN)],
    name: Annotated[str, Path(min_length=1, max_length=100)],
    action: Annotated[str, Path(pattern="^(disable|enable)$")],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    try:
        set_disabled(ctx, name, action == "disable")  # the API's rules: 404, not yourself
    except ApiError as exc:
        if exc.status != 409:
            raise
        return _admin_html(request, ctx, error=ctx.t("admin.users.not_self"), status=409)
    return _done(f"user_{action}d", name)


@router.post("/admin/tokens", include_in_schema=False)
def create_token_form(
    request: Request,
    ctx: Annotated[PageContext, Depends(ADMIN)],
    name: Annotated[str, Form(max_length=100)] = "",
    scopes: Annotated[list[str] | None, Form(max_length=20)] = None,
    user: Annotated[str, Form(max_length=100)] = "",
    expires_days: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """A new token; the answer is the page with the secret, shown this once."""
    web_state(request).security.check_csrf(request, csrf_token)
    try:
        days = int(expires_days) if expires_days.strip() else None
    except ValueError:
        return _admin_html(request, ctx, error=ctx.t("admin.tokens.bad_expiry"), status=422)
    if user and accounts.get_user(ctx.app.store, user) is None:
        return _admin_html(request, ctx, error=f"no user {user!r}", status=422)
    try:
        secret, _ = accounts.create_token(
            ctx.app.store, scopes or [], name=name.strip(), user=user or None, expires_days=days
        )
    except accounts.AccountError as exc:
        return _admin_html(request, ctx, error=str(exc), status=422)
    return _admin_html(request, ctx, secret=secret)


@router.post("/admin/tokens/{token_id}/revoke", include_in_schema=False)
def revoke_form(
    request: Request,
    ctx: Annotated[PageContext, Depends(ADMIN)],
    token_id: Annotated[str, TOKEN_ID],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    info = accounts.revoke_token(ctx.app.store, token_id)
    if info is None:
        raise ApiError(404, f"no token {token_id!r}", "not_found")
    return RedirectResponse(f"/admin?revoked={info.token_id}", status_code=303)


def end_sessions(ctx: PageContext, name: str) -> int:
    """End every session of user ``name`` (404 when there is no such user)."""
    if accounts.get_user(ctx.app.store, name) is None:
        raise ApiError(404, f"no user {name!r}", "not_found")
    return accounts.end_user_sessions(ctx.app.store, name)


def set_disabled(ctx: PageContext, name: str, disabled: bool) -> accounts.User:
    """Disable (ending the sessions) or enable user ``name``; an admin cannot disable
    themselves (409), so there is always someone left to undo it."""
    if disabled and ctx.principal is not None and ctx.principal.name == name:
        raise ApiError(409, "you cannot disable yourself", "conflict")
    try:
        return accounts.set_disabled(ctx.app.store, name, disabled)
    except accounts.AccountError as exc:
        raise ApiError(404, str(exc), "not_found") from exc


@router.post("/admin/users/{name}/sessions/end", include_in_schema=False)
def end_sessions_form(
    request: Request,
    ctx: Annotated[PageContext, Depends(ADMIN)],
    name: Annotated[str, USER_NAME],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    end_sessions(ctx, name)
    return RedirectResponse("/admin", status_code=303)
