"""Users, password hashing and API tokens in the store."""

from __future__ import annotations

import pytest

from klantreis.access import accounts
from klantreis.app import App


def test_password_hash_is_salted_and_verifies() -> None:
    a, b = accounts.hash_password("geheim-wachtwoord"), accounts.hash_password("geheim-wachtwoord")
    assert a != b and "geheim" not in a
    assert accounts.verify_password("geheim-wachtwoord", a)
    assert not accounts.verify_password("geheim-wachtwoorD", a)
    assert not accounts.verify_password("x", "not-a-hash")


def test_add_and_authenticate(app: App) -> None:
    accounts.add_user(app.store, "els", "analyst", "lang-genoeg-1")
    assert accounts.authenticate(app.store, "els", "lang-genoeg-1") == accounts.User(
        "els", "analyst"
    )
    assert accounts.authenticate(app.store, "els", "fout-wachtwoord") is None
    assert accounts.authenticate(app.store, "niemand", "lang-genoeg-1") is None
    accounts.add_user(app.store, "els", "viewer", "nieuw-wachtwoord")
    assert accounts.get_user(app.store, "els") == accounts.User("els", "viewer")
    stored = app.store.query("SELECT password_hash FROM users").to_pylist()[0]["password_hash"]
    assert "wachtwoord" not in stored


@pytest.mark.parametrize(
    ("name", "role", "password"),
    [
        ("els", "boss", "lang-genoeg-1"),
        ("els", "viewer", "kort"),
        ("", "viewer", "lang-genoeg"),
        ("a b", "viewer", "lang-genoeg-1"),
    ],
)
def test_invalid_users_are_refused(app: App, name: str, role: str, password: str) -> None:
    with pytest.raises(accounts.AccountError):
        accounts.add_user(app.store, name, role, password)


def test_tokens_are_stored_hashed_with_scopes(app: App) -> None:
    secret, tok = accounts.create_token(app.store, ["ingest", "read"], name="shop")
    assert tok.scopes == ("ingest", "read")
    assert accounts.verify_token(app.store, secret) == tok
    assert accounts.verify_token(app.store, secret + "x") is None
    assert accounts.verify_token(app.store, "nonsense") is None
    rows = app.store.query("SELECT * FROM api_tokens").to_pylist()
    assert all(secret not in str(v) for v in rows[0].values())


def test_token_scopes_and_user_are_checked(app: App) -> None:
    with pytest.raises(accounts.AccountError):
        accounts.create_token(app.store, ["write"])
    with pytest.raises(accounts.AccountError):
        accounts.create_token(app.store, [])
    with pytest.raises(accounts.AccountError):
        accounts.create_token(app.store, ["read"], user="nobody")


def test_demo_accounts_have_fresh_passwords(app: App) -> None:
    first = accounts.ensure_demo_accounts(app.store)
    second = accounts.ensure_demo_accounts(app.store)
    assert set(first) == {"admin", "analyst", "viewer"} and first != second
    assert accounts.authenticate(app.store, "viewer", second["viewer"]) is not None
    assert accounts.authenticate(app.store, "viewer", first["viewer"]) is None
