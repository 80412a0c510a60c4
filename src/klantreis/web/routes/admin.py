"""Administration over the API (admins only): users (their sessions ended with ``DELETE``,
disabled or enabled with ``PUT``), and API tokens (listed without their secrets, revoked
with ``DELETE``). Also includes the ``/admin`` page
(:mod:`klantreis.web.pages.admin`) and its menu entry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response

from klantreis.access import accounts
from klantreis.web.envelope import ApiError, ok_response
from klantreis.web.pagekit import PageContext
from klantreis.web.pages import admin as admin_page
from klantreis.web.state import web_state

router = APIRouter(tags=["admin"])
ADMIN = admin_page.ADMIN
NAV = admin_page.NAV
router.include_router(admin_page.router)


@router.get("/api/v1/users", summary="Users, their roles and whether disabled (admin only)")
def users(ctx: Annotated[PageContext, Depends(ADMIN)]) -> Response:
    return ok_response(
        [
            {"name": u.name, "role": u.role, "disabled": u.disabled}
            for u in accounts.list_users(ctx.app.store)
        ]
    )


def _token_admin(ctx: PageContext) -> None:
    if ctx.principal is None or ctx.principal.via != "token":
        raise ApiError(403, "use an API token (the /admin page posts a form)", "forbidden")


@router.delete(
    "/api/v1/users/{name}/sessions",
    summary="End every web session of a user at once (admin only, with an API token)",
)
def end_sessions(
    ctx: Annotated[PageContext, Depends(ADMIN)], name: Annotated[str, admin_page.USER_NAME]
) -> Response:
    _token_admin(ctx)
    return ok_response({"name": name, "ended": admin_page.end_sessions(ctx, name)})


@router.put(
    "/api/v1/users/{name}/disabled",
    summary="Disable (true; ends the user's sessions) or enable (false) a user (admin only,"
    " with an API token)",
)
def set_disabled(
    ctx: Annotated[PageContext, Depends(ADMIN)],
    name: Annotated[str, admin_page.USER_NAME],
    disabled: Annotated[bool, Body(embed=True)],
) -> Response:
    _token_admin(ctx)
    user = admin_page.set_disabled(ctx, name, disabled)
    return ok_response({"name": user.name, "role": user.role, "disabled": user.disabled})


@router.get("/api/v1/tokens", summary="API tokens without their secrets (admin only)")
def tokens(
    request: Request,
    ctx: Annotated[PageContext, Depends(ADMIN)],
    include_revoked: Annotated[bool, Query(description="Also list revoked tokens.")] = True,
) -> Response:
    web_state(request).security.flush_token_use(force=True)
    found = accounts.list_tokens(ctx.app.store, include_revoked=include_revoked)
    return ok_response([t.to_dict() for t in found])


@router.delete(
    "/api/v1/tokens/{token_id}",
    summary="Revoke an API token at once (admin only, with an API token; the /admin page"
    " posts a form)",
)
def revoke(
    ctx: Annotated[PageContext, Depends(ADMIN)],
    token_id: Annotated[str, admin_page.TOKEN_ID],
) -> Response:
    _token_admin(ctx)
    info = accounts.revoke_token(ctx.app.store, token_id)
    if info is None:
        raise ApiError(404, f"no token {token_id!r}", "not_found")
    return ok_response(info.to_dict())
