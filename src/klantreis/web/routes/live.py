"""What other processes ask of a running ``klantreis serve`` (see :mod:`klantreis.live`):
the account changes the admin API had no route for (adding a user, a new password, a new
token) and read snapshots for read commands and notebooks.

The account routes admit an admin's API token or the local admin
(:func:`klantreis.web.security.local_admin`: a command on this machine with the secret of
the discovery file); the other account commands use the admin routes of
:mod:`klantreis.web.routes.admin` the same way. The snapshot route admits only the local
admin (it answers with a path on this machine).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from klantreis.access import accounts
from klantreis.app import App
from klantreis.live import Snapshots
from klantreis.web.envelope import ApiError, ok_response
from klantreis.web.security import local_admin
from klantreis.web.state import web_state

__all__ = ["router"]

router = APIRouter(tags=["admin"])


def admin_token(request: Request) -> App:
    """The App, for an admin's API token or the local admin (a browser session uses the
    /admin page and its CSRF check instead)."""
    state = web_state(request)
    principal = state.security.principal(request)
    if principal is None or principal.via != "token" or principal.role != "admin":
        raise ApiError(403, "needs an admin's API token", "forbidden")
    return state.app


def local_snapshots(request: Request) -> Snapshots:
    snapshots = getattr(request.app.state, "snapshots", None)
    if local_admin(request) is None or not isinstance(snapshots, Snapshots):
        raise ApiError(403, "only for commands on this machine with the local secret", "forbidden")
    return snapshots


AdminApp = Annotated[App, Depends(admin_token)]
UserName = Annotated[str, Path(max_length=100)]


class NewUser(BaseModel):
    name: str = Field(max_length=100)
    role: Literal["admin", "analyst", "viewer"] = "viewer"
    password: str = Field(max_length=1000)


class NewPassword(BaseModel):
    password: str = Field(max_length=1000)


class NewToken(BaseModel):
    scopes: list[Literal["ingest", "read"]]
    name: str = Field(default="", max_length=100)
    user: str | None = Field(default=None, max_length=100)
    expires_days: int | None = Field(default=None, ge=1, le=3650)


def _invalid(exc: accounts.AccountError) -> ApiError:
    return ApiError(400, str(exc), "invalid")


@router.post(
    "/api/v1/users",
    summary="Add a user, or give an existing one a new role and password (admin API token)",
)
def add_user(body: NewUser, app: AdminApp) -> Response:
    try:
        user = accounts.add_user(app.store, body.name, body.role, body.password)
    except accounts.AccountError as exc:
        raise _invalid(exc) from None
    return ok_response({"name": user.name, "role": user.role, "disabled": user.disabled})


@router.put(
    "/api/v1/users/{name}/password",
    summary="Set a user's password; their sessions end (admin API token)",
)
def set_password(name: UserName, body: NewPassword, app: AdminApp) -> Response:
    if accounts.get_user(app.store, name) is None:
        raise ApiError(404, f"no user {name!r}", "not_found")
    try:
        accounts.set_password(app.store, name, body.password)
    except accounts.AccountError as exc:
        raise _invalid(exc) from None
    return ok_response({"name": name})


@router.post(
    "/api/v1/tokens",
    summary="Create an API token; its secret is in this answer only (admin API token)",
)
def create_token(body: NewToken, app: AdminApp) -> Response:
    try:
        secret, tok = accounts.create_token(
            app.store, list(body.scopes), body.name, body.user, body.expires_days
        )
    except accounts.AccountError as exc:
        raise _invalid(exc) from None
    token = {
        "id": tok.token_id,
        "name": tok.name,
        "scopes": list(tok.scopes),
        "user": tok.user,
        "expires_at": tok.expires_at,
    }
    return ok_response({"secret": secret, "token": token})


@router.post("/api/v1/local/snapshot", summary="A current read-only copy of the store (local)")
def snapshot(snapshots: Annotated[Snapshots, Depends(local_snapshots)]) -> Response:
    return ok_response({"path": str(snapshots.fresh())})
