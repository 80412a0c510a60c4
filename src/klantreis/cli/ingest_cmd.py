"""``klantreis ingest`` and ``klantreis quarantine``: thin wrappers over
``klantreis.ingest.ingest_paths`` and the store's quarantine table."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from klantreis.cli.options import settings_from_options, store_options

__all__ = ["register"]


def _summary_table(summary: Any) -> Any:
    from rich.table import Table

    table = Table(title="ingest")
    for name in (
        "file",
        "format",
        "encoding",
        "rows read",
        "events",
        "stored",
        "duplicates",
        "quarantined",
        "status",
    ):
        table.add_column(name, justify="left" if name in ("file", "status") else "right")
    for f in summary.files:
        table.add_row(
            f.path,
            f.format,
            f.encoding or "",
            f"{f.rows_read:,}",
            f"{f.events_produced:,}",
            f"{f.events_stored:,}",
            f"{f.duplicates:,}",
            f"{f.quarantined:,}",
            f.status,
        )
    table.add_row(
        "total",
        "",
        "",
        f"{summary.rows_read:,}",
        f"{summary.events_produced:,}",
        f"{summary.events_stored:,}",
        f"{summary.duplicates:,}",
        f"{summary.quarantined:,}",
        f"{summary.seconds:.1f} s",
    )
    return table


def _echo_summary(summary: Any) -> None:
    from rich.console import Console

    Console().print(_summary_table(summary))
    for f in summary.failed:
        click.echo(f"failed / mislukt: {f.error}")
    _echo_notes(summary)
    if summary.quarantined:
        click.echo(
            f"{summary.quarantined:,} quarantined / in quarantaine"
            " (see: klantreis quarantine); top reasons / meest voorkomende redenen:"
        )
        for reason, n in summary.reasons.most_common(5):
            click.echo(f"  {n:>8,}  {reason}")
    _echo_suggestions(summary)


def _echo_notes(summary: Any) -> None:
    skipped = summary.total("rows_skipped")
    if skipped:
        click.echo(f"{skipped:,} rows skipped by where / overgeslagen door where")
    dates = summary.total("deadline_dates")
    if dates:
        click.echo(
            f"{dates:,} deadlines were dates: read as end of day"
            " / deadlines waren datums: gelezen als einde van de dag"
        )
    for f in summary.files:
        if f.stored_nothing:
            click.echo(f"stored nothing / niets opgeslagen: {f.path}")


def _echo_suggestions(summary: Any) -> None:
    for f in summary.files:
        for reason, formats in f.suggestions.items():
            shown = ", ".join(f'"{x}"' for x in formats[:3])
            click.echo(f"  {reason}: try / probeer [source] timestamp_formats = [{shown}]")


@click.command(
    help="Ingest CSV, Parquet, JSON/NDJSON or XES files, folders or globs. Exits 1 when a"
    " file failed or stored nothing (no events stored and none already there)."
)
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--mapping",
    "mapping_path",
    default=None,
    help="Mapping TOML for a foreign layout (see examples/mappings).",
)
@click.option("--delimiter", default=None, help="CSV delimiter (default: sniffed).")
@click.option(
    "--encoding",
    default=None,
    help="File encoding (default: detected: utf-8, else cp1252/latin-1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@store_options
def ingest(
    paths: tuple[str, ...],
    mapping_path: str | None,
    delimiter: str | None,
    encoding: str | None,
    as_json: bool,
    no_progress: bool,
    db_path: str | None,
    journey_config: str | None,
) -> None:
    import duckdb

    from klantreis.app import App
    from klantreis.ingest import MappingError, load_mapping
    from klantreis.store import StoreError

    try:
        mapping = load_mapping(mapping_path) if mapping_path else None
    except MappingError as exc:
        click.echo(f"{exc.path}: {len(exc.problems)} problem(s)", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)
    settings = settings_from_options(db_path=db_path, journey_config=journey_config)
    try:
        with App(settings) as app:
            summary = app.ingest_paths(
                list(paths),
                mapping=mapping,
                progress=not no_progress,
                delimiter=delimiter,
                encoding=encoding,
            )
    except (StoreError, duckdb.Error) as exc:  # locked, full or broken store: one line
        click.echo(f"error: {' '.join(str(exc).split())[:500]}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
    else:
        _echo_summary(summary)
    if summary.failed or any(f.stored_nothing for f in summary.files):
        sys.exit(1)


@click.command(
    help="List quarantined rows with their source, record number, physical line and reason"
    " (a CSV record whose quoted text holds line breaks spans several lines)."
)
@click.option("--limit", default=50, show_default=True, help="At most this many rows.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@store_options
def quarantine(limit: int, as_json: bool, db_path: str | None, journey_config: str | None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from klantreis.app import App

    settings = settings_from_options(db_path=db_path, journey_config=journey_config)
    with App(settings) as app:
        total = app.store.count("quarantine")
        rows = app.store.query(
            "SELECT source, record, line, reason, raw FROM quarantine"
            " ORDER BY quarantined_at DESC, source, record, line LIMIT ?",
            [limit],
        ).to_pylist()
    if as_json:
        click.echo(json.dumps({"total": total, "rows": rows}, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"quarantine ({total:,} rows)")
    for name in ("source", "record", "line", "reason", "raw"):
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(
            escape(str(r["source"])),
            str(r["record"]),
            str(r["line"]),
            escape(str(r["reason"])),
            escape(str(r["raw"])[:200]),
        )
    Console().print(table)


@click.group(help="Mapping files: draft one from an export.")
def mapping() -> None:
    pass


@mapping.command(
    help="Draft a mapping TOML from a file's header and values: time columns with their"
    " formats, id-like columns, score columns. Review it, then pass it to ingest --mapping."
)
@click.argument("path")
@click.option("--rows", default=1000, show_default=True, help="Rows to look at.")
@click.option("--delimiter", default=None, help="CSV delimiter (default: sniffed).")
@click.option("--encoding", default=None, help="File encoding (default: detected).")
def suggest(path: str, rows: int, delimiter: str | None, encoding: str | None) -> None:
    from klantreis.ingest.suggest import suggest_mapping

    try:
        click.echo(suggest_mapping(path, rows, delimiter, encoding), nl=False)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def register(cli: click.Group) -> None:
    cli.add_command(ingest)
    cli.add_command(quarantine)
    cli.add_command(mapping)
