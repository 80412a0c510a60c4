"""``klantreis directory ...``: import contact details, record consent, check, suppress,
erase. Thin wrappers over :mod:`klantreis.directory` (docs/outbox.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from klantreis.cli.options import emit, output_options, settings_from_options

if TYPE_CHECKING:
    from klantreis.directory import Directory

__all__ = ["register"]

F = TypeVar("F", bound=Callable[..., Any])


def _where(func: F) -> F:
    func = click.option(
        "--directory",
        "directory_path",
        default=None,
        help="DuckDB file of the directory (env KLANTREIS_DIRECTORY_PATH; default: beside"
        " the store).",
    )(func)
    return click.option(
        "--db",
        "db_path",
        default=None,
        help="DuckDB file of the event log (env KLANTREIS_DB_PATH).",
    )(func)


@contextmanager
def _open(db_path: str | None, directory_path: str | None) -> Iterator[Directory]:
    from klantreis.directory import DirectoryError, open_directory

    settings = settings_from_options(db_path=db_path, directory_path=directory_path)
    try:
        with open_directory(settings, signing=False) as d:
            yield d
    except (DirectoryError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group(help="The customer directory: contact details and consent, apart from the event log.")
def directory() -> None:
    pass


@directory.command("import", help="Import contact details (and consent columns) from a CSV file.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--source", default=None, help="Where the consent was given (default: the file name)."
)
@_where
@output_options
def import_(
    path: Path, source: str | None, db_path: str | None, directory_path: str | None, output: str
) -> None:
    with _open(db_path, directory_path) as d:
        summary = d.import_csv(path, source=source)
    rejected = [{"line": r.line, "reason": r.reason} for r in summary.rejected]
    totals = {
        "rows_in": summary.rows,
        "stored": summary.stored,
        "rejected": len(summary.rejected),
        "consents": summary.consents,
    }
    emit(rejected, output, ["line", "reason"], totals)


@directory.command("consent", help="Record a consent (--grant) or an objection (--object).")
@click.argument("customer_id")
@click.argument("purpose", type=click.Choice(["surveys", "service"]))
@click.option("--grant/--object", "granted", required=True, help="Consent or objection.")
@click.option("--source", required=True, help="Where it was given (a call, a form, a letter).")
@_where
def consent(
    customer_id: str,
    purpose: str,
    granted: bool,
    source: str,
    db_path: str | None,
    directory_path: str | None,
) -> None:
    with _open(db_path, directory_path) as d:
        d.set_consent(customer_id, purpose, granted, source=source)
    click.echo(f"{purpose}: {'consent' if granted else 'objection'} recorded")


@directory.command("check", help="May this customer be contacted for a purpose on a channel?")
@click.argument("customer_id")
@click.argument("purpose", type=click.Choice(["surveys", "service"]))
@click.argument("channel", default="email")
@_where
def check(
    customer_id: str, purpose: str, channel: str, db_path: str | None, directory_path: str | None
) -> None:
    with _open(db_path, directory_path) as d:
        allowed, reason = d.may_contact(customer_id, purpose, channel)
    click.echo("allowed" if allowed else f"not allowed: {reason}")


@directory.command("suppress", help="Never contact an address again (or --undo).")
@click.argument("address")
@click.option("--reason", default="manual", help="Why (bounce, complaint, request).")
@click.option("--undo", is_flag=True, help="Take the address off the list.")
@_where
def suppress(
    address: str, reason: str, undo: bool, db_path: str | None, directory_path: str | None
) -> None:
    with _open(db_path, directory_path) as d:
        if undo:
            click.echo("removed" if d.unsuppress(address) else "was not on the list")
        else:
            d.suppress(address, reason)
            click.echo("suppressed")


@directory.command(
    "erase",
    help="Erase one customer's contact details and consent history (a request under GDPR"
    " art. 17); keeps only a tombstone so they are never contacted again.",
)
@click.argument("customer_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_where
def erase(customer_id: str, yes: bool, db_path: str | None, directory_path: str | None) -> None:
    if not yes:
        click.confirm(f"erase the details of {customer_id}?", abort=True)
    with _open(db_path, directory_path) as d:
        removed = d.erase(customer_id)
    click.echo(f"erased ({removed} rows removed; the file was rewritten)")


def register(cli: click.Group) -> None:
    cli.add_command(directory)
