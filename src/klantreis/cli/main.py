"""``klantreis`` command group. Each command lives in its own module and calls one library
function; this module only wires them together.

Commands are listed in ``COMMANDS`` (top-level name -> module); each module exposes
``register(cli)``, which adds its commands. A module is imported only when one of its commands
runs or a help page lists it, so ``klantreis journeys dfg`` pays for the journeys module and
nothing else (issue 17; ``tests/cli/test_startup_imports.py`` keeps it so). Options they
share (store, output format) live in :mod:`klantreis.cli.options`; ``store_options`` and
``settings_from_options`` are re-exported here for older imports.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from klantreis.cli.options import (
    settings_from_options,
    store_options,
    tune_collector_for_one_command,
)
from klantreis.settings import SETTINGS

__all__ = ["cli", "settings_from_options", "store_options"]

#: Every top-level command and the module whose ``register(cli)`` adds it; add yours here (a
#: test checks each module adds exactly the names listed for it).
COMMANDS: dict[str, str] = {
    "journeys": "klantreis.cli.journeys_cmd",
    "export": "klantreis.cli.journeys_cmd",
    "ingest": "klantreis.cli.ingest_cmd",
    "quarantine": "klantreis.cli.ingest_cmd",
    "mapping": "klantreis.cli.ingest_cmd",
    "demo": "klantreis.cli.demo_cmd",
    "serve": "klantreis.cli.serve_cmd",
    "user": "klantreis.cli.accounts_cmd",
    "token": "klantreis.cli.accounts_cmd",
    "contacts": "klantreis.cli.contacts_cmd",
    "text": "klantreis.cli.text_cmd",
    "metrics": "klantreis.cli.metrics_cmd",
    "outbox": "klantreis.cli.outbox_cmd",
    "push": "klantreis.cli.push_cmd",
    "directory": "klantreis.cli.directory_cmd",
    "surveys": "klantreis.cli.surveys_cmd",
    "cases": "klantreis.cli.cases_cmd",
}

#: The modules of :data:`COMMANDS`, in a stable order.
COMMAND_MODULES: list[str] = list(dict.fromkeys(COMMANDS.values()))


class _Commands(click.Group):
    """The command group. Commands of :data:`COMMANDS` are loaded on first use. A store that
    cannot be opened (locked by another process, a server that refuses) or a configuration
    file that cannot be used is one line on stderr and exit code 1, not a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name]).register(self)
        return self.commands.get(cmd_name)

    def main(self, args: Sequence[str] | None = None, *rest: Any, **kw: Any) -> Any:
        if args is None:  # the process's own command line: the process ends with it
            tune_collector_for_one_command()
        return super().main(args, *rest, **kw)

    def load_all(self) -> dict[str, click.Command]:
        """Every command, each module imported (for tests and tools that walk the tree)."""
        for name in COMMANDS:
            self.get_command(click.Context(self), name)
        return dict(self.commands)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if "klantreis.model.tomlfile" in sys.modules:  # a configuration file's problems
                from klantreis.model.tomlfile import ConfigFileError

                if isinstance(exc, ConfigFileError):
                    raise click.ClickException(str(exc)) from None
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
