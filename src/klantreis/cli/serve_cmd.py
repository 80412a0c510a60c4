"""``klantreis serve``: a thin wrapper over :func:`klantreis.web.app.serve` (``user`` and
``token`` are in :mod:`klantreis.cli.accounts_cmd`)."""

from __future__ import annotations

import click

from klantreis.cli.options import collector_for_a_server, settings_from_options, store_options

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
@click.option(
    "--access-log",
    is_flag=True,
    default=False,
    help="Log one line per request (off by default: at thousands of ingest requests per"
    " second the log itself costs measurably).",
)
def serve(
    db_path: str | None,
    journey_config: str | None,
    host: str | None,
    port: int | None,
    demo_mode: bool | None,
    access_log: bool,
) -> None:
    from klantreis.cli.demo_cmd import announce_when_listening
    from klantreis.settings import SettingsError
    from klantreis.web.app import serve as run

    settings = settings_from_options(
        db_path=db_path, journey_config=journey_config, host=host, port=port, demo_mode=demo_mode
    )
    try:
        settings.require_secret_key()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    if settings.demo_mode:
        _print_demo_accounts(settings)
    address = f"klantreis: http://{settings.host}:{settings.port}/  (Ctrl+C to stop)"
    announce_when_listening(settings.host, settings.port, address)  # once it accepts
    collector_for_a_server()
    run(settings, access_log=access_log)


def _print_demo_accounts(settings: object) -> None:
    from klantreis.access.accounts import stable_demo_accounts
    from klantreis.app import App

    with App(settings) as app:  # type: ignore[arg-type]
        for name, password in stable_demo_accounts(app.store).items():
            click.echo(f"  login: {name} / {password}")


def register(cli: click.Group) -> None:
    cli.add_command(serve)
