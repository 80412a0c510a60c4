"""``klantreis demo``: a thin wrapper over ``klantreis.demo.runner.run_demo`` (with a
progress bar), then (unless ``--no-serve``) the web app on the demo store.

The demo period ends now by default (``--until``), so "today" on the dashboard is today. The
demo accounts' passwords are derived from a secret kept in the store: the same on every start
of one store. The address is printed once the port accepts connections."""

from __future__ import annotations

import io
import json
import logging
import socket
import sys
import threading
import time as clock
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

__all__ = ["announce_when_listening", "demo", "parse_until", "port_accepts", "register"]

log = logging.getLogger(__name__)

DEFAULT_DB = "demo-data/demo.duckdb"


def parse_until(value: str | None) -> datetime | None:
    """``today``/``now`` -> this minute; ``YYYY-MM-DD`` -> 15:00 Amsterdam time that day;
    an ISO-8601 date-time as given (UTC if naive); nothing (only from Python: the command's
    default is ``today``) -> None, the fixed default end of ``run_demo``."""
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


def _recorded_end(settings: Any) -> datetime | None:
    """The period end an existing demo store was made with (None: no store or not known)."""
    if settings.db_file is None or not settings.db_file.exists():
        return None
    from klantreis.app import App
    from klantreis.demo.runner import demo_end

    with App(settings) as app:
        return demo_end(app.store)


def _local_day(moment: datetime) -> date:
    return moment.astimezone(ZoneInfo("Europe/Amsterdam")).date()


def _demo_secret_of(settings: Any) -> str:
    from klantreis.access.accounts import demo_secret
    from klantreis.app import App

    with App(settings) as app:
        return demo_secret(app.store)


def _remove_store(db_path: str) -> None:
    """The store and its directory (the demo's contact details) beside it."""
    book = Path(db_path).with_name(f"{Path(db_path).stem}.directory.duckdb")
    for path in (Path(db_path), Path(db_path + ".wal"), book, Path(f"{book}.wal")):
        if path.exists():
            path.unlink()


def _print_summary(summary: object) -> None:
    from rich.console import Console
    from rich.table import Table

    data = summary.as_dict()  # type: ignore[attr-defined]
    end = str(data["period_end"])[:16].replace("T", " ")
    table = Table(
        title=f"Huis & Haard demo, seed {data['seed']}\n{data['period_start']} .. {end} UTC",
        show_header=False,
    )
    table.add_column("")
    table.add_column("", justify="right")
    rows = [
        ("orders / bestellingen", "orders"),
        ("customers / klanten", "customers"),
        ("contacts / contacten", "contacts"),
        ("survey answers / antwoorden", "survey_answers"),
        ("events / gebeurtenissen", "events"),
        ("stored / opgeslagen", "stored"),
        ("duplicates / dubbel", "duplicates"),
        ("quarantined / quarantaine", "quarantined"),
    ]
    for label, key in rows:
        table.add_row(label, f"{data[key]:,}")
    table.add_row("seconds / seconden", f"{data['seconds']:.1f}")
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
    from klantreis.access.accounts import stable_demo_accounts
    from klantreis.app import App

    with App(settings) as app:  # type: ignore[arg-type]
        passwords = stable_demo_accounts(app.store)
    host, port = settings.host, settings.port  # type: ignore[attr-defined]
    click.echo("Starting the web server / De webserver start …")
    lines = [f"\nklantreis demo: http://{host}:{port}/  (Ctrl+C to stop / om te stoppen)"]
    lines += [f"  login: {name} / {password}" for name, password in passwords.items()]
    announce_when_listening(host, port, "\n".join(lines))
    from klantreis.cli.options import collector_for_a_server

    collector_for_a_server()
    serve(settings)  # type: ignore[arg-type]


def port_accepts(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether a TCP connection to ``host:port`` is accepted now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def announce_when_listening(
    host: str, port: int, message: str, wait_s: float = 120.0
) -> threading.Thread:
    """Print ``message`` (from a background thread) as soon as the port accepts; say so if it
    never does within ``wait_s`` seconds."""
    probe = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)

    def wait() -> None:
        deadline = clock.monotonic() + wait_s
        while clock.monotonic() < deadline:
            if port_accepts(probe, port):
                click.echo(message)
                return
            clock.sleep(0.1)
        click.echo(f"The server did not start listening on {host}:{port}.", err=True)

    thread = threading.Thread(target=wait, name="demo-announce", daemon=True)
    thread.start()
    return thread


def _progress_bar(orders: int, quiet: bool = False) -> tuple[Any, Any]:
    """A progress bar on standard error (standard output stays clean for ``--json``)."""
    stream: Any = io.StringIO() if quiet else sys.stderr
    bar: Any = click.progressbar(
        length=orders, label="Demo orders / bestellingen", show_pos=True, file=stream
    )
    done = [0]

    def progress(orders_done: int, _total: int) -> None:
        bar.update(orders_done - done[0])
        done[0] = orders_done

    return bar, progress


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
    default="today",
    show_default=True,
    help="End of the demo period (the dashboard's 'today'). 'today': now; a store made"
    " earlier today is kept as it is, one made on an earlier day is made again (same"
    " passwords). YYYY-MM-DD: 15:00 Amsterdam time that day; or an ISO date-time (UTC"
    " when it has no zone). A store made with another end date needs --fresh.",
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
@click.option("--port", default=None, type=int, help="Port of the web server (default 8000).")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
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
    host: str | None,
    as_json: bool,
) -> None:
    from klantreis.app import App
    from klantreis.cli.options import settings_from_options
    from klantreis.demo.runner import (
        DEFAULT_ORDERS,
        DemoConflictError,
        remember_demo_end,
        run_demo,
    )

    now = parse_until(until)
    settings = settings_from_options(
        db_path=db_path, journey_config=journey_config, demo_mode=True, port=port, host=host
    )
    secret = None
    if settings.db_file is not None and not fresh and until == "today":
        ended = _recorded_end(settings)
        if ended is not None and _local_day(ended) == _local_day(now):  # type: ignore[arg-type]
            now = ended  # made earlier today: the same demo again (adds nothing)
        elif ended is not None:
            click.echo(f"The demo in {db_path} ended {_local_day(ended)}; making it again.")
            secret, fresh = _demo_secret_of(settings), True
    if fresh and settings.db_file is not None:
        _remove_store(db_path)
    total = orders or DEFAULT_ORDERS
    with App(settings) as app:
        if secret:
            from klantreis.access.accounts import keep_demo_secret

            keep_demo_secret(app.store, secret)  # the same passwords as before
        bar, progress = _progress_bar(total, quiet=as_json)
        try:
            with bar:
                summary = run_demo(app, total, seed, days=days, now=now, progress=progress)
        except DemoConflictError as exc:
            raise click.ClickException(str(exc)) from exc
        remember_demo_end(app.store, summary.period_end)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        _print_summary(summary)
    if not no_serve:
        _serve(settings)
    elif not as_json:
        click.echo(
            f"Serve it / Bekijk het: klantreis serve --demo --db {db_path}"
            " (prints the logins / toont de logins)"
        )


def register(cli: click.Group) -> None:
    cli.add_command(demo)
