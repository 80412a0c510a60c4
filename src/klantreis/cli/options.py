"""What the commands share: where the store is (``store_options``, ``open_app``) and how a
read command prints its rows (``output_options``, ``emit``).

Every read command takes ``--format table|json|csv``; the older ``--json`` and ``--csv`` flags
stay as shorthands for ``--format json`` and ``--format csv``.
"""

from __future__ import annotations

import atexit
import csv
import functools
import gc
import io
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from klantreis.settings import Settings

if TYPE_CHECKING:
    from klantreis.app import App

__all__ = [
    "OUTPUT_FORMATS",
    "collector_for_a_server",
    "emit",
    "journey_names",
    "lang_option",
    "open_app",
    "output_options",
    "settings_from_options",
    "store_options",
    "table_names",
    "tune_collector_for_one_command",
]

F = TypeVar("F", bound=Callable[..., Any])

#: How a read command can print its rows.
OUTPUT_FORMATS = ("table", "json", "csv")


def store_options(func: F) -> F:
    """The options every command that opens a store shares: ``--db`` and ``--config``."""
    func = click.option(
        "--config",
        "journey_config",
        default=None,
        help="Journey configuration TOML (default: built-in webshop journey).",
    )(func)
    func = click.option(
        "--db",
        "db_path",
        default=None,
        help="DuckDB file of the event log (env KLANTREIS_DB_PATH).",
    )(func)
    return func


def settings_from_options(**options: Any) -> Settings:
    """Settings from the environment, overridden by the options that were given."""
    return Settings.load(None, **{k: v for k, v in options.items() if v is not None})


@contextmanager
def open_app(
    db_path: str | None,
    journey_config: str | None,
    *,
    read_only: bool = False,
    writes: bool = False,
) -> Iterator[App]:
    """The App for ``--db``/``--config``, closed when the block ends. A reading command
    (``writes=False``) reads a snapshot while ``klantreis serve`` holds the store
    (:meth:`App.reader`); a writing one gets the store or ``StoreLockedError``."""
    from klantreis.app import App

    settings = settings_from_options(db_path=db_path, journey_config=journey_config)
    opened = App(settings, read_only) if writes else App.reader(settings, read_only)
    with opened as app:
        yield app


#: Allocations between two young-generation collections while a command runs (Python's
#: default is 700): importing pydantic, pyarrow and numpy would otherwise trigger hundreds of
#: collections that find nothing (~0.05 s CPU of a ``journeys dfg``).
GC_YOUNG_THRESHOLD = 50_000
_GC_DEFAULTS = gc.get_threshold()


def tune_collector_for_one_command() -> None:
    """Cyclic garbage collection for a process that runs one command and ends: collect less
    often while modules load, and skip the collections Python's exit runs over everything
    still alive (~0.1 s CPU; freezing spares only the collector, refcounts still free all).
    For the process's own command line only: tests and callers passing ``args`` live on.
    A command that serves for long calls :func:`collector_for_a_server` first."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, *_GC_DEFAULTS[1:])
    atexit.register(gc.freeze)


def collector_for_a_server() -> None:
    """Python's own collection thresholds again, for a process that now serves for long
    (the web server's memory and pauses are measured with them)."""
    gc.set_threshold(*_GC_DEFAULTS)


def output_options(func: F) -> F:
    """Add ``--format table|json|csv`` (and ``--json``/``--csv`` as shorthands); the command
    receives one argument ``output``, one of :data:`OUTPUT_FORMATS`."""

    @functools.wraps(func)
    def wrapper(
        *args: Any, output_format: str | None, as_json: bool, as_csv: bool, **kwargs: Any
    ) -> Any:
        kwargs["output"] = resolve_output(output_format, as_json, as_csv)
        return func(*args, **kwargs)

    options = [
        click.option(
            "--format",
            "output_format",
            type=click.Choice(OUTPUT_FORMATS),
            default=None,
            help="How to print the result (default: table).",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print JSON (= --format json)."),
        click.option("--csv", "as_csv", is_flag=True, help="Print CSV (= --format csv)."),
    ]
    decorated: Callable[..., Any] = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return cast(F, decorated)


def resolve_output(output_format: str | None, as_json: bool, as_csv: bool) -> str:
    """The one output format the flags ask for; contradicting flags are a usage error."""
    asked = {f for f, on in (("json", as_json), ("csv", as_csv)) if on}
    if output_format is not None:
        asked.add(output_format)
    if len(asked) > 1:
        raise click.UsageError(f"choose one output format, not {' and '.join(sorted(asked))}")
    return asked.pop() if asked else "table"


def emit(
    rows: Sequence[dict[str, Any]],
    output: str,
    columns: Sequence[str] | None = None,
    extra: dict[str, Any] | None = None,
    *,
    names: Any = None,
) -> None:
    """Print rows as an aligned table, JSON (``{**extra, "rows": [...]}``) or CSV.

    ``columns`` picks and orders the table's and the CSV's columns (default: all, in the first
    row's order); ``extra`` (totals and the like) heads the table and is part of the JSON, and
    is left out of the CSV so it stays one rectangle. ``names`` (a
    :class:`klantreis.wording.Names`, from ``--lang``) words the table: headers, configured
    names instead of ids, locale numbers; JSON and CSV keep ids and raw values.
    """
    if output == "json":
        body = {**(extra or {}), "rows": list(rows)}
        click.echo(json.dumps(body, default=str, ensure_ascii=False, indent=2))
    elif output == "csv":
        click.echo(_csv_text(rows, columns), nl=False)
    elif names is not None:
        _print_worded_table(rows, columns, extra, names)
    else:
        _print_plain_table(rows, columns, extra)


def _csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None) -> str:
    cols = list(columns or (rows[0].keys() if rows else []))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(cols)
    for row in rows:
        writer.writerow([_csv_cell(row.get(c)) for c in cols])
    return buffer.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _print_worded_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str] | None,
    extra: dict[str, Any] | None,
    names: Any,
) -> None:
    from klantreis.wording.table import table_cell, table_header, worded_table

    for key, value in (extra or {}).items():
        click.echo(f"{table_header(key, names)}: {table_cell(key, value, names)}")
    if not rows:
        click.echo(names.w("cli.nothing"))
        return
    headers, cells = worded_table(rows, names, list(columns or rows[0].keys()))
    echo_aligned(headers, cells)


def echo_aligned(headers: Sequence[str], cells: Sequence[Sequence[str]]) -> None:
    """Print a plain table: headers and cells, each column left-aligned to its widest."""
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def lang_option(func: F) -> F:
    """Add ``--lang nl|en``: the table's language (worded headers, configured names, locale
    numbers). Without it the table is worded in the ``language`` setting (default nl, like
    the web and ``klantreis metrics``); ``--json`` and ``--csv`` keep ids and raw values.
    The command receives ``lang`` (None when not given)."""
    return click.option(
        "--lang",
        type=click.Choice(["nl", "en"]),
        default=None,
        help="Language of the table (default: the language setting, nl).",
    )(func)


def table_names(app: Any, lang: str | None) -> Any:
    """Names for :func:`emit` in ``lang``, or else in the app's ``language`` setting."""
    from klantreis.wording.core import Wording
    from klantreis.wording.names import Names

    return Names(app.journey, Wording(lang or app.settings.language))


def journey_names(settings: Settings, lang: str | None, output: str = "table") -> Any:
    """:func:`table_names` without an App, for a command that reads the store without opening
    one: Names for a table, None for JSON and CSV (which name nothing). A journey file the
    settings name is read and validated either way, as opening the App does; the built-in
    one (validated by the tests) is read for its names only, as plain TOML."""
    if settings.journey_config:
        from klantreis.model.journey import load_journey_config

        journey: Any = load_journey_config(settings.journey_config)
    elif output == "table":
        from klantreis.cli.builtin_journey import builtin_journey_names

        journey = builtin_journey_names()
    if output != "table":
        return None
    from klantreis.wording.core import Wording
    from klantreis.wording.names import Names

    return Names(journey, Wording(lang or settings.language))


def _print_plain_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str] | None, extra: dict[str, Any] | None
) -> None:
    for key, value in (extra or {}).items():
        click.echo(f"{key}: {value}")
    if not rows:
        click.echo("(nothing)")
        return
    cols = list(columns or rows[0].keys())
    echo_aligned(cols, [[_table_cell(r.get(c)) for c in cols] for r in rows])


def _table_cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, list):
        return " > ".join(str(v) for v in value)
    return str(value).replace("\n", " ")[:120]
