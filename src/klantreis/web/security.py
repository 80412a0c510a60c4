"""Who is asking: session cookies for people, Bearer tokens for programs, CSRF for forms.

* Session: an itsdangerous-signed cookie holding the user name (HttpOnly, SameSite=Lax); the
  role is read from the store on each request, so a changed role applies at once.
* CSRF: signed double submit. A random value is signed and set as a cookie; forms echo it in
  a hidden field; a POST is accepted only when both are equal and the signature is valid.
* Tokens: ``Authorization: Bearer kr_...`` checked against the stored digest, with scopes.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from klantreis.services import accounts
from klantreis.services.accounts import ApiToken, User
from klantreis.store import EventStore
from klantreis.web.envelope import ApiError

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "Principal", "Security"]

SESSION_COOKIE = "kr_session"
CSRF_COOKIE = "kr_csrf"
SESSION_MAX_AGE = 14 * 24 * 3600
CSRF_MAX_AGE = 24 * 3600
_TOKEN_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Principal:
    """A logged-in user (``via='session'``) or an API token (``via='token'``)."""

    name: str
    role: str
    via: str
    scopes: tuple[str, ...] = ()

    @property
    def sees_personal_data(self) -> bool:
        return self.role in ("admin", "analyst")

    def can_read(self) -> bool:
        return self.via == "session" or "read" in self.scopes


class Security:
    """Signing and checking for one app; built from the app's secret key."""

    def __init__(self, secret_key: str, store: EventStore, secure_cookies: bool = False) -> None:
        self.store = store
        self.secure_cookies = secure_cookies
        self._session = URLSafeTimedSerializer(secret_key, salt="klantreis-session")
        self._csrf = URLSafeTimedSerializer(secret_key, salt="klantreis-csrf")
        self._tokens: dict[str, tuple[float, ApiToken | None]] = {}

    def secure(self, request: Request) -> bool:
        """Cookies get the Secure flag when asked for, or when the request came over HTTPS."""
        return self.secure_cookies or request.url.scheme == "https"

    # -- sessions ---------------------------------------------------------------------------
    def session_value(self, user: User) -> str:
        return self._session.dumps({"u": user.name})

    def session_user(self, request: Request) -> User | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            payload = self._session.loads(raw, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        name = payload.get("u") if isinstance(payload, dict) else None
        return accounts.get_user(self.store, name) if isinstance(name, str) else None

    # -- CSRF -------------------------------------------------------------------------------
    def new_csrf(self) -> str:
        return self._csrf.dumps(secrets.token_hex(16))

    def csrf_for(self, request: Request) -> str:
        """The request's valid CSRF token, or a fresh one (the caller sets the cookie)."""
        current = request.cookies.get(CSRF_COOKIE, "")
        return current if self._csrf_valid(current) else self.new_csrf()

    def _csrf_valid(self, token: str) -> bool:
        if not token:
            return False
        try:
            self._csrf.loads(token, max_age=CSRF_MAX_AGE)
        except BadSignature:
            return False
        return True

    def check_csrf(self, request: Request, submitted: str | None) -> None:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not (
            submitted
            and cookie
            and hmac.compare_digest(submitted, cookie)
            and self._csrf_valid(cookie)
        ):
            raise ApiError(403, "CSRF check failed: reload the page and try again", "csrf_failed")

    # -- tokens -----------------------------------------------------------------------------
    def token(self, secret: str) -> ApiToken | None:
        now = time.monotonic()
        hit = self._tokens.get(secret)
        if hit and now - hit[0] < _TOKEN_CACHE_SECONDS:
            return hit[1]
        found = accounts.verify_token(self.store, secret)
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[secret] = (now, found)
        return found

    def token_principal(self, authorization: str) -> Principal:
        """The principal of an ``Authorization: Bearer`` header (401 when unusable)."""
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(401, "use 'Authorization: Bearer <token>'", "unauthorized")
        tok = self.token(secret.strip())
        if tok is None:
            raise ApiError(401, "invalid API token", "unauthorized")
        role = "viewer"
        if tok.user and (user := accounts.get_user(self.store, tok.user)):
            role = user.role
        return Principal(tok.name, role, "token", tok.scopes)

    def principal(self, request: Request) -> Principal | None:
        """Who sends ``request``: a token (when a header is given) or a session, else None."""
        auth = request.headers.get("authorization", "")
        if auth:
            return self.token_principal(auth)
        user = self.session_user(request)
        return Principal(user.name, user.role, "session") if user else None
