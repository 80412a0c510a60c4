"""``klantreis demo``: a thin wrapper over ``klantreis.demo.runner.run_demo``, then (unless
``--no-serve``) the web app on the demo store."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import click

__all__ = ["demo", "parse_until", "register"]

log = logging.getLogger(__name__)

DEFAULT_DB = "demo-data/demo.duckdb"


def parse_until(value: str | None) -> datetime | None:
    """``today``/``now`` -> this minute; ``YYYY-MM-DD`` -> 15:00 Amsterdam time that day;
    an ISO-8601 date-time as given (UTC if naive); nothing -> the fixed default end."""
    if not value:
        return None
    if value.lower() in ("today", "now", "vandaag", "nu"):
        return datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time(15, 0), ZoneInfo("Europe/Amsterdam"))
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: use 'today', YYYY-MM-DD or an ISO date-time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _remove_store(db_path: str) -> None:
    for path in (Path(db_path), Path(db_path + ".wal")):
        if path.exists():
            path.unlink()


def _print_summary(summary: object) -> None:
    from rich.console import Console
    from rich.table import Table

    data = summary.as_dict()  # type: ignore[attr-defined]
    end = str(data["period_end"])[:16].replace("T", " ")
    table = Table(
        title=f"Huis & Haard demo, seed {data['seed']}\n{data['period_start']} .. {end} UTC"
    )
    table.add_column("")
    table.add_column("", justify="right")
    rows = [
        ("orders / bestellingen", "orders"),
        ("customers / klanten", "customers"),
        ("contacts / contacten", "contacts"),
        ("survey answers / antwoorden", "survey_answers"),
        ("events", "events"),
        ("stored / opgeslagen", "stored"),
        ("duplicates / dubbel", "duplicates"),
        ("quarantined / quarantaine", "quarantined"),
    ]
    for label, key in rows:
        table.add_row(label, f"{data[key]:,}")
    table.add_row("seconds", f"{data['seconds']:.1f}")
    Console().print(table)


def _serve(settings: object) -> None:
    try:
        from klantreis.web import serve
    except ImportError:
        click.echo(
            "The web app is not available in this installation; the demo data is"
            " stored. / De webapp is niet beschikbaar; de demodata is opgeslagen."
        )
        return
    from klantreis.access.accounts import ensure_demo_accounts
    from klantreis.app import App

    with App(settings) as app:  # type: ignore[arg-type]
        passwords = ensure_demo_accounts(app.store)
    host, port = settings.host, settings.port  # type: ignore[attr-defined]
    click.echo(f"\nklantreis demo: http://{host}:{port}/  (Ctrl+C to stop / om te stoppen)")
    for name, password in passwords.items():
        click.echo(f"  login: {name} / {password}")
    serve(settings)  # type: ignore[arg-type]


@click.command(
    help="Generate the demo webshop (Huis & Haard), ingest it, print a summary and "
    "serve the dashboard. Re-running adds nothing new (idempotent)."
)
@click.option(
    "--orders",
    default=None,
    type=click.IntRange(min=1),
    help="Number of orders (default 30,000; ~10 events each).",
)
@click.option("--seed", default=7, show_default=True, type=int, help="Random seed.")
@click.option(
    "--days",
    default=120,
    show_default=True,
    type=click.IntRange(7, 730),
    help="Length of the period in days.",
)
@click.option(
    "--until",
    "until",
    default=None,
    help="End of the period: 'today' for a live-looking demo, YYYY-MM-DD, or an "
    "ISO date-time (default: the fixed 2026-11-20 15:00 Amsterdam).",
)
@click.option(
    "--db", "db_path", default=DEFAULT_DB, show_default=True, help="DuckDB file for the demo store."
)
@click.option(
    "--config",
    "journey_config",
    default=None,
    help="Journey configuration TOML (default: the built-in webshop journey).",
)
@click.option("--fresh", is_flag=True, help="Delete the demo store first.")
@click.option("--no-serve", is_flag=True, help="Stop after generating and ingesting.")
@click.option("--port", default=None, type=int, help="Port of the web server.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def demo(
    orders: int | None,
    seed: int,
    days: int,
    until: str | None,
    db_path: str,
    journey_config: str | None,
    fresh: bool,
    no_serve: bool,
    port: int | None,
    as_json: bool,
) -> None:
    from klantreis.app import App
    from klantreis.cli.options import settings_from_options
    from klantreis.demo.runner import DEFAULT_ORDERS, DemoConflictError, run_demo

    now = parse_until(until)
    settings = settings_from_options(
        db_path=db_path, journey_config=journey_config, demo_mode=True, port=port
    )
    if fresh and settings.db_file is not None:
        _remove_store(db_path)
    with App(settings) as app:
        try:
            summary = run_demo(app, orders or DEFAULT_ORDERS, seed, days=days, now=now)
        except DemoConflictError as exc:
            raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        _print_summary(summary)
    if not no_serve:
        _serve(settings)


def register(cli: click.Group) -> None:
    cli.add_command(demo)
