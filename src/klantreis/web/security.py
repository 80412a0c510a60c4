"""Who is asking: session cookies for people, Bearer tokens for programs, CSRF for forms.

* Session: kept in the store (:func:`klantreis.access.accounts.start_session`); the
  cookie is an itsdangerous-signed value holding the user name, the user's current
  ``session_key`` and the session's random secret (HttpOnly, SameSite=Lax, Secure over HTTPS
  or with the ``secure_cookies`` setting). The session, the role, the key and whether the user
  is disabled are read from the store on each request, so logging out, an admin ending the
  sessions, a new password or disabling the user end them at once, and a changed role applies
  at once. A session unused for ``session_idle_minutes`` ends.
* CSRF: signed double submit, bound to the session. A random value and a digest of the
  session secret (empty before login) are signed and set as a cookie; forms echo it in a
  hidden field; a POST is accepted only when both are equal, the signature is valid and the
  token belongs to the request's session. Logging in issues a new token.
* Headers (:class:`SecurityHeaders`): every answer gets a Content-Security-Policy (own origin
  only), ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and a
  Referrer-Policy; pages and JSON (everything but static assets) get
  ``Cache-Control: no-store``, because they may carry personal data.
* Tokens: ``Authorization: Bearer kr_...`` checked against the stored digest, with scopes.
  Answers are cached for 30 s; the cache is dropped whenever this process changes an account
  (revoking a token, disabling a user, ...), so a revoked token is refused at once. The last
  use of each token is kept in memory and written to the store now and then (``flush_token_use``).
* Login throttling (:class:`LoginThrottle`): failed logins are counted per user name and per
  client address in a sliding window, in this process's memory.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from klantreis.access import accounts
from klantreis.access.accounts import ApiToken, User
from klantreis.live import SECRET_HEADER
from klantreis.store import EventStore
from klantreis.web.envelope import ApiError
from klantreis.web.handles import Handles

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "LoginThrottle",
    "Principal",
    "Security",
    "SecurityHeaders",
]

log = logging.getLogger(__name__)

SESSION_COOKIE = "kr_session"
CSRF_COOKIE = "kr_csrf"
SESSION_MAX_AGE = 14 * 24 * 3600
CSRF_MAX_AGE = 24 * 3600
_TOKEN_CACHE_SECONDS = 30.0
_TOKEN_USE_FLUSH_SECONDS = 60.0
_SESSION_TOUCH_SECONDS = 60.0


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

    def __init__(
        self,
        secret_key: str,
        store: EventStore,
        secure_cookies: bool = False,
        idle_minutes: int = 0,
    ) -> None:
        self.store = store
        self.secure_cookies = secure_cookies
        self.idle = timedelta(minutes=idle_minutes) if idle_minutes > 0 else None
        self._touched: dict[str, float] = {}
        self.handles = Handles(secret_key)
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
    def start_session(self, user: User) -> tuple[str, str]:
        """A new stored session for ``user``: (cookie value, its CSRF token)."""
        secret = accounts.start_session(self.store, user)
        value = self._session.dumps({"u": user.name, "k": user.session_key, "s": secret})
        return value, self.new_csrf(secret)

    def _session_payload(self, request: Request) -> dict[str, Any] | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            payload = self._session.loads(raw, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        if not isinstance(payload, dict) or not all(
            isinstance(payload.get(k), str) for k in ("u", "k", "s")
        ):
            return None
        return payload

    def _session_secret(self, request: Request) -> str:
        payload = self._session_payload(request)
        return payload["s"] if payload else ""

    def session_user(self, request: Request) -> User | None:
        payload = self._session_payload(request)
        if payload is None:
            return None
        secret = payload["s"]
        user = accounts.session_user(self.store, secret, self.idle)
        if (
            user is None
            or user.name != payload["u"]
            or not hmac.compare_digest(payload["k"], user.session_key)
        ):
            return None
        self._touch(secret)
        return user

    def _touch(self, secret: str) -> None:
        """Record the session's use in the store, at most once a minute per session."""
        now = time.monotonic()
        if now - self._touched.get(secret, -_SESSION_TOUCH_SECONDS) < _SESSION_TOUCH_SECONDS:
            return
        if len(self._touched) > 10_000:
            self._touched.clear()
        self._touched[secret] = now
        try:
            accounts.touch_session(self.store, secret)
        except Exception:  # the idle clock is kept best effort; the session itself is valid
            log.warning("could not record the use of a session", exc_info=True)

    def end_session(self, request: Request) -> None:
        """Log out: the request's session ends in the store (its cookie is refused after)."""
        secret = self._session_secret(request)
        if secret:
            accounts.end_session(self.store, secret)
            self._touched.pop(secret, None)

    # -- CSRF -------------------------------------------------------------------------------
    @staticmethod
    def _binding(session_secret: str) -> str:
        if not session_secret:
            return ""
        return hashlib.sha256(b"csrf:" + session_secret.encode()).hexdigest()[:32]

    def new_csrf(self, session_secret: str = "") -> str:
        """A CSRF token bound to the session with ``session_secret`` ("": no session)."""
        return self._csrf.dumps([secrets.token_hex(16), self._binding(session_secret)])

    def csrf_for(self, request: Request) -> str:
        """The request's valid CSRF token, or a fresh one (the caller sets the cookie)."""
        current = request.cookies.get(CSRF_COOKIE, "")
        secret = self._session_secret(request)
        return current if self._csrf_valid(current, secret) else self.new_csrf(secret)

    def _csrf_valid(self, token: str, session_secret: str) -> bool:
        if not token:
            return False
        try:
            payload = self._csrf.loads(token, max_age=CSRF_MAX_AGE)
        except BadSignature:
            return False
        return (
            isinstance(payload, list)
            and len(payload) == 2
            and isinstance(payload[1], str)
            and hmac.compare_digest(payload[1], self._binding(session_secret))
        )

    def check_csrf(self, request: Request, submitted: str | None) -> None:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not (
            submitted
            and cookie
            and hmac.compare_digest(submitted, cookie)
            and self._csrf_valid(cookie, self._session_secret(request))
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
        """Who sends ``request``: the local admin (a command on this machine with the secret
        of the server's discovery file, see :mod:`klantreis.live`), a token (when a header is
        given) or a session, else None."""
        local = local_admin(request)
        if local is not None:
            return local
        auth = request.headers.get("authorization", "")
        if auth:
            return self.token_principal(auth)
        user = self.session_user(request)
        return Principal(user.name, user.role, "session") if user else None


#: The local admin: ``klantreis user ...``/``token ...`` while the server holds the store.
LOCAL_ADMIN = Principal("(local)", "admin", "token", ("read",))


def local_admin(request: Request) -> Principal | None:
    """:data:`LOCAL_ADMIN` when ``request`` carries this server's local admin secret
    (``api.state.local_secret``, set when the server announces itself), else None."""
    expected = getattr(request.app.state, "local_secret", None)
    given = request.headers.get(SECRET_HEADER, "")
    if isinstance(expected, str) and given and hmac.compare_digest(given, expected):
        return LOCAL_ADMIN
    return None


#: The Content-Security-Policy of every answer: scripts, styles, images, fonts and
#: connections from this origin only; no plug-ins, no framing, forms post only here.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none';"
    " form-action 'self'; frame-ancestors 'none'"
)
#: The API docs page (no personal data) runs Swagger UI's inline start-up script.
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)
_STATIC_PREFIXES = ("/static/", "/api/v1/docs/assets/", "/sw.js", "/manifest.webmanifest")


class SecurityHeaders:
    """ASGI middleware: the security headers on every answer (see the module notes).
    ``Cache-Control: no-store`` goes on everything but static assets, unless the route set
    its own ``Cache-Control``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        csp = DOCS_CSP if path == "/api/v1/docs" else CSP
        static = path.startswith(_STATIC_PREFIXES)

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = [
                    (b"content-security-policy", csp.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                ]
                if not static:
                    extra.append((b"cache-control", b"no-store"))
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
