"""Who is asking: session cookies for people, Bearer tokens for programs, CSRF for forms.

* Session: an itsdangerous-signed cookie holding the user name and the user's current
  ``session_key`` (HttpOnly, SameSite=Lax). The role, the key and whether the user is
  disabled are read from the store on each request, so a changed role applies at once, and
  a new password or disabling the user (which draw a new key) ends every session at once.
* CSRF: signed double submit. A random value is signed and set as a cookie; forms echo it in
  a hidden field; a POST is accepted only when both are equal and the signature is valid.
* Tokens: ``Authorization: Bearer kr_...`` checked against the stored digest, with scopes.
  Answers are cached for 30 s; the cache is dropped whenever this process changes an account
  (revoking a token, disabling a user, ...), so a revoked token is refused at once. The last
  use of each token is kept in memory and written to the store now and then (``flush_token_use``).
* Login throttling (:class:`LoginThrottle`): failed logins are counted per user name and per
  client address in a sliding window, in this process's memory.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from klantreis.access import accounts
from klantreis.access.accounts import ApiToken, User
from klantreis.store import EventStore
from klantreis.web.envelope import ApiError

__all__ = ["CSRF_COOKIE", "SESSION_COOKIE", "LoginThrottle", "Principal", "Security"]

log = logging.getLogger(__name__)

SESSION_COOKIE = "kr_session"
CSRF_COOKIE = "kr_csrf"
SESSION_MAX_AGE = 14 * 24 * 3600
CSRF_MAX_AGE = 24 * 3600
_TOKEN_CACHE_SECONDS = 30.0
_TOKEN_USE_FLUSH_SECONDS = 60.0


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


class LoginThrottle:
    """Failed logins in a sliding window: after ``per_name`` failures for one user name, or
    ``per_address`` from one client address, within ``window`` seconds, further attempts are
    refused until the oldest of those failures is ``window`` seconds old.

    Kept in memory: it covers one process (``klantreis serve`` runs one) and is forgotten on
    restart. The address limit is higher than the name limit because many people may share
    one address (an office, a reverse proxy). ``clock`` is injectable for tests."""

    def __init__(
        self,
        per_name: int = 5,
        per_address: int = 20,
        window: float = 15 * 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 50_000,
    ) -> None:
        self.per_name, self.per_address, self.window = per_name, per_address, window
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, name: str, address: str | None) -> list[tuple[str, int]]:
        keys = [("n:" + name.strip().casefold(), self.per_name)]
        if address:
            keys.append(("a:" + address, self.per_address))
        return keys

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, name: str, address: str | None) -> float:
        """Seconds until a login for ``name`` from ``address`` is allowed again (0: now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key, limit in self._keys(name, address):
                times = self._recent(key, now)
                if len(times) >= limit:
                    wait = max(wait, times[-limit] + self.window - now)
        return wait

    def failed(self, name: str, address: str | None) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= self.max_keys:
                self._prune(now)
            for key, limit in self._keys(name, address):
                times = self._failures.setdefault(key, deque())
                times.append(now)
                while len(times) > limit:  # only the newest ``limit`` matter
                    times.popleft()

    def succeeded(self, name: str) -> None:
        """A successful login forgets the failures for that name (not for the address)."""
        with self._lock:
            self._failures.pop("n:" + name.strip().casefold(), None)

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        if len(self._failures) >= self.max_keys:  # a flood of names: start over
            self._failures.clear()


class Security:
    """Signing and checking for one app; built from the app's secret key."""

    def __init__(self, secret_key: str, store: EventStore, secure_cookies: bool = False) -> None:
        self.store = store
        self.secure_cookies = secure_cookies
        self._session = URLSafeTimedSerializer(secret_key, salt="klantreis-session")
        self._csrf = URLSafeTimedSerializer(secret_key, salt="klantreis-csrf")
        self._tokens: dict[str, tuple[float, ApiToken | None]] = {}
        self._seen_changes = accounts.changes()
        self._used: dict[str, float] = {}
        self._used_flushed = time.monotonic()
        self.throttle = LoginThrottle()

    def secure(self, request: Request) -> bool:
        """Cookies get the Secure flag when asked for, or when the request came over HTTPS."""
        return self.secure_cookies or request.url.scheme == "https"

    # -- sessions ---------------------------------------------------------------------------
    def session_value(self, user: User) -> str:
        return self._session.dumps({"u": user.name, "k": user.session_key})

    def session_user(self, request: Request) -> User | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            payload = self._session.loads(raw, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        if not isinstance(payload, dict):
            return None
        name, key = payload.get("u"), payload.get("k", "")
        if not isinstance(name, str) or not isinstance(key, str):
            return None
        user = accounts.get_user(self.store, name)
        if user is None or user.disabled or not hmac.compare_digest(key, user.session_key):
            return None
        return user

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
        """The valid token for ``secret`` (cached), else ``None``. Cheap: no store write."""
        changes = accounts.changes()
        if changes != self._seen_changes:  # a token revoked, a user disabled, ...
            self._tokens.clear()
            self._seen_changes = changes
        now = time.monotonic()
        hit = self._tokens.get(secret)
        if hit and now - hit[0] < _TOKEN_CACHE_SECONDS:
            found = hit[1]
        else:
            found = accounts.verify_token(self.store, secret)
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            self._tokens[secret] = (now, found)
        if found is None or found.expired():
            return None
        self._used[found.token_id] = time.time()
        return found

    def flush_token_use(self, force: bool = False) -> None:
        """Write the remembered last uses of tokens to the store (at most once a minute
        unless ``force``). Best effort: a failure only loses those times."""
        now = time.monotonic()
        if not self._used or (not force and now - self._used_flushed < _TOKEN_USE_FLUSH_SECONDS):
            return
        self._used_flushed = now
        used, self._used = self._used, {}
        try:
            accounts.record_token_use(
                self.store, {k: datetime.fromtimestamp(v, UTC) for k, v in used.items()}
            )
        except Exception:  # the last-use time is informative only
            log.warning("could not store the last use of API tokens", exc_info=True)

    def token_principal(self, authorization: str) -> Principal:
        """The principal of an ``Authorization: Bearer`` header (401 when unusable)."""
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(401, "use 'Authorization: Bearer <token>'", "unauthorized")
        tok = self.token(secret.strip())
        if tok is None:
            raise ApiError(401, "invalid API token", "unauthorized")
        role = "viewer"
        if tok.user:
            user = accounts.get_user(self.store, tok.user)
            if user is None or user.disabled:
                raise ApiError(401, "invalid API token", "unauthorized")
            role = user.role
        self.flush_token_use()
        return Principal(tok.name, role, "token", tok.scopes)

    def principal(self, request: Request) -> Principal | None:
        """Who sends ``request``: a token (when a header is given) or a session, else None."""
        auth = request.headers.get("authorization", "")
        if auth:
            return self.token_principal(auth)
        user = self.session_user(request)
        return Principal(user.name, user.role, "session") if user else None
