"""Accounts: users with a role, hashed passwords, and API tokens with scopes.

Kept in the event store's DuckDB database (tables ``users``, ``api_tokens`` and ``sessions``,
created by ``ensure_schema``). Passwords are hashed with scrypt at OWASP's current cost
(N=2^17, r=8, p=1; salted, parameters stored with the hash); a hash made at a lower cost is
replaced on the next successful login (``authenticate``);
API tokens are random and stored only as a SHA-256 digest, so a stolen database reveals neither.

Roles: ``admin`` (everything, manages users), ``analyst`` (all data, personal data visible),
``viewer`` (pages and aggregates; personal data masked). Token scopes: ``ingest`` (POST events),
``read`` (the JSON API).

Web sessions are kept in the store (table ``sessions``, created by ``ensure_schema``): the
cookie carries a random session secret, the store only its SHA-256 digest, the user and the
last use. ``end_session`` (log out) and ``end_user_sessions`` (an admin ending them) end them
while the server runs; a session unused longer than the idle limit ends too.

Every user also has a random ``session_key`` that is part of their signed session cookie.
Setting a new password (``set_password``, or ``add_user`` on an existing name) or disabling
the user draws a new key and ends their stored sessions, so every session issued before
stops working at once. A disabled user can
neither log in nor use their API tokens. Tokens may expire (``expires_days``) and can be
revoked; revoked tokens are kept (with ``revoked_at``) so the list shows what happened.

``changes()`` counts account changes made in this process; callers that cache tokens (the web
app's :class:`~klantreis.web.security.Security`) drop their cache when it moves.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from klantreis.store import EventStore

__all__ = [
    "OWASP_SCRYPT_COST",
    "ROLES",
    "SCOPES",
    "SCRYPT_COST",
    "AccountError",
    "ApiToken",
    "SessionInfo",
    "TokenInfo",
    "User",
    "add_user",
    "authenticate",
    "changes",
    "create_token",
    "end_session",
    "end_user_sessions",
    "ensure_demo_accounts",
    "ensure_schema",
    "get_token",
    "get_user",
    "hash_password",
    "list_sessions",
    "list_tokens",
    "list_users",
    "needs_rehash",
    "record_token_use",
    "revoke_token",
    "session_user",
    "set_disabled",
    "set_password",
    "start_session",
    "touch_session",
    "verify_password",
    "verify_token",
]

ROLES = ("admin", "analyst", "viewer")
SCOPES = ("ingest", "read")
#: scrypt parameters for new hashes (OWASP's current recommendation). Tests may lower them
#: (``tests/conftest.py``); a stored hash made at a lower cost is re-hashed at login.
OWASP_SCRYPT_COST = {"n": 2**17, "r": 8, "p": 1}
SCRYPT_COST = dict(OWASP_SCRYPT_COST)
_SCRYPT_MAXMEM = 256 * 1024 * 1024  # N=2^17, r=8 needs 128 MiB; hashlib's default is 32
#: At most this many scrypt computations at once (each takes 128 MiB), so a burst of logins
#: queues instead of exhausting memory.
_SCRYPT_SLOTS = threading.BoundedSemaphore(2)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    with _SCRYPT_SLOTS:
        return hashlib.scrypt(
            password.encode("utf-8"), salt=salt, dklen=32, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM
        )


TOKEN_PREFIX = "kr_"
MAX_EXPIRES_DAYS = 3650

_USER_COLUMNS = {
    "disabled": "BOOLEAN NOT NULL DEFAULT false",
    "session_key": "VARCHAR NOT NULL DEFAULT ''",
}
_TOKEN_COLUMNS = {
    "expires_at": "TIMESTAMPTZ",
    "revoked_at": "TIMESTAMPTZ",
    "last_used_at": "TIMESTAMPTZ",
}

_changes = 0
_changes_lock = threading.Lock()


def changes() -> int:
    """How many account changes (password, disable, revoke, ...) this process has made."""
    return _changes


def _changed() -> None:
    global _changes
    with _changes_lock:
        _changes += 1


class AccountError(ValueError):
    """A user or token request that cannot be honoured."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    disabled: bool = False
    #: Part of every session cookie of this user; a new key ends all their sessions.
    session_key: str = field(default="", compare=False, repr=False)

    @property
    def sees_personal_data(self) -> bool:
        return self.role in ("admin", "analyst")


@dataclass(frozen=True)
class ApiToken:
    token_id: str
    name: str
    scopes: tuple[str, ...]
    user: str | None
    expires_at: datetime | None = field(default=None, compare=False)

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC))


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: everything but its secret (and digest)."""

    token_id: str
    name: str
    scopes: tuple[str, ...]
    user: str | None
    created_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def state(self) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= datetime.now(UTC):
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.token_id,
            "name": self.name,
            "scopes": list(self.scopes),
            "user": self.user,
            "state": self.state,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
        }


def ensure_schema(store: EventStore) -> None:
    """Create the account tables when missing and add newer columns (idempotent)."""
    with store.transaction() as con:
        con.execute("""CREATE TABLE IF NOT EXISTS users (
            name VARCHAR PRIMARY KEY, role VARCHAR NOT NULL, password_hash VARCHAR NOT NULL,
            created_at TIMESTAMPTZ DEFAULT current_timestamp)""").fetchall()
        con.execute("""CREATE TABLE IF NOT EXISTS api_tokens (
            token_id VARCHAR PRIMARY KEY, digest VARCHAR NOT NULL UNIQUE, name VARCHAR,
            scopes VARCHAR NOT NULL, user_name VARCHAR,
            created_at TIMESTAMPTZ DEFAULT current_timestamp)""").fetchall()
        con.execute("""CREATE TABLE IF NOT EXISTS sessions (
            digest VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            last_seen_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            ended_at TIMESTAMPTZ)""").fetchall()
        present = {
            (t, c)
            for t, c in con.execute(
                "SELECT table_name, column_name FROM duckdb_columns()"
                " WHERE schema_name = 'main' AND table_name IN ('users', 'api_tokens')"
            ).fetchall()
        }
        for table, columns in (("users", _USER_COLUMNS), ("api_tokens", _TOKEN_COLUMNS)):
            for column, ddl in columns.items():
                if (table, column) not in present:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}").fetchall()


# -- passwords and users ---------------------------------------------------------------------
def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (hex), at :data:`SCRYPT_COST`."""
    salt = secrets.token_bytes(16)
    n, r, p = SCRYPT_COST["n"], SCRYPT_COST["r"], SCRYPT_COST["p"]
    digest = _scrypt(password, salt, n, r, p)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with other parameters than :data:`SCRYPT_COST`."""
    parts = stored.split("$")
    current = [str(SCRYPT_COST[k]) for k in ("n", "r", "p")]
    return len(parts) != 6 or parts[0] != "scrypt" or parts[1:4] != current


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    try:
        got = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:  # a malformed stored hash (or parameters scrypt refuses)
        return False
    return hmac.compare_digest(got.hex(), digest)


@cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown users, so that they cost one scrypt as well."""
    return hash_password(secrets.token_hex(16))


def _check_name(name: str) -> None:
    if (
        not name
        or len(name) > 100
        or not name.replace("-", "").replace("_", "").replace(".", "").replace("@", "").isalnum()
    ):
        raise AccountError("user name: 1-100 letters, digits, '.', '-', '_' or '@'")


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise AccountError("password must be at least 8 characters")
    if len(password) > 1000:
        raise AccountError("password must be at most 1000 characters")


def _new_session_key() -> str:
    return secrets.token_hex(8)


def add_user(store: EventStore, name: str, role: str, password: str) -> User:
    """Create or update a user (a new password and role replace the old ones, and end the
    user's sessions). Whether an existing user is disabled stays as it was."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    _check_name(name)
    _check_password(password)
    ensure_schema(store)
    key = _new_session_key()
    with store.transaction() as con:
        con.execute(
            "INSERT INTO users (name, role, password_hash, session_key) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET role = excluded.role,"
            " password_hash = excluded.password_hash, session_key = excluded.session_key",
            [name, role, hash_password(password), key],
        ).fetchall()
        rows = con.execute("SELECT disabled FROM users WHERE name = ?", [name]).fetchall()
        con.execute(_END_USER_SESSIONS, [name]).fetchall()
    _changed()
    return User(name, role, bool(rows[0][0]), key)


def _user(row: Mapping[str, Any]) -> User:
    return User(row["name"], row["role"], bool(row["disabled"]), row["session_key"] or "")


_USER_SELECT = "SELECT name, role, disabled, session_key FROM users"


def get_user(store: EventStore, name: str) -> User | None:
    """The user (also when disabled: check ``.disabled``), else ``None``."""
    rows = store.query(f"{_USER_SELECT} WHERE name = ?", [name]).to_pylist()
    return _user(rows[0]) if rows else None


def list_users(store: EventStore) -> list[User]:
    return [_user(r) for r in store.query(f"{_USER_SELECT} ORDER BY name").to_pylist()]


def _update_user(store: EventStore, name: str, sql: str, params: list[Any]) -> User:
    """Update a user and end their stored sessions (every caller draws a new session key)."""
    ensure_schema(store)
    with store.transaction() as con:
        found = con.execute("SELECT count(*) FROM users WHERE name = ?", [name]).fetchall()
        if not found[0][0]:
            raise AccountError(f"no user {name!r}")
        con.execute(f"UPDATE users SET {sql} WHERE name = ?", [*params, name]).fetchall()
        con.execute(_END_USER_SESSIONS, [name]).fetchall()
    _changed()
    user = get_user(store, name)
    assert user is not None
    return user


def set_password(store: EventStore, name: str, password: str) -> User:
    """A new password for an existing user; their existing sessions end."""
    _check_password(password)
    return _update_user(
        store,
        name,
        "password_hash = ?, session_key = ?",
        [hash_password(password), _new_session_key()],
    )


def set_disabled(store: EventStore, name: str, disabled: bool = True) -> User:
    """Disable (or enable again) a user. Disabling ends their sessions; a disabled user cannot
    log in and their API tokens are refused. Enabling does not bring old sessions back."""
    return _update_user(
        store, name, "disabled = ?, session_key = ?", [disabled, _new_session_key()]
    )


def authenticate(store: EventStore, name: str, password: str) -> User | None:
    """The user when the password matches and the user is not disabled, else ``None``.

    Unknown users cost the same one scrypt verification as known ones."""
    rows = store.query(
        "SELECT name, role, disabled, session_key, password_hash FROM users WHERE name = ?",
        [name],
    ).to_pylist()
    if not rows:
        verify_password(password, _dummy_hash())
        return None
    row = rows[0]
    if not verify_password(password, row["password_hash"]) or row["disabled"]:
        return None
    if needs_rehash(row["password_hash"]):  # made at an older, lower cost
        with store.transaction() as con:
            con.execute(
                "UPDATE users SET password_hash = ? WHERE name = ? AND password_hash = ?",
                [hash_password(password), name, row["password_hash"]],
            ).fetchall()
    return _user(row)


# -- web sessions ----------------------------------------------------------------------------
_END_USER_SESSIONS = (
    "UPDATE sessions SET ended_at = current_timestamp WHERE user_name = ? AND ended_at IS NULL"
)


@dataclass(frozen=True)
class SessionInfo:
    """What may be shown about a session: not its secret."""

    session_id: str  # the first 12 hex digits of the digest
    user: str
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def start_session(store: EventStore, user: User) -> str:
    """A new session for ``user``; returns its secret (for the cookie), stores its digest."""
    ensure_schema(store)
    secret = secrets.token_urlsafe(32)
    with store.transaction() as con:
        con.execute(
            "INSERT INTO sessions (digest, user_name) VALUES (?, ?)", [_digest(secret), user.name]
        ).fetchall()
    return secret


def session_user(
    store: EventStore, secret: str, idle: timedelta | None = None, now: datetime | None = None
) -> User | None:
    """The user of a live session: not ended, not idle longer than ``idle``, user enabled."""
    now = now or datetime.now(UTC)
    rows = store.query(
        "SELECT s.last_seen_at, u.name, u.role, u.disabled, u.session_key FROM sessions s"
        " JOIN users u ON u.name = s.user_name WHERE s.digest = ? AND s.ended_at IS NULL",
        [_digest(secret)],
    ).to_pylist()
    if not rows or rows[0]["disabled"]:
        return None
    if idle is not None and idle.total_seconds() > 0 and now - rows[0]["last_seen_at"] > idle:
        return None
    return _user(rows[0])


def touch_session(store: EventStore, secret: str, now: datetime | None = None) -> None:
    """Record that a session was used (for the idle limit)."""
    with store.transaction() as con:
        con.execute(
            "UPDATE sessions SET last_seen_at = ? WHERE digest = ? AND ended_at IS NULL",
            [now or datetime.now(UTC), _digest(secret)],
        ).fetchall()


def end_session(store: EventStore, secret: str) -> None:
    """End one session (log out); idempotent."""
    ensure_schema(store)
    with store.transaction() as con:
        con.execute(
            "UPDATE sessions SET ended_at = current_timestamp WHERE digest = ?"
            " AND ended_at IS NULL",
            [_digest(secret)],
        ).fetchall()


def end_user_sessions(store: EventStore, name: str) -> int:
    """End every live session of user ``name``; returns how many were live."""
    ensure_schema(store)
    with store.transaction() as con:
        live = con.execute(
            "SELECT count(*) FROM sessions WHERE user_name = ? AND ended_at IS NULL", [name]
        ).fetchall()[0][0]
        con.execute(_END_USER_SESSIONS, [name]).fetchall()
    _changed()
    return int(live)


def list_sessions(store: EventStore, name: str | None = None) -> list[SessionInfo]:
    """Live sessions (of ``name``, or everyone's), most recently used first."""
    ensure_schema(store)
    where, params = ("AND user_name = ?", [name]) if name else ("", [])
    rows = store.query(
        "SELECT left(digest, 12) AS sid, user_name, created_at, last_seen_at, ended_at"
        f" FROM sessions WHERE ended_at IS NULL {where} ORDER BY last_seen_at DESC",
        params,
    ).to_pylist()
    return [
        SessionInfo(r["sid"], r["user_name"], r["created_at"], r["last_seen_at"], r["ended_at"])
        for r in rows
    ]


# -- API tokens ------------------------------------------------------------------------------
def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    store: EventStore,
    scopes: list[str] | tuple[str, ...],
    name: str = "",
    user: str | None = None,
    expires_days: int | None = None,
) -> tuple[str, ApiToken]:
    """A new API token; the secret is returned once and stored only as a digest.

    ``expires_days``: the token is refused that many days from now (default: never)."""
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise AccountError(f"scopes must be among {', '.join(SCOPES)}; got {list(scopes)}")
    if len(name) > 100:
        raise AccountError("token name: at most 100 characters")
    expires_at = None
    if expires_days is not None:
        if not 1 <= expires_days <= MAX_EXPIRES_DAYS:
            raise AccountError(f"expires_days must be between 1 and {MAX_EXPIRES_DAYS}")
        expires_at = datetime.now(UTC) + timedelta(days=expires_days)
    ensure_schema(store)
    if user is not None:
        owner = get_user(store, user)
        if owner is None:
            raise AccountError(f"no user {user!r}")
        if owner.disabled:
            raise AccountError(f"user {user!r} is disabled")
    token_id = secrets.token_hex(6)
    secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    scope_text = ",".join(sorted(set(scopes)))
    with store.transaction() as con:
        con.execute(
            "INSERT INTO api_tokens (token_id, digest, name, scopes, user_name, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [token_id, _digest(secret), name or token_id, scope_text, user, expires_at],
        ).fetchall()
    return secret, ApiToken(
        token_id, name or token_id, tuple(scope_text.split(",")), user, expires_at
    )


def verify_token(store: EventStore, secret: str) -> ApiToken | None:
    """The token a secret belongs to, else ``None`` (also when revoked, expired, or when its
    user is disabled or gone)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    rows = store.query(
        "SELECT t.token_id, t.name, t.scopes, t.user_name, t.expires_at FROM api_tokens t"
        " LEFT JOIN users u ON u.name = t.user_name"
        " WHERE t.digest = ? AND t.revoked_at IS NULL"
        " AND (t.expires_at IS NULL OR t.expires_at > current_timestamp)"
        " AND (t.user_name IS NULL OR (u.name IS NOT NULL AND NOT u.disabled))",
        [_digest(secret)],
    ).to_pylist()
    if not rows:
        return None
    r = rows[0]
    return ApiToken(
        r["token_id"], r["name"], tuple(r["scopes"].split(",")), r["user_name"], r["expires_at"]
    )


_TOKEN_SELECT = (
    "SELECT token_id, name, scopes, user_name, created_at, expires_at, last_used_at, revoked_at"
    " FROM api_tokens"
)


def _token_info(r: Mapping[str, Any]) -> TokenInfo:
    return TokenInfo(
        r["token_id"],
        r["name"],
        tuple(r["scopes"].split(",")),
        r["user_name"],
        r["created_at"],
        r["expires_at"],
        r["last_used_at"],
        r["revoked_at"],
    )


def list_tokens(store: EventStore, include_revoked: bool = True) -> list[TokenInfo]:
    """All tokens, newest first, without their secrets."""
    where = "" if include_revoked else " WHERE revoked_at IS NULL"
    rows = store.query(f"{_TOKEN_SELECT}{where} ORDER BY created_at DESC, token_id").to_pylist()
    return [_token_info(r) for r in rows]


def get_token(store: EventStore, token_id: str) -> TokenInfo | None:
    rows = store.query(f"{_TOKEN_SELECT} WHERE token_id = ?", [token_id]).to_pylist()
    return _token_info(rows[0]) if rows else None


def revoke_token(store: EventStore, token_id: str) -> TokenInfo | None:
    """Revoke a token from now on (idempotent); ``None`` when there is no such token."""
    ensure_schema(store)
    with store.transaction() as con:
        con.execute(
            "UPDATE api_tokens SET revoked_at = current_timestamp"
            " WHERE token_id = ? AND revoked_at IS NULL",
            [token_id],
        ).fetchall()
    _changed()
    return get_token(store, token_id)


def record_token_use(store: EventStore, used: Mapping[str, datetime]) -> None:
    """Store the last-use times of tokens (token id -> when); only ever moves forward."""
    if not used:
        return
    with store.transaction() as con:
        for token_id, when in used.items():
            con.execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE token_id = ?"
                " AND (last_used_at IS NULL OR last_used_at < ?)",
                [when, token_id, when],
            ).fetchall()


def ensure_demo_accounts(store: EventStore) -> dict[str, str]:
    """Demo mode only: (re)create admin/analyst/viewer with fresh random passwords.

    Returns name -> password so the caller can print them once.
    """
    passwords = {}
    for role in ROLES:
        password = f"{role}-{secrets.token_hex(4)}"
        add_user(store, role, role, password)
        passwords[role] = password
    return passwords
