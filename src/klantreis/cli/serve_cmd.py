"""``klantreis serve``, ``klantreis user ...`` and ``klantreis token ...``: thin wrappers over
:func:`klantreis.web.serve` and :mod:`klantreis.services.accounts`."""

from __future__ import annotations

import click

from klantreis.cli.main import settings_from_options, store_options

__all__ = ["register"]


@click.command(
    help="Serve the dashboard and the JSON API (one process). Needs"
    " KLANTREIS_SECRET_KEY unless --demo."
)
@store_options
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default 8000).")
@click.option(
    "--demo",
    "demo_mode",
    is_flag=True,
    default=None,
    help="Demo mode: a generated secret key and demo accounts with printed passwords.",
)
def serve(
    db_path: str | None,
    journey_config: str | None,
    host: str | None,
    port: int | None,
    demo_mode: bool | None,
) -> None:
    from klantreis.settings import SettingsError
    from klantreis.web import serve as run

    settings = settings_from_options(
        db_path=db_path, journey_config=journey_config, host=host, port=port, demo_mode=demo_mode
    )
    try:
        settings.require_secret_key()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    if settings.demo_mode:
        _print_demo_accounts(settings)
    click.echo(f"klantreis: http://{settings.host}:{settings.port}/  (Ctrl+C to stop)")
    run(settings)


def _print_demo_accounts(settings: object) -> None:
    from klantreis.app import App
    from klantreis.services.accounts import ensure_demo_accounts

    with App(settings) as app:  # type: ignore[arg-type]
        for name, password in ensure_demo_accounts(app.store).items():
            click.echo(f"  login: {name} / {password}")


@click.group(help="Manage users of the dashboard.")
def user() -> None:
    pass


@user.command(
    "add",
    help="Add a user (or set a new password and role). Prompts for the"
    " password unless --password is given.",
)
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "analyst", "viewer"]),
    default="viewer",
    show_default=True,
    help="admin: everything; analyst: all data; viewer: pages, personal data masked.",
)
@click.option("--password", default=None, help="Password (at least 8 characters).")
@store_options
def user_add(
    name: str, role: str, password: str | None, db_path: str | None, journey_config: str | None
) -> None:
    from klantreis.app import App
    from klantreis.services.accounts import AccountError, add_user

    if password is None:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    settings = settings_from_options(db_path=db_path, journey_config=journey_config)
    with App(settings) as app:
        try:
            add_user(app.store, name, role, password)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"user {name}: {role}")


@user.command("list", help="List users and their roles.")
@store_options
def user_list(db_path: str | None, journey_config: str | None) -> None:
    from klantreis.app import App
    from klantreis.services.accounts import ensure_schema, list_users

    with App(settings_from_options(db_path=db_path, journey_config=journey_config)) as app:
        ensure_schema(app.store)
        for u in list_users(app.store):
            click.echo(f"{u.name}\t{u.role}")


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
@store_options
def token_create(
    scopes: tuple[str, ...],
    name: str,
    user_name: str | None,
    db_path: str | None,
    journey_config: str | None,
) -> None:
    from klantreis.app import App
    from klantreis.services.accounts import AccountError, create_token

    with App(settings_from_options(db_path=db_path, journey_config=journey_config)) as app:
        try:
            secret, tok = create_token(app.store, list(scopes), name=name, user=user_name)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"token {tok.name} ({', '.join(tok.scopes)}):")
    click.echo(secret)


def register(cli: click.Group) -> None:
    cli.add_command(serve)
    cli.add_command(user)
    cli.add_command(token)
