"""What other processes ask of a running ``klantreis serve`` (see :mod:`klantreis.live`):
account changes for ``klantreis user ...``/``token ...`` and read snapshots for read commands
and notebooks.

The account routes admit the local admin secret of the discovery file (header
:data:`~klantreis.live.SECRET_HEADER`) or an admin's API token; the snapshot route only the
local secret (it answers with a path on this machine).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from klantreis.access import accounts
from klantreis.app import App
from klantreis.live import SECRET_HEADER, Snapshots
from klantreis.web.envelope import ApiError, ok_response
from klantreis.web.state import web_state

__all__ = ["LocalAccess", "router"]

router = APIRouter(tags=["admin"])


@dataclass
class LocalAccess:
    """The local admin secret of this server and its snapshots (``api.state.local``)."""

    secret: str
    snapshots: Snapshots


def _local(request: Request) -> LocalAccess | None:
    local = getattr(request.app.state, "local", None)
    given = request.headers.get(SECRET_HEADER, "")
    if isinstance(local, LocalAccess) and given and hmac.compare_digest(given, local.secret):
        return local
    return None


def local_only(request: Request) -> LocalAccess:
    local = _local(request)
    if local is None:
        raise ApiError(403, "only for processes on this machine with the local secret", "forbidden")
    return local


def admin_or_local(request: Request) -> App:
    """The App, for the local secret or an admin's API token (a session's form goes through
    the /admin page and its CSRF check instead)."""
    state = web_state(request)
    if _local(request) is None:
        principal = state.security.principal(request)
        if principal is None or principal.via != "token" or principal.role != "admin":
            raise ApiError(403, "needs an admin's API token", "forbidden")
    return state.app


def _changed(request: Request) -> None:
    """An account changed: the next snapshot is made anew (it holds the accounts)."""
    local = getattr(request.app.state, "local", None)
    if isinstance(local, LocalAccess):
        local.snapshots.changed()


AdminApp = Annotated[App, Depends(admin_or_local)]
UserName = Annotated[str, Path(max_length=100)]


class NewUser(BaseModel):
    name: str = Field(max_length=100)
    role: Literal["admin", "analyst", "viewer"] = "viewer"
    password: str


class NewPassword(BaseModel):
    password: str


class Disabled(BaseModel):
    disabled: bool


class NewToken(BaseModel):
    scopes: list[Literal["ingest", "read"]]
    name: str = ""
    user: str | None = None
    expires_days: int | None = Field(default=None, ge=1, le=3650)


def _account_error(exc: accounts.AccountError) -> ApiError:
    return ApiError(400, str(exc), "invalid")


@router.post("/api/v1/admin/users", summary="Add a user or replace their role and password")
def add_user(body: NewUser, app: AdminApp, request: Request) -> Response:
    try:
        user = accounts.add_user(app.store, body.name, body.role, body.password)
    except accounts.AccountError as exc:
        raise _account_error(exc) from None
    _changed(request)
    return ok_response({"name": user.name, "role": user.role, "disabled": user.disabled})


@router.post("/api/v1/admin/users/{name}/password", summary="Set a user's password")
def set_password(name: UserName, body: NewPassword, app: AdminApp, request: Request) -> Response:
    if accounts.get_user(app.store, name) is None:
        raise ApiError(404, f"no user {name!r}", "not_found")
    try:
        accounts.set_password(app.store, name, body.password)
    except accounts.AccountError as exc:
        raise _account_error(exc) from None
    _changed(request)
    return ok_response({"name": name})


@router.post("/api/v1/admin/users/{name}/disabled", summary="Disable or enable a user")
def set_disabled(name: UserName, body: Disabled, app: AdminApp, request: Request) -> Response:
    try:
        user = accounts.set_disabled(app.store, name, body.disabled)
    except accounts.AccountError as exc:
        raise _account_error(exc) from None
    _changed(request)
    return ok_response({"name": user.name, "disabled": user.disabled})


@router.post("/api/v1/admin/tokens", summary="Create an API token (its secret is shown once)")
def create_token(body: NewToken, app: AdminApp, request: Request) -> Response:
    try:
        secret, tok = accounts.create_token(
            app.store, list(body.scopes), body.name, body.user, body.expires_days
        )
    except accounts.AccountError as exc:
        raise _account_error(exc) from None
    token = {
        "id": tok.token_id,
        "name": tok.name,
        "scopes": list(tok.scopes),
        "user": tok.user,
        "expires_at": tok.expires_at,
    }
    _changed(request)
    return ok_response({"secret": secret, "token": token})


@router.post("/api/v1/admin/tokens/{token_id}/revoke", summary="Revoke an API token")
def revoke_token(
    token_id: Annotated[str, Path(max_length=100)], app: AdminApp, request: Request
) -> Response:
    info = accounts.revoke_token(app.store, token_id)
    if info is None:
        raise ApiError(404, f"no token {token_id!r}", "not_found")
    _changed(request)
    return ok_response(info.to_dict())


@router.get("/api/v1/admin/users", summary="Users with role and state (for `user list`)")
def list_users(app: AdminApp) -> Response:
    found = accounts.list_users(app.store)
    return ok_response([{"name": u.name, "role": u.role, "disabled": u.disabled} for u in found])


@router.get("/api/v1/admin/tokens", summary="API tokens without secrets (for `token list`)")
def list_tokens(app: AdminApp, request: Request) -> Response:
    web_state(request).security.flush_token_use(force=True)
    return ok_response([t.to_dict() for t in accounts.list_tokens(app.store)])


@router.post("/api/v1/local/snapshot", summary="A current read-only copy of the store")
def snapshot(local: Annotated[LocalAccess, Depends(local_only)]) -> Response:
    return ok_response({"path": str(local.snapshots.fresh())})
