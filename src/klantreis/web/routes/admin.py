"""Administration over the API: the list of users (admins only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from klantreis.services import accounts
from klantreis.web.envelope import ok_response
from klantreis.web.pagekit import PageContext, require_role

router = APIRouter(tags=["admin"])
ADMIN = require_role("admin")


@router.get("/api/v1/users", summary="Users and their roles (admin only)")
def users(ctx: Annotated[PageContext, Depends(ADMIN)]) -> Response:
    return ok_response(
        [{"name": u.name, "role": u.role} for u in accounts.list_users(ctx.app.store)]
    )
