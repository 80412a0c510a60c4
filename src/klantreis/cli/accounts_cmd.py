"""``klantreis user ...`` and ``klantreis token ...``: thin wrappers over
:mod:`klantreis.access.accounts`. ``user list`` and ``token list`` print a table (tab-separated)
by default, or ``--format json|csv``.

While ``klantreis serve`` holds the store, every one of them goes to that server's admin API
(:mod:`klantreis.live`, with the local secret of its discovery file): the commands work the
same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from klantreis.cli.options import emit, open_app, output_options, store_options

if TYPE_CHECKING:
    from klantreis.app import App
    from klantreis.live import LiveClient

__all__ = ["register"]

T = TypeVar("T")


def _change(
    db_path: str | None,
    journey_config: str | None,
    here: Callable[[App], T],
    via_server: Callable[[LiveClient], T],
) -> T:
    """Run an account change or look-up on the store (``here``), or through the running
    server that holds it (``via_server``); refusals of either are one-line errors."""
    from klantreis.access.accounts import AccountError
    from klantreis.live import LiveClient, LiveError
    from klantreis.store import StoreLockedError

    try:
        with open_app(db_path, journey_config, writes=True) as app:
            return here(app)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    except StoreLockedError as exc:
        client = LiveClient.for_locked(exc)
    try:
        return via_server(client)
    except LiveError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(help="Manage users of the dashboard.")
def user() -> None:
    pass


def _read_password(password_stdin: bool) -> str:
    """A new password: the first line of stdin with --password-stdin, else a hidden prompt
    (asked twice)."""
    if password_stdin:
        import sys

        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True))


_PASSWORD_STDIN = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin (for scripts) instead of a prompt.",
)


@user.command(
    "add",
    help="Add a user (or set a new password and role, which ends their sessions). Prompts for"
    " the password unless --password-stdin or --password is given.",
)
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "analyst", "viewer"]),
    default="viewer",
    show_default=True,
    help="admin: everything; analyst: all data; viewer: pages, personal data masked.",
)
@click.option(
    "--password",
    default=None,
    help="Password (at least 8 characters). Visible in the process list and shell history:"
    " prefer the prompt or --password-stdin.",
)
@_PASSWORD_STDIN
@store_options
def user_add(
    name: str,
    role: str,
    password: str | None,
    password_stdin: bool,
    db_path: str | None,
    journey_config: str | None,
) -> None:
    from klantreis.access.accounts import add_user

    if password is None:
        password = _read_password(password_stdin)
    secret = password
    _change(
        db_path,
        journey_config,
        lambda app: add_user(app.store, name, role, secret),
        lambda server: server.call(
            "POST", "/api/v1/users", {"name": name, "role": role, "password": secret}
        ),
    )
    click.echo(f"user {name}: {role}")


@user.command("list", help="List users: name, role and state (active or disabled).")
@store_options
@output_options
def user_list(db_path: str | None, journey_config: str | None, output: str) -> None:
    from klantreis.access.accounts import ensure_schema, list_users

    def here(app: App) -> list[dict[str, Any]]:
        ensure_schema(app.store)
        return [
            {"name": u.name, "role": u.role, "disabled": u.disabled} for u in list_users(app.store)
        ]

    found = _change(db_path, journey_config, here, lambda s: s.call("GET", "/api/v1/users"))
    rows = [
        {"name": u["name"], "role": u["role"], "state": "disabled" if u["disabled"] else "active"}
        for u in found
    ]
    if output != "table":
        emit(rows, output, ["name", "role", "state"])
        return
    for row in rows:
        click.echo("\t".join(row.values()))


@user.command(
    "passwd",
    help="Set a new password for a user (prompted, or --password-stdin); their existing"
    " sessions end.",
)
@click.argument("name")
@_PASSWORD_STDIN
@store_options
def user_passwd(
    name: str, password_stdin: bool, db_path: str | None, journey_config: str | None
) -> None:
    from klantreis.access.accounts import get_user, set_password

    def here(app: App) -> None:
        if get_user(app.store, name) is None:
            raise click.ClickException(f"no user {name!r}")
        set_password(app.store, name, _read_password(password_stdin))

    def via_server(server: LiveClient) -> None:
        body = {"password": _read_password(password_stdin)}
        server.call("PUT", f"/api/v1/users/{_quote(name)}/password", body)

    _change(db_path, journey_config, here, via_server)
    click.echo(f"user {name}: new password; existing sessions ended")


def _set_disabled(name: str, disabled: bool, db_path: str | None, jc: str | None) -> None:
    from klantreis.access.accounts import set_disabled

    _change(
        db_path,
        jc,
        lambda app: set_disabled(app.store, name, disabled),
        lambda server: server.call(
            "PUT", f"/api/v1/users/{_quote(name)}/disabled", {"disabled": disabled}
        ),
    )


def _quote(part: str) -> str:
    from urllib.parse import quote

    return quote(part, safe="")


@user.command(
    "disable",
    help="Disable a user: no login, existing sessions end, their API tokens are refused.",
)
@click.argument("name")
@store_options
def user_disable(name: str, db_path: str | None, journey_config: str | None) -> None:
    _set_disabled(name, True, db_path, journey_config)
    click.echo(f"user {name}: disabled")


@user.command("enable", help="Enable a disabled user again (they log in anew).")
@click.argument("name")
@store_options
def user_enable(name: str, db_path: str | None, journey_config: str | None) -> None:
    _set_disabled(name, False, db_path, journey_config)
    click.echo(f"user {name}: enabled")


@click.group(help="Manage API tokens.")
def token() -> None:
    pass


@token.command("create", help="Create an API token; it is shown once and stored hashed.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(["ingest", "read"]),
    help="ingest: POST events; read: the API. Repeat for both.",
)
@click.option("--name", default="", help="A name to recognise the token by.")
@click.option(
    "--user",
    "user_name",
    default=None,
    help="Read as this user (their role decides masking; default: as a viewer).",
)
@click.option(
    "--expires-days",
    type=click.IntRange(1, 3650),
    default=None,
    help="Refuse the token after this many days (default: never expires).",
)
@store_options
def token_create(
    scopes: tuple[str, ...],
    name: str,
    user_name: str | None,
    expires_days: int | None,
    db_path: str | None,
    journey_config: str | None,
) -> None:
    from klantreis.access.accounts import create_token

    def here(app: App) -> tuple[str, dict[str, Any]]:
        secret, tok = create_token(
            app.store, list(scopes), name=name, user=user_name, expires_days=expires_days
        )
        shown = {"id": tok.token_id, "name": tok.name, "scopes": list(tok.scopes)}
        return secret, {**shown, "expires_at": tok.expires_at}

    def via_server(server: LiveClient) -> tuple[str, dict[str, Any]]:
        body = {"scopes": list(scopes), "name": name, "user": user_name}
        answer = server.call("POST", "/api/v1/tokens", {**body, "expires_days": expires_days})
        return answer["secret"], answer["token"]

    secret, tok = _change(db_path, journey_config, here, via_server)
    expires = f", expires {_when(tok['expires_at'])} UTC" if tok["expires_at"] else ""
    click.echo(f"token {tok['name']} [{tok['id']}] ({', '.join(tok['scopes'])}{expires}):")
    click.echo(secret)


def _when(value: object) -> str:
    from datetime import UTC, datetime

    if isinstance(value, str):  # from the server's JSON
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return "-"


@token.command(
    "list",
    help="List API tokens (never their secrets): id, name, scopes, user, state, created,"
    " expires, last used (UTC).",
)
@click.option("--active", is_flag=True, help="Leave out revoked tokens.")
@store_options
@output_options
def token_list(active: bool, db_path: str | None, journey_config: str | None, output: str) -> None:
    from klantreis.access.accounts import ensure_schema, list_tokens

    def here(app: App) -> list[dict[str, Any]]:
        ensure_schema(app.store)
        return [t.to_dict() for t in list_tokens(app.store)]

    found = _change(db_path, journey_config, here, lambda s: s.call("GET", "/api/v1/tokens"))
    rows = [
        {
            "id": t["id"],
            "name": t["name"],
            "scopes": ",".join(t["scopes"]),
            "user": t["user"] or "-",
            "state": t["state"],
            "created": _when(t["created_at"]),
            "expires": _when(t["expires_at"]),
            "last_used": _when(t["last_used_at"]),
        }
        for t in found
        if not (active and t["revoked_at"])
    ]
    if output != "table":
        emit(rows, output, list(_TOKEN_COLUMNS))
        return
    click.echo("\t".join(_TOKEN_COLUMNS))
    for row in rows:
        click.echo("\t".join(row.values()))


_TOKEN_COLUMNS = ("id", "name", "scopes", "user", "state", "created", "expires", "last_used")


@token.command("revoke", help="Revoke an API token by its id (see 'token list').")
@click.argument("token_id")
@store_options
def token_revoke(token_id: str, db_path: str | None, journey_config: str | None) -> None:
    from klantreis.access.accounts import revoke_token

    def here(app: App) -> str:
        info = revoke_token(app.store, token_id)
        if info is None:
            raise click.ClickException(f"no token {token_id!r}")
        return info.name

    def via_server(server: LiveClient) -> str:
        return str(server.call("DELETE", f"/api/v1/tokens/{_quote(token_id)}")["name"])

    name = _change(db_path, journey_config, here, via_server)
    click.echo(f"token {name} [{token_id}]: revoked")


def register(cli: click.Group) -> None:
    cli.add_command(user)
    cli.add_command(token)
