"""Accounts: users with a role, hashed passwords, and API tokens with scopes.

Kept in the event store's DuckDB database (tables ``users`` and ``api_tokens``, created by
``ensure_schema``). Passwords are hashed with scrypt (salted, parameters stored with the hash);
API tokens are random and stored only as a SHA-256 digest, so a stolen database reveals neither.

Roles: ``admin`` (everything, manages users), ``analyst`` (all data, personal data visible),
``viewer`` (pages and aggregates; personal data masked). Token scopes: ``ingest`` (POST events),
``read`` (the JSON API).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from klantreis.store import EventStore

__all__ = [
    "ROLES",
    "SCOPES",
    "AccountError",
    "ApiToken",
    "User",
    "add_user",
    "authenticate",
    "create_token",
    "ensure_demo_accounts",
    "ensure_schema",
    "get_user",
    "hash_password",
    "list_users",
    "verify_password",
    "verify_token",
]

ROLES = ("admin", "analyst", "viewer")
SCOPES = ("ingest", "read")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
TOKEN_PREFIX = "kr_"


class AccountError(ValueError):
    """A user or token request that cannot be honoured."""


@dataclass(frozen=True)
class User:
    name: str
    role: str

    @property
    def sees_personal_data(self) -> bool:
        return self.role in ("admin", "analyst")


@dataclass(frozen=True)
class ApiToken:
    token_id: str
    name: str
    scopes: tuple[str, ...]
    user: str | None


def ensure_schema(store: EventStore) -> None:
    """Create the account tables when missing (idempotent)."""
    with store.transaction() as con:
        con.execute("""CREATE TABLE IF NOT EXISTS users (
            name VARCHAR PRIMARY KEY, role VARCHAR NOT NULL, password_hash VARCHAR NOT NULL,
            created_at TIMESTAMPTZ DEFAULT current_timestamp)""").fetchall()
        con.execute("""CREATE TABLE IF NOT EXISTS api_tokens (
            token_id VARCHAR PRIMARY KEY, digest VARCHAR NOT NULL UNIQUE, name VARCHAR,
            scopes VARCHAR NOT NULL, user_name VARCHAR,
            created_at TIMESTAMPTZ DEFAULT current_timestamp)""").fetchall()


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (hex)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    got = hashlib.scrypt(
        password.encode("utf-8"), salt=bytes.fromhex(salt), dklen=32, n=int(n), r=int(r), p=int(p)
    )
    return hmac.compare_digest(got.hex(), digest)


def add_user(store: EventStore, name: str, role: str, password: str) -> User:
    """Create or update a user (a new password and role replace the old ones)."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if (
        not name
        or len(name) > 100
        or not name.replace("-", "").replace("_", "").replace(".", "").replace("@", "").isalnum()
    ):
        raise AccountError("user name: 1-100 letters, digits, '.', '-', '_' or '@'")
    if len(password) < 8:
        raise AccountError("password must be at least 8 characters")
    ensure_schema(store)
    with store.transaction() as con:
        con.execute(
            "INSERT OR REPLACE INTO users (name, role, password_hash) VALUES (?, ?, ?)",
            [name, role, hash_password(password)],
        ).fetchall()
    return User(name, role)


def get_user(store: EventStore, name: str) -> User | None:
    rows = store.query("SELECT name, role FROM users WHERE name = ?", [name]).to_pylist()
    return User(rows[0]["name"], rows[0]["role"]) if rows else None


def list_users(store: EventStore) -> list[User]:
    rows = store.query("SELECT name, role FROM users ORDER BY name").to_pylist()
    return [User(r["name"], r["role"]) for r in rows]


def authenticate(store: EventStore, name: str, password: str) -> User | None:
    """The user when the password matches, else ``None`` (same work either way)."""
    rows = store.query(
        "SELECT name, role, password_hash FROM users WHERE name = ?", [name]
    ).to_pylist()
    if not rows:
        verify_password(password, hash_password("timing-equaliser"))
        return None
    row = rows[0]
    return (
        User(row["name"], row["role"]) if verify_password(password, row["password_hash"]) else None
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    store: EventStore, scopes: list[str] | tuple[str, ...], name: str = "", user: str | None = None
) -> tuple[str, ApiToken]:
    """A new API token; the secret is returned once and stored only as a digest."""
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise AccountError(f"scopes must be among {', '.join(SCOPES)}; got {list(scopes)}")
    ensure_schema(store)
    if user is not None and get_user(store, user) is None:
        raise AccountError(f"no user {user!r}")
    token_id = secrets.token_hex(6)
    secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    scope_text = ",".join(sorted(set(scopes)))
    with store.transaction() as con:
        con.execute(
            "INSERT INTO api_tokens (token_id, digest, name, scopes, user_name)"
            " VALUES (?, ?, ?, ?, ?)",
            [token_id, _digest(secret), name or token_id, scope_text, user],
        ).fetchall()
    return secret, ApiToken(token_id, name or token_id, tuple(scope_text.split(",")), user)


def verify_token(store: EventStore, secret: str) -> ApiToken | None:
    """The token a secret belongs to, else ``None``."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    rows = store.query(
        "SELECT token_id, name, scopes, user_name FROM api_tokens WHERE digest = ?",
        [_digest(secret)],
    ).to_pylist()
    if not rows:
        return None
    r = rows[0]
    return ApiToken(r["token_id"], r["name"], tuple(r["scopes"].split(",")), r["user_name"])


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
