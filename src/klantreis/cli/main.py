"""``klantreis`` command group. Each command lives in its own module and calls one library
function; this module only wires them together.

Commands are registered in ``COMMAND_MODULES``: each module exposes ``register(cli)``. Options
they share (store, output format) live in :mod:`klantreis.cli.options`; ``store_options`` and
``settings_from_options`` are re-exported here for older imports.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import click

from klantreis.cli.options import settings_from_options, store_options
from klantreis.settings import SETTINGS

__all__ = ["cli", "settings_from_options", "store_options"]

#: Modules that add commands with ``register(cli)``; add yours here.
COMMAND_MODULES: list[str] = [
    "klantreis.cli.journeys_cmd",
    "klantreis.cli.ingest_cmd",
    "klantreis.cli.demo_cmd",
    "klantreis.cli.serve_cmd",
    "klantreis.cli.accounts_cmd",
    "klantreis.cli.contacts_cmd",
    "klantreis.cli.text_cmd",
    "klantreis.cli.metrics_cmd",
    "klantreis.cli.outbox_cmd",
    "klantreis.cli.push_cmd",
    "klantreis.cli.directory_cmd",
    "klantreis.cli.surveys_cmd",
    "klantreis.cli.cases_cmd",
]


class _Commands(click.Group):
    """The command group; a store that cannot be opened (locked by another process, a
    server that refuses) is one line on stderr and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            # A store or server error can only come from a command that loaded them: the
            # store (and DuckDB) stay unimported for --help and commands that do not need it.
            if "klantreis.store" not in sys.modules:
                raise
            from klantreis.live import LiveError, explain_lock
            from klantreis.store import StoreError, StoreLockedError

            if isinstance(exc, StoreLockedError):
                raise click.ClickException(explain_lock(exc)) from None
            if isinstance(exc, StoreError | LiveError):
                raise click.ClickException(str(exc)) from None
            raise


@click.group(cls=_Commands, help="klantreis: the customer-event log and honest CX metrics.")
@click.version_option(package_name="klantreis")
@click.option("-v", "--verbose", is_flag=True, help="Log more detail.")
def cli(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@cli.command(help="Create an empty event store (and migrate an old one).")
@store_options
def init(db_path: str | None, journey_config: str | None) -> None:
    from klantreis.app import App

    settings = settings_from_options(db_path=db_path, journey_config=journey_config)
    with App(settings) as app:
        click.echo(
            f"store ready: {settings.db_path} (schema version "
            f"{app.store.schema_version()}, {app.store.count():,} events)"
        )


@cli.group(help="Check and explain configuration.")
def config() -> None:
    pass


@config.command("check", help="Validate a journey configuration TOML and list every problem.")
@click.argument("path", type=click.Path(path_type=Path))
def config_check(path: Path) -> None:
    from klantreis.model.journey import check_journey_config

    problems = check_journey_config(path)
    if problems:
        click.echo(f"{path}: {len(problems)} problem(s)", err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    click.echo(f"{path}: ok")


@config.command("settings", help="List every setting with its default and environment variable.")
def config_settings() -> None:
    for s in SETTINGS:
        default = "(none)" if s.secret else repr(s.default)
        click.echo(f"KLANTREIS_{s.name.upper():28} {default:22} {s.help}")


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(cli)
