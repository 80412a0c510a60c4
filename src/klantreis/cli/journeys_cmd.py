"""``klantreis journeys ...`` and ``klantreis export``: thin wrappers around
:mod:`klantreis.analytics.discovery`, ``promises``, ``impact``, ``timeline`` and
:mod:`klantreis.services.export`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click

from klantreis.cli.main import settings_from_options, store_options

__all__ = ["register"]


@contextmanager
def _app(db_path: str | None, journey_config: str | None) -> Iterator[Any]:
    from klantreis.app import App

    with App(settings_from_options(db_path=db_path, journey_config=journey_config)) as app:
        yield app


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO-8601 time: {value}") from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _emit(
    rows: Sequence[dict[str, Any]],
    as_json: bool,
    columns: Sequence[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {**(extra or {}), "rows": list(rows)}, default=str, ensure_ascii=False, indent=2
            )
        )
        return
    for key, value in (extra or {}).items():
        click.echo(f"{key}: {value}")
    if not rows:
        click.echo("(nothing)")
        return
    cols = list(columns or rows[0].keys())
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, list):
        return " > ".join(str(v) for v in value)
    return str(value).replace("\n", " ")[:120]


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by the discovery commands: which journeys, which activity."""
    opts = [
        click.option(
            "--activity",
            type=click.Choice(["kind", "touchpoint"]),
            default="kind",
            help="What a step is: the event kind (default) or its touchpoint.",
        ),
        click.option("--stage", multiple=True, help="Only events of this stage (repeatable)."),
        click.option("--owner", multiple=True, help="Journeys with an event of this owner."),
        click.option("--channel", multiple=True, help="Journeys with an event on this channel."),
        click.option("--segment", multiple=True, help="key=value on a column or attrs key."),
        click.option("--since", help="Journeys that started at or after this time (ISO)."),
        click.option("--until", help="Journeys that started before this time (ISO)."),
        click.option("--outcome", help="A condition, e.g. broken:op_tijd_bezorgd."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return store_options(func)


def _filter(
    stage: tuple[str, ...],
    owner: tuple[str, ...],
    channel: tuple[str, ...],
    segment: tuple[str, ...],
    since: str | None,
    until: str | None,
    outcome: str | None,
) -> Any:
    from klantreis.analytics.conditions import parse_condition
    from klantreis.analytics.journeys import JourneyFilter

    pairs = []
    for item in segment:
        if "=" not in item:
            raise click.BadParameter(f"--segment needs key=value, got {item!r}")
        key, _, value = item.partition("=")
        pairs.append((key, value))
    try:
        cond = parse_condition(outcome) if outcome else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    return JourneyFilter(
        stages=stage,
        owners=owner,
        channels=channel,
        segment=tuple(pairs),
        start=_when(since),
        end=_when(until),
        outcome=cond,
    )


def _discover(app: Any, flt: Any, activity: str, top: int | None, use_index: bool) -> Any:
    from klantreis.analytics.discovery import discover
    from klantreis.analytics.journey_index import open_index

    index = open_index(app.store) if use_index else None
    try:
        return discover(
            app.events_table(),
            app.journey,
            flt,
            activity,  # type: ignore[arg-type]
            top,
            index=index,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(help="Discover journeys: graph, variants, hand-overs, promises, impact.")
def journeys() -> None:
    pass


@journeys.command(help="The directly-follows graph: edges with counts and durations (s).")
@filter_options
@click.option("--no-index", is_flag=True, help="Do not build or use the journey index.")
def dfg(
    db_path: str | None,
    journey_config: str | None,
    activity: str,
    as_json: bool,
    no_index: bool,
    **flt: Any,
) -> None:
    with _app(db_path, journey_config) as app:
        d = _discover(app, _filter(**flt), activity, 20, not no_index)
        _emit(
            d.dfg.to_pylist(),
            as_json,
            extra={"journeys": d.journeys, "start": d.start.to_pylist(), "end": d.end.to_pylist()},
        )


@journeys.command(help="The most frequent paths with their count and share.")
@filter_options
@click.option("--top", default=20, show_default=True, help="How many variants.")
@click.option("--no-index", is_flag=True, help="Do not build or use the journey index.")
def variants(
    db_path: str | None,
    journey_config: str | None,
    activity: str,
    as_json: bool,
    top: int,
    no_index: bool,
    **flt: Any,
) -> None:
    with _app(db_path, journey_config) as app:
        d = _discover(app, _filter(**flt), activity, top, not no_index)
        rows = d.variants.to_pylist()
        if not as_json:
            rows = [{**r, "share_%": 100.0 * r["share"]} for r in rows]
        _emit(
            rows,
            as_json,
            None if as_json else ["count", "share_%", "length", "variant"],
            extra={"journeys": d.journeys},
        )


@journeys.command(help="Hand-overs between owners with their waiting times (s).")
@filter_options
def handovers(
    db_path: str | None, journey_config: str | None, activity: str, as_json: bool, **flt: Any
) -> None:
    from klantreis.analytics.discovery import handovers as handovers_of

    with _app(db_path, journey_config) as app:
        try:
            table = handovers_of(app.events_table(), app.journey, _filter(**flt))
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        _emit(table.to_pylist(), as_json)


@journeys.command(help="Promise-kept rates by owner, touchpoint or period; or those at risk.")
@store_options
@click.option(
    "--by",
    type=click.Choice(["owner", "touchpoint", "period", "promise"]),
    default="owner",
    show_default=True,
)
@click.option(
    "--period", type=click.Choice(["day", "week", "month"]), default="week", show_default=True
)
@click.option("--promise", "promise_ids", multiple=True, help="Only this promise (repeatable).")
@click.option("--now", help="The moment to judge open promises at (ISO; default: now).")
@click.option("--at-risk", is_flag=True, help="List the journeys at risk instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def promises(
    db_path: str | None,
    journey_config: str | None,
    by: str,
    period: str,
    promise_ids: tuple[str, ...],
    now: str | None,
    at_risk: bool,
    as_json: bool,
) -> None:
    from klantreis.analytics import promises as pr

    with _app(db_path, journey_config) as app:
        ids = list(promise_ids) or None
        try:
            if at_risk:
                table = pr.at_risk(app.events_table(), app.journey, _when(now), ids)
            else:
                table = pr.promise_rates(
                    app.events_table(),
                    app.journey,
                    by,  # type: ignore[arg-type]
                    period,  # type: ignore[arg-type]
                    ids,
                    _when(now),
                )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        _emit(table.to_pylist(), as_json)


@journeys.command(help="What conditions cost in scores and contacts, costliest first.")
@store_options
@click.option(
    "--condition",
    "conditions",
    multiple=True,
    help="e.g. broken:op_tijd_bezorgd, contacts>1, handover>1440 (default: all"
    " broken promises and trouble kinds).",
)
@click.option(
    "--rank-by",
    type=click.Choice(["contacts", "nps", "ces", "csat"]),
    default="contacts",
    show_default=True,
)
@click.option("--now", help="The moment to judge open promises at (ISO; default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def impact(
    db_path: str | None,
    journey_config: str | None,
    conditions: tuple[str, ...],
    rank_by: str,
    now: str | None,
    as_json: bool,
) -> None:
    from klantreis.analytics.conditions import parse_condition
    from klantreis.analytics.impact import impact_ranking

    with _app(db_path, journey_config) as app:
        try:
            chosen = [parse_condition(c, _when(now)) for c in conditions] or None
            items = impact_ranking(
                app.events_table(), app.journey, chosen, rank_by=rank_by, now=_when(now)
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        if as_json:
            _emit([i.as_dict() for i in items], True)
        else:
            for item in items:
                click.echo(item.summary())


@journeys.command(help="All events of one journey or one customer, in time order.")
@store_options
@click.option("--journey", "journey_id", help="The journey (order) id.")
@click.option("--customer", "customer_id", help="The customer id.")
@click.option("--limit", default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def timeline(
    db_path: str | None,
    journey_config: str | None,
    journey_id: str | None,
    customer_id: str | None,
    limit: int,
    as_json: bool,
) -> None:
    from klantreis.analytics.timeline import timeline as timeline_of

    with _app(db_path, journey_config) as app:
        try:
            table = timeline_of(app.events_table(), journey_id, customer_id, limit)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        _emit(
            table.to_pylist(),
            as_json,
            ["occurred_at", "journey_id", "kind", "channel", "owner", "metric", "score", "text"],
        )


@click.command(help="Export the event log as XES or a flat CSV for other tools.")
@store_options
@click.option(
    "--format", "fmt", type=click.Choice(["xes", "csv"]), default="xes", show_default=True
)
@click.option(
    "--spreadsheet-safe/--no-spreadsheet-safe",
    default=True,
    show_default=True,
    help="CSV: prefix cells starting with = + - @ tab or CR with ' so spreadsheets do not "
    "run them as formulas.",
)
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
def export(
    db_path: str | None, journey_config: str | None, fmt: str, spreadsheet_safe: bool, out: str
) -> None:
    from klantreis.services.export import export_log

    with _app(db_path, journey_config) as app:
        result = export_log(
            app.events_table(),
            out,
            fmt,  # type: ignore[arg-type]
            spreadsheet_safe=spreadsheet_safe,
        )
    click.echo(
        f"{out}: {result.events:,} events in {result.traces:,} journeys"
        + (f" ({result.skipped:,} events without a journey skipped)" if result.skipped else "")
    )


def register(cli: click.Group) -> None:
    cli.add_command(journeys)
    cli.add_command(export)
