"""``klantreis metrics``: scores (NPS, CES, CSAT, stars) per group with n and intervals, or
period-over-period changes with p-values, the NPS x CES matrix, contacts per 100 journeys.

A thin shell over :mod:`klantreis.analytics.metrics` (via the App's methods): a table by
default, ``--format json`` or ``--format csv`` (``--json``, ``--csv``) for machines.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import click

from klantreis.cli.options import output_options, settings_from_options, store_options

__all__ = ["format_rows", "register", "run_view"]

VIEWS = ("scores", "changes", "matrix", "contacts")
METRIC_CHOICES = ("nps", "ces", "csat", "stars", "all")


def run_view(
    app: Any,
    view: str,
    metric: str,
    by: list[str],
    period: str | None,
    since: str | None,
    until: str | None,
    min_answers: int | None,
    confidence: float | None = None,
) -> Any:
    """The DataFrame a view shows (the library call behind each ``--view``)."""
    extra: dict[str, Any] = {"since": since, "until": until}
    if min_answers is not None and view != "contacts":
        extra["min_answers"] = min_answers
    if confidence is not None:
        if view == "changes":
            extra["alpha"] = round(1 - confidence, 10)
        else:
            extra["confidence"] = confidence
    metrics = ["nps", "ces", "csat", "stars"] if metric == "all" else [metric]
    if view == "scores":
        return app.scores(metrics, by=by, period=period, **extra)
    if view == "changes":
        if metric == "all":
            raise click.UsageError("--view changes needs one --metric (nps, ces, csat, stars)")
        return app.score_changes(metric, period=period or "week", by=by, **extra)
    if view == "matrix":
        return app.nps_ces_matrix(**extra)
    return app.contacts_per_100_journeys(by=by, period=period, **extra)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


def format_rows(df: Any) -> list[dict[str, Any]]:
    """DataFrame -> JSON-ready rows (NaN -> null, dates -> ISO strings)."""
    return [{k: _clean(v) for k, v in row.items()} for row in df.to_dict("records")]


def _print_table(rows: list[dict[str, Any]], names: Any, title: str, caption: str = "") -> None:
    """Rows as a table in the names' language: worded headers, names instead of ids, locale
    numbers; a significant change green when better and red when worse (CES: lower is
    better), noise uncoloured."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from klantreis.wording.table import change_colour, worded_table

    console = Console()
    if not rows:
        console.print(escape(names.w("cli.no_answers")))
        return
    columns = [c for c in rows[0] if not c.endswith("too_few") and c != "std_error"]
    headers, cells = worded_table(rows, names, columns)
    table = Table(title=escape(title), caption=escape(caption) or None)
    for col, header in zip(columns, headers, strict=True):
        numeric = any(
            isinstance(r.get(col), int | float) and not isinstance(r.get(col), bool) for r in rows
        )
        table.add_column(escape(header), justify="right" if numeric else "left")
    for row, line in zip(rows, cells, strict=True):
        colour = change_colour(row)
        table.add_row(
            *(
                f"[{colour}]{escape(cell)}[/]" if colour and col == "diff" else escape(cell)
                for col, cell in zip(columns, line, strict=True)
            )
        )
    console.print(table)


def _open(db_path: str | None, journey_config: str | None) -> Any:
    from klantreis.app import App

    settings = settings_from_options(db_path=db_path, journey_config=journey_config)
    if settings.db_file is not None and not Path(settings.db_file).exists():
        raise click.ClickException(
            f"no event store at {settings.db_path} (run `klantreis"
            " init` or `klantreis ingest` first)"
        )
    return App.reader(settings, read_only=settings.db_file is not None)


def register(cli: click.Group) -> None:
    cli.add_command(metrics)


@click.command(
    "metrics", help="Scores per group with n and a CI (95% by default); changes with p-values."
)
@click.option("--metric", type=click.Choice(METRIC_CHOICES), default="nps", show_default=True)
@click.option(
    "--by",
    default="",
    help="Comma-separated group keys: touchpoint, stage, channel,"
    " owner, kind, lang, source, attrs.<key>. E.g. --by touchpoint,owner",
)
@click.option(
    "--period",
    type=click.Choice(["day", "week", "month"]),
    default=None,
    help="Also group by day, week or month (journey time zone).",
)
@click.option("--since", default=None, help="From this date/time (local, inclusive).")
@click.option("--until", default=None, help="Until this date/time (local, exclusive).")
@click.option(
    "--view",
    type=click.Choice(VIEWS),
    default="scores",
    show_default=True,
    help="scores; changes (period over period, with p-values); matrix (NPS x CES "
    "per touchpoint); contacts (per 100 journeys).",
)
@click.option(
    "--min-answers",
    type=int,
    default=None,
    help="Minimum answers for a value (default: the journey's min_answers).",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0.5, 0.999),
    default=None,
    help="Confidence level of intervals (changes: significance at 1 - level);"
    " default: the confidence setting (0.95).",
)
@click.option(
    "--lang",
    type=click.Choice(["nl", "en"]),
    default=None,
    help="Language of the table (default: the language setting).",
)
@output_options
@store_options
def metrics(
    metric: str,
    by: str,
    period: str | None,
    since: str | None,
    until: str | None,
    view: str,
    min_answers: int | None,
    confidence: float | None,
    lang: str | None,
    output: str,
    db_path: str | None,
    journey_config: str | None,
) -> None:
    keys = [k.strip() for k in by.split(",") if k.strip()]
    with _open(db_path, journey_config) as app:
        try:
            df = run_view(app, view, metric, keys, period, since, until, min_answers, confidence)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        language = lang or app.settings.language
        if output == "csv":
            click.echo(df.to_csv(index=False), nl=False)
            return
        rows = format_rows(df)
        if output == "json":
            click.echo(
                json.dumps(
                    {"view": view, "metric": metric, "rows": rows}, ensure_ascii=False, indent=2
                )
            )
            return
        from klantreis.wording import Names, Wording

        names = Names(app.journey, Wording(language))
        w = names.w
        title = w(f"cli.title.{view}") if w.has(f"cli.title.{view}") else names.metric(metric)
        level = confidence or app.defaults.confidence
        caption = w("cli.confidence", level=w.percent(level))
        _print_table(rows, names, f"klantreis {title}", caption)
