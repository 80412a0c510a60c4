"""Administration for people (``/admin``, admins only): the users with their role and state,
and the API tokens (never their secrets) with a button to revoke each.

Users and tokens are created on the command line (``klantreis user ...``,
``klantreis token ...``); this page shows them, revokes tokens, and, while the server runs,
ends a user's sessions and disables or enables a user (disabling ends their sessions too). Anonymous visitors are
sent to the login page; other roles get a 403 page. The same data is in the JSON API
(``/api/v1/users``, ``/api/v1/tokens``, :mod:`klantreis.web.routes.admin`).

The router is included by :mod:`klantreis.web.routes.admin` (a core router), so this module
is not listed in ``PAGE_MODULES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

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
    web_state(request).security.flush_token_use(force=True)
    revoked = request.query_params.get("revoked", "")
    return render_html(ctx, "admin.html", data=admin_data(ctx), revoked=revoked[:100])


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


@router.post("/admin/users/{name}/{action}", include_in_schema=False)
def disable_form(
    request: Request,
    ctx: Annotated[PageContext, Depends(ADMIN)],
    name: Annotated[str, USER_NAME],
    action: Annotated[str, Path(pattern="^(disable|enable)$")],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    set_disabled(ctx, name, action == "disable")
    return RedirectResponse("/admin", status_code=303)
