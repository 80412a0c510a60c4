"""``klantreis journeys ...`` and ``klantreis export``: thin wrappers around
:mod:`klantreis.analytics.discovery`, ``promises``, ``impact``, ``timeline`` and
:mod:`klantreis.export`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from klantreis.cli.options import (
    emit,
    journey_names,
    lang_option,
    open_app,
    output_options,
    settings_from_options,
    store_options,
    table_names,
)

__all__ = ["register"]


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO-8601 time: {value}") from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


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
    ]
    for opt in reversed(opts):
        func = opt(func)
    return output_options(store_options(func))


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
    from klantreis.analytics.scope import Scope

    pairs: dict[str, tuple[str | None, ...]] = {}
    for item in segment:
        if "=" not in item:
            raise click.BadParameter(f"--segment needs key=value, got {item!r}")
        key, _, value = item.partition("=")
        pairs[key] = (*pairs.get(key, ()), value)
    try:
        cond = parse_condition(outcome) if outcome else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    return Scope(
        stages=stage,
        owners=owner,
        channels=channel,
        attrs=tuple(sorted(pairs.items())),
        start=_when(since),
        end=_when(until),
        outcome=cond,
    )


def _scope(**flt: Any) -> Any:
    """The Scope of the filter options, or None when none was given (then a stored graph is
    read without importing Ibis: ``journeys dfg`` starts in a fraction of a second)."""
    return _filter(**flt) if any(flt.values()) else None


def _discover(app: Any, flt: Any, activity: str, top: int | None, use_index: bool) -> Any:
    index = app.journey_index() if use_index else None
    if index is not None and flt is None:  # all journeys: the index answers alone
        return index.discover(activity=activity, top=top)
    from klantreis.analytics.discovery import discover

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
@lang_option
@filter_options
@click.option("--no-index", is_flag=True, help="Do not build or use the journey index.")
def dfg(
    db_path: str | None,
    journey_config: str | None,
    activity: str,
    output: str,
    no_index: bool,
    lang: str | None,
    **flt: Any,
) -> None:
    settings = settings_from_options(db_path=db_path, journey_config=journey_config)
    if not no_index and not any(flt.values()):  # all journeys: the kept graph, if current
        from klantreis.analytics.kept_graph import read_kept_graph

        kept = read_kept_graph(settings.db_path, activity)
        if kept is not None:
            emit(
                kept.edges,
                output,
                extra={"journeys": kept.journeys, "start": kept.start, "end": kept.end},
                names=journey_names(settings, lang, output),
            )
            return
    with open_app(db_path, journey_config) as app:
        # top=0: this command prints no variants, and counting them is most of a stored
        # graph's read (0.1 s CPU of 10M events)
        d = _discover(app, _scope(**flt), activity, 0, not no_index)
        emit(
            d.dfg.to_pylist(),
            output,
            extra={"journeys": d.journeys, "start": d.start.to_pylist(), "end": d.end.to_pylist()},
            names=table_names(app, lang),
        )


@journeys.command(help="The most frequent paths with their count and share.")
@lang_option
@filter_options
@click.option("--top", default=20, show_default=True, help="How many variants.")
@click.option("--no-index", is_flag=True, help="Do not build or use the journey index.")
def variants(
    db_path: str | None,
    journey_config: str | None,
    activity: str,
    output: str,
    top: int,
    no_index: bool,
    lang: str | None,
    **flt: Any,
) -> None:
    with open_app(db_path, journey_config) as app:
        d = _discover(app, _scope(**flt), activity, top, not no_index)
        rows = d.variants.to_pylist()
        if output != "json":
            rows = [{**r, "share_%": 100.0 * r["share"]} for r in rows]
        emit(
            rows,
            output,
            None if output == "json" else ["count", "share_%", "length", "variant"],
            extra={"journeys": d.journeys},
            names=table_names(app, lang),
        )


@journeys.command(help="Hand-overs between owners with their waiting times (s).")
@lang_option
@filter_options
def handovers(
    db_path: str | None,
    journey_config: str | None,
    activity: str,
    output: str,
    lang: str | None,
    **flt: Any,
) -> None:
    from klantreis.analytics.discovery import handovers as handovers_of

    with open_app(db_path, journey_config) as app:
        try:
            table = handovers_of(
                app.events_table(),
                app.journey,
                _filter(**flt),
                range_events=app.settings.index_range_events,
                memory_mb=app.settings.index_memory_mb,
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        emit(table.to_pylist(), output, names=table_names(app, lang))


@journeys.command(help="Promise-kept rates by owner, touchpoint or period; or those at risk.")
@lang_option
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
@output_options
def promises(
    db_path: str | None,
    journey_config: str | None,
    by: str,
    period: str,
    promise_ids: tuple[str, ...],
    now: str | None,
    at_risk: bool,
    output: str,
    lang: str | None,
) -> None:
    from klantreis.analytics import promises as pr

    with open_app(db_path, journey_config) as app:
        ids = list(promise_ids) or None
        views = _kept_views(app) if ids is None and by != "period" else None
        try:
            if views is not None:  # the page's reader: per-journey rows, not the log
                from klantreis.analytics import derived_promises as kept

                table = (
                    kept.at_risk(views, app.journey, _when(now))
                    if at_risk
                    else kept.promise_rates(views, app.journey, by, now=_when(now))
                )
            elif at_risk:
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
        emit(table.to_pylist(), output, names=table_names(app, lang))


def _kept_views(app: Any) -> Any:
    """The store's derived views when it keeps them already (brought up to date with what
    arrived since, in time proportional to that); None when it does not. A command does
    not build them: the first build reads the whole log (about 36 minutes at 100M events),
    where the portable function answers alone."""
    found = app.store.query(
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'dv_state'"
    ).to_pylist()
    return app.derived_views() if found[0]["n"] else None


def _views_answer(chosen: Any) -> bool:
    """Whether the derived views evaluate every condition (broken promises and the trouble
    kinds they keep; the default list is made of those)."""
    from klantreis.analytics.conditions import HasKind, PromiseBroken
    from klantreis.analytics.derived_views import TROUBLE_KINDS

    return chosen is None or all(
        isinstance(c, PromiseBroken) or (isinstance(c, HasKind) and c.kind in TROUBLE_KINDS)
        for c in chosen
    )


@journeys.command(help="What conditions cost in scores and contacts, costliest first.")
@lang_option
@store_options
@click.option(
    "--condition",
    "conditions",
    multiple=True,
    help="e.g. broken:op_tijd_bezorgd (late or not delivered), late:op_tijd_bezorgd,"
    " undelivered:op_tijd_bezorgd, contacts>1, handover>1440 (default: all broken promises"
    " and trouble kinds).",
)
@click.option(
    "--rank-by",
    type=click.Choice(["contacts", "nps", "ces", "csat", "stars"]),
    default="contacts",
    show_default=True,
    help="Order by extra contacts, or by lost points of a score (stars and ces: mean score).",
)
@click.option("--now", help="The moment to judge open promises at (ISO; default: now).")
@output_options
def impact(
    db_path: str | None,
    journey_config: str | None,
    conditions: tuple[str, ...],
    rank_by: str,
    now: str | None,
    output: str,
    lang: str | None,
) -> None:
    from klantreis.analytics.conditions import parse_condition
    from klantreis.analytics.impact import impact_ranking
    from klantreis.wording.impact import impact_summary

    with open_app(db_path, journey_config) as app:
        try:
            chosen = [parse_condition(c, _when(now)) for c in conditions] or None
            views = _kept_views(app) if _views_answer(chosen) else None
            if views is not None:  # the page's reader: per-journey rows, not the log
                from klantreis.analytics import derived_promises

                items = derived_promises.impact_ranking(
                    views, app.journey, chosen, rank_by=rank_by, now=_when(now)
                )
            else:
                items = impact_ranking(
                    app.events_table(), app.journey, chosen, rank_by=rank_by, now=_when(now)
                )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        names = table_names(app, lang)
        w = names.w
        if output != "table":
            emit([{**i.as_dict(), "summary": impact_summary(i, w)} for i in items], output)
        else:
            for item in items:
                click.echo(impact_summary(item, w, names))


@journeys.command(help="All events of one journey or one customer, in time order.")
@lang_option
@store_options
@click.option("--journey", "journey_id", help="The journey (order) id.")
@click.option("--customer", "customer_id", help="The customer id.")
@click.option("--limit", default=1000, show_default=True)
@output_options
def timeline(
    db_path: str | None,
    journey_config: str | None,
    journey_id: str | None,
    customer_id: str | None,
    limit: int,
    output: str,
    lang: str | None,
) -> None:
    from klantreis.analytics.timeline import timeline as timeline_of

    with open_app(db_path, journey_config) as app:
        try:
            table = timeline_of(app.events_table(), journey_id, customer_id, limit)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        emit(
            table.to_pylist(),
            output,
            ["occurred_at", "journey_id", "kind", "channel", "owner", "metric", "score", "text"],
            names=table_names(app, lang),
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
    from klantreis.export import export_log

    with open_app(db_path, journey_config) as app:
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
