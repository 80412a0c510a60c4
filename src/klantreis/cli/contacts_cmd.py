"""``klantreis contacts ...``: thin wrappers around :mod:`klantreis.contacts` — train,
evaluate, classify, label, the labelling queue, reason metrics, root causes, new-reason
clusters and the war room."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from klantreis.cli.options import echo_aligned, settings_from_options, store_options

__all__ = ["register"]

log = logging.getLogger(__name__)


def _checked(contacts: Any) -> Any:
    """The contacts context, its taxonomy read now (a bad file is a clear CLI error)."""
    from klantreis.contacts.taxonomy import TaxonomyError

    try:
        contacts.taxonomy  # noqa: B018 - read once, kept by the context
    except TaxonomyError as exc:
        raise click.ClickException("; ".join([exc.path, *exc.problems])) from exc
    return contacts


@contextmanager
def _app(
    db_path: str | None,
    journey_config: str | None,
    read_only: bool | None = False,
    taxonomy: str | None = None,
    models: str | None = None,
) -> Iterator[Any]:
    """The App, its contacts context (``app.contacts``) following ``--taxonomy``/``--models``;
    ``read_only`` True: a reader (a snapshot while a server holds the store); None: a reader
    that opens a free store for writing, so the kept tables serve it (brought up to date
    once, under the memory setting) instead of frames of the whole log."""
    from klantreis.app import App

    settings = settings_from_options(db_path=db_path, journey_config=journey_config)
    kw: dict[str, Any] = {"contacts_taxonomy": taxonomy, "contacts_models": models}
    # a reading command reads a snapshot while `klantreis serve` holds the store; one that
    # sums from the kept tables (``kept``) brings them up to date when the store is free
    opened = (
        App.reader(settings, bool(read_only), **kw)
        if read_only is not False
        else App(settings, **kw)
    )
    with opened as app:
        _checked(app.contacts)
        yield app


def _contacts(db_path: str | None, taxonomy: str | None, models: str | None) -> Any:
    """The contacts context of the store ``db_path`` without opening the store (for
    commands that need only the taxonomy and the model versions)."""
    from klantreis.contacts.context import ContactsContext

    db = settings_from_options(db_path=db_path).db_path
    return _checked(ContactsContext(db, taxonomy, models))


def _common(func: Any) -> Any:
    func = click.option(
        "--taxonomy", default=None, help="Contact-reason taxonomy TOML (default: built-in webshop)."
    )(func)
    func = click.option(
        "--models",
        default=None,
        help="Folder of model versions (default: models/contacts next to the store).",
    )(func)
    return store_options(func)


def _table(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    if not rows:
        click.echo("(nothing)")
        return
    cols = list(rows[0])
    echo_aligned(cols, [[_fmt(r.get(c)) for c in cols] for r in rows])


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return f"{v:.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def _labelled(
    app_args: tuple[str | None, str | None],
    labels: str | None,
    from_store: bool,
    taxonomy: Any,
    any_labels: bool,
    columns: tuple[str, str] = ("text", "label"),
) -> Any:
    """The labelled contacts of ``--labels`` (its ``columns``: text, label) or of the store,
    with a progress line on stderr."""
    from klantreis.contacts.training import labelled_from_csv, labelled_from_store

    if bool(labels) == bool(from_store):
        raise click.UsageError("give exactly one of --labels FILE.csv or --from-store")
    if from_store and columns != ("text", "label"):
        raise click.UsageError("--text-column/--label-column name columns of --labels FILE.csv")
    _progress(f"reading labelled contacts from {labels or 'the store'}")
    if labels:
        try:
            data = labelled_from_csv(labels, None if any_labels else taxonomy, *columns)
        except (OSError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    else:
        with _app(*app_args, read_only=True) as app:
            data = labelled_from_store(app.events_table(), taxonomy)
    _progress(
        f"{len(data.texts):,} labelled contacts, {len(set(data.labels))} reasons"
        f" ({data.skipped:,} rows without text or label skipped)"
    )
    return data


def _progress(message: str) -> None:
    """One progress line on stderr (stdout stays the result) with the seconds since the
    command started; shown when stderr is a terminal, or with ``--progress`` (like git)."""
    import time

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return
    shown = ctx.meta.get("klantreis.progress")
    if shown is None:
        shown = sys.stderr.isatty()
    if not shown:
        return
    started = ctx.meta.setdefault("klantreis.started", time.monotonic())
    click.echo(f"[{time.monotonic() - started:6.1f}s] {message}", err=True)


def _set_progress(ctx: click.Context, _: Any, value: bool | None) -> None:
    import time

    ctx.meta["klantreis.progress"] = value
    ctx.meta["klantreis.started"] = time.monotonic()


_COLUMNS = [
    click.option(
        "--text-column",
        default="text",
        show_default=True,
        help="Column of --labels FILE.csv holding the contact's text (case-insensitive).",
    ),
    click.option(
        "--label-column",
        default="label",
        show_default=True,
        help="Column of --labels FILE.csv holding its reason id (case-insensitive).",
    ),
]


#: ``evaluate``'s progress switch (``train`` has ``--no-progress`` for its bar, which also
#: silences these lines).
_PROGRESS = click.option(
    "--progress/--no-progress",
    default=None,
    expose_value=False,
    is_eager=True,
    callback=_set_progress,
    help="Progress lines on stderr (default: when stderr is a terminal).",
)


def _column_options(func: Any) -> Any:
    """``--text-column`` and ``--label-column`` (train and evaluate)."""
    for option in reversed(_COLUMNS):
        func = option(func)
    return func


THRESHOLD_HELP = (
    " The taxonomy's unknown threshold (unknown_threshold, default 0.45) does not change"
    " macro-F1 and accuracy: they score every contact's best reason (forced choice)."
    " It sets coverage, the share of contacts whose best reason reaches the threshold, and"
    " accuracy where sure, the accuracy on those. `contacts classify` and the reports answer"
    " `unknown` below it: a higher threshold means fewer, surer reasons and more unknown."
)


def _print_report(report: Any, confusion: bool) -> None:
    click.echo(
        f"held-out contacts: {report.n}   macro-F1: {report.macro_f1:.4f}   "
        f"accuracy: {report.accuracy:.4f}   coverage at threshold: {report.coverage:.3f}"
        f"   accuracy where sure: {report.accuracy_covered:.4f}"
    )
    rows = [{"label": k, **v} for k, v in report.per_class.items()]
    _table(rows, False)
    if confusion:
        click.echo("confusion matrix (rows: true, columns: predicted, order as above):")
        for label, row in zip(report.labels, report.confusion, strict=True):
            click.echo(f"  {label[:24]:24} " + " ".join(f"{v:4d}" for v in row))
    if report.styles:
        _print_styles(report.styles)


def _print_styles(check: dict[str, Any]) -> None:
    """The cross-style check (``style_check``): macro-F1 per style, then F1 per reason,
    weakest first."""
    from klantreis.contacts.style_check import shown_styles, weakest_first

    styles = shown_styles(check)
    left = [s for s in check["styles"] if s not in styles]
    cells = "   ".join(f"{s}: {check['macro_f1'][s]:.4f}" for s in styles)
    click.echo(
        f"cross-style check (the same {check['n']} contacts rewritten; synthetic rewrites,"
        f" not new customers' texts): macro-F1 {cells}"
    )
    if left:
        share = ", ".join(f"{s} {check['changed'][s]:.0%}" for s in left)
        click.echo(f"  not shown (changed too few of the texts): {share}")
    click.echo("per reason, weakest on the rewrites first (F1; n texts in every column):")
    rows = [
        {"reason": r["reason"], "n": r["n"], **r["f1"], "gap": r["gap"]}
        for r in weakest_first(check)
    ]
    _table(rows, False)


def _stage_label(stage: str) -> str:
    """``[quick/|full/]held_out/<step>`` or ``.../final/<step>`` (the classifier's keys) for
    people."""
    parts = stage.split("/")
    which = {"quick": "quick stage, ", "full": "full stage, "}.get(parts[0], "")
    if which:
        parts = parts[1:]
    model = parts[0] if parts else ""
    step = "/".join(parts[1:])
    model = {"held_out": "held-out model", "final": "final model"}.get(model, model)
    step = {"model": "SVM and networks", "svm": "calibrated SVM"}.get(step, step)
    return which + (f"{model}: {step}" if step else model)


@contextmanager
def training_progress(enabled: bool) -> Iterator[Any]:
    """A rich bar per training stage on a terminal, left on screen with the time the stage
    took; otherwise one log line per stage."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda stage, done: log.info("training: %s %.0f%%", _stage_label(stage), 100 * done)
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        tasks: dict[str, Any] = {}

        def advance(stage: str, done: float) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(_stage_label(stage), total=1.0)
            bar.update(tasks[stage], completed=done)

        yield advance


@click.group(help="Why do customers contact us? Reasons, classifier, root causes, war room.")
def contacts() -> None:
    pass


@contacts.command(
    help="Train a classifier on labelled contacts (a CSV with text and label columns, see"
    " --text-column/--label-column, or the store's labelled contacts) and save a new model"
    " version, in two stages: the quick model (features and calibrated SVM) is scored on a"
    " held-out 20%, refitted on everything, saved and put in use first; then the networks"
    " are trained (scored the same way) and the full model replaces it. Ctrl+C during the"
    " networks keeps the quick model." + THRESHOLD_HELP
)
@_common
@click.option("--labels", default=None, type=click.Path(exists=True, dir_okay=False))
@_column_options
@click.option("--from-store", is_flag=True, help="Use labelled contacts in the store.")
@click.option("--any-labels", is_flag=True, help="Allow labels the taxonomy does not know.")
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--lr-weight",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Also train a logistic regression and average (weight of the regression).",
)
@click.option("--confusion", is_flag=True, help="Print the confusion matrix.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option(
    "--stage",
    type=click.Choice(["quick", "full"]),
    default="full",
    show_default=True,
    help="quick: stop after the quick model (features and calibrated SVM, saved and in use"
    " within seconds); full: then train the networks and replace it with the full model.",
)
@click.option(
    "--stop-early",
    is_flag=True,
    help="The networks stop once their held-out macro-F1 stops improving: about half the"
    " full stage's time on easy data, a little less accuracy on hard data.",
)
@click.option(
    "--all-epochs",
    is_flag=True,
    help="The networks train every epoch, even once their held-out predictions have stopped"
    " changing (by default they stop then: easy data train in a few epochs).",
)
def train(
    db_path: str | None,
    journey_config: str | None,
    models: str | None,
    taxonomy: str | None,
    labels: str | None,
    from_store: bool,
    any_labels: bool,
    seed: int,
    lr_weight: float,
    confusion: bool,
    no_progress: bool,
    text_column: str,
    label_column: str,
    stage: str,
    stop_early: bool,
    all_epochs: bool,
) -> None:
    from klantreis.contacts.training import NetworksInterrupted, train_and_save

    if stop_early and all_epochs:
        raise click.UsageError("--stop-early and --all-epochs exclude each other: choose one")

    contacts = _contacts(db_path, taxonomy, models)
    tax = contacts.taxonomy
    columns = (text_column, label_column)
    data = _labelled((db_path, journey_config), labels, from_store, tax, any_labels, columns)
    if len(data.texts) < 10:
        raise click.ClickException(f"too few labelled contacts to train: {len(data.texts)}")
    if no_progress:
        click.get_current_context().meta["klantreis.progress"] = False
    _progress(
        "quick stage (features and calibrated SVM): training on 80%, scoring the held-out"
        " 20%, refitting on all"
    )

    def quick_saved(info: Any, report: Any) -> None:
        seconds = (info.metrics or {}).get("quick_seconds", 0.0)
        _progress(f"saved the quick model {info.version} (in use) after {seconds:.1f} s")
        click.echo(
            f"quick model {info.version} (features and calibrated SVM, {seconds:.1f} s):"
            f" {info.training_size} labelled contacts ({data.skipped} skipped),"
            f" {len(info.labels)} reasons; in use now"
        )
        _print_report(report, confusion)
        if stage == "full":
            how = (
                ", each stopping once its held-out macro-F1 stops improving,"
                if stop_early
                else ""
                if all_epochs
                else ", each stopping once its held-out predictions stop changing,"
            )
            more = " for as many epochs" if how else ""
            _progress(
                "full stage (two networks on the same features):"
                f" held-out{how or ','} then all{more}"
            )
            click.echo("full stage: training the networks (Ctrl+C keeps the quick model)")

    try:
        with training_progress(not no_progress) as progress:
            info, report = train_and_save(
                data,
                contacts.registry,
                None if any_labels else tax,
                seed=seed,
                lr_weight=lr_weight,
                progress=progress,
                stage=stage,
                on_quick=quick_saved,
                stop_early=stop_early,
                all_epochs=all_epochs,
            )
    except NetworksInterrupted as exc:
        click.echo(f"Stopped: {exc}.", err=True)
        raise SystemExit(130 if isinstance(exc.cause, KeyboardInterrupt) else 1) from exc
    if stage == "quick":
        return
    seconds = (info.metrics or {}).get("network_seconds", 0.0)
    epochs = (info.metrics or {}).get("network_epochs")
    trained = f", {epochs} epochs" if epochs else ""
    if (info.metrics or {}).get("networks_kept"):
        trained += ", the held-out ones kept"
    _progress(f"saved the full model {info.version} (in use) after {seconds:.1f} s more")
    click.echo(
        f"full model {info.version} (with the networks{trained}, {seconds:.1f} s more): replaces"
        f" the quick model; {info.training_size} labelled contacts, {len(info.labels)} reasons"
    )
    _print_report(report, confusion)


@contacts.command(
    "models", help="List the saved model versions; --keep N deletes all but the newest N."
)
@_common
@click.option("--keep", type=click.IntRange(min=1), default=None, help="Keep the newest N.")
@click.option("--json", "as_json", is_flag=True)
def models_cmd(
    db_path: str | None,
    journey_config: str | None,
    models: str | None,
    taxonomy: str | None,
    keep: int | None,
    as_json: bool,
) -> None:
    registry = _contacts(db_path, taxonomy, models).registry
    deleted = registry.prune(keep) if keep else []
    rows = []
    for version in reversed(registry.versions()):
        info = registry.info(version)
        rows.append(
            {
                "version": info.version,
                "created_at": info.created_at,
                "stage": info.stage or "-",
                "training_size": info.training_size,
                "macro_f1": info.macro_f1,
                "source": info.source,
            }
        )
    if as_json:
        click.echo(json.dumps({"versions": rows, "deleted": deleted}, indent=2))
        return
    for version in deleted:
        click.echo(f"deleted {version}")
    _table(rows, False)


@contacts.command(
    help="Evaluate the current (or a given) model version on labelled contacts (a CSV with"
    " text and label columns, see --text-column/--label-column, or the store's)." + THRESHOLD_HELP
)
@_common
@click.option("--labels", default=None, type=click.Path(exists=True, dir_okay=False))
@_column_options
@_PROGRESS
@click.option("--from-store", is_flag=True)
@click.option("--any-labels", is_flag=True)
@click.option("--version", "version", default=None, help="Model version (default: newest).")
@click.option("--confusion", is_flag=True)
@click.option(
    "--styles",
    is_flag=True,
    help="Also the cross-style check: the same contacts rewritten long, with typos, as chat"
    " and short (synthetic rewrites, each in its own language), macro-F1 per style and F1 per"
    " reason, weakest first. About five times the classification work.",
)
@click.option("--json", "as_json", is_flag=True)
def evaluate(
    db_path: str | None,
    journey_config: str | None,
    models: str | None,
    taxonomy: str | None,
    labels: str | None,
    from_store: bool,
    any_labels: bool,
    version: str | None,
    confusion: bool,
    styles: bool,
    as_json: bool,
    text_column: str,
    label_column: str,
) -> None:
    from klantreis.contacts.training import evaluate_current

    contacts = _contacts(db_path, taxonomy, models)
    columns = (text_column, label_column)
    tax = contacts.taxonomy
    data = _labelled((db_path, journey_config), labels, from_store, tax, any_labels, columns)
    rewrites = " and four rewrites of each (the cross-style check)" if styles else ""
    _progress(
        f"classifying {len(data.texts):,} contacts{rewrites} with model {version or 'newest'}"
    )
    try:
        report = evaluate_current(contacts.registry, data, version, styles=styles)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    _progress("done")
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_report(report, confusion)


@contacts.command(
    help="Classify texts: prints reason, confidence and method per text. A text whose best"
    " reason's confidence is below the taxonomy's unknown threshold (unknown_threshold,"
    " default 0.45) gets the reason `unknown`; `contacts evaluate` reports how often that"
    " happens as 1 - coverage."
)
@_common
@click.argument("texts", nargs=-1)
@click.option(
    "--file",
    "file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="One text per line ('-' for stdin).",
)
@click.option("--json", "as_json", is_flag=True)
def classify(
    db_path: str | None,
    journey_config: str | None,
    models: str | None,
    taxonomy: str | None,
    texts: tuple[str, ...],
    file: Any,
    as_json: bool,
) -> None:
    items = list(texts) + ([ln.rstrip("\n") for ln in file if ln.strip()] if file else [])
    if not items:
        raise click.UsageError("give texts as arguments or with --file")
    contacts = _contacts(db_path, taxonomy, models)
    preds = (contacts.model() or contacts.cold_start()).predict(items)
    rows = [
        {"reason": p.reason, "confidence": p.confidence, "method": p.method, "text": t[:80]}
        for p, t in zip(preds, items, strict=True)
    ]
    _table(rows, as_json)


@contacts.command(
    help="Contact metrics: contacts per 100 orders by reason and channel, repeat"
    " contacts, the cost Pareto and service by channel."
)
@_common
@click.option("--period", type=click.Choice(["day", "week", "month"]), default=None)
@click.option("--repeat-days", default=7.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def reasons(
    db_path: str | None,
    journey_config: str | None,
    models: str | None,
    taxonomy: str | None,
    period: str | None,
    repeat_days: float,
    as_json: bool,
) -> None:
    from klantreis.contacts.reports import app_reason_report

    with _app(db_path, journey_config, None, taxonomy, models) as app:
        report = app_reason_report(app, period, repeat_days)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2, default=str))
        return
    for name, rows in report.items():
        click.echo(f"\n## {name}")
        _table(rows if isinstance(rows, list) else [rows], False)


@contacts.command(help="The war room: top avoidable reasons, cost, root cause, fix, saving.")
@_common
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(["nl", "en"]), default="nl", show_default=True)
@click.option("--top", default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def warroom(
    db_path: str | None,
    journey_config: str | None,
    models: str | None,
    taxonomy: str | None,
    html_path: Path | None,
    csv_path: Path | None,
    lang: str,
    top: int,
    as_json: bool,
) -> None:
    from klantreis.contacts.reports import app_war_room
    from klantreis.contacts.warroom import war_room_csv
    from klantreis.wording import Names, Wording
    from klantreis.wording.warroom import war_room_html, worded_war_room

    with _app(db_path, journey_config, None, taxonomy, models) as app:
        room = app_war_room(app, top=top, lang=lang)
        names = Names(app.journey, Wording(lang))
    report = worded_war_room(room, names)
    if html_path:
        html_path.write_text(war_room_html(report), encoding="utf-8")
    if csv_path:
        csv_path.write_text(war_room_csv(report), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str))
        return
    click.echo(report.headline)
    _table(
        [
            {
                k: getattr(r, k)
                for k in (
                    "rank",
                    "reason",
                    "contacts",
                    "cost_per_year",
                    "root_cause",
                    "lift",
                    "owner",
                    "saving_per_year",
                )
            }
            for r in report.rows
        ],
        False,
    )


@contacts.command(help="Labelling queue: unlabelled contacts, lowest confidence first.")
@_common
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def queue(
    db_path: str | None,
    journey_config: str | None,
    models: str | None,
    taxonomy: str | None,
    limit: int,
    as_json: bool,
) -> None:
    from klantreis.contacts.labels import app_queue

    with _app(db_path, journey_config, None, taxonomy, models) as app:
        items = app_queue(app, limit=limit)
    _table(
        [{**i.to_dict(), "text": i.text[:70]} for i in items]
        if not as_json
        else [i.to_dict() for i in items],
        as_json,
    )


@contacts.command(help="Label a contact (stored as a contact.labelled event).")
@_common
@click.argument("contact_id")
@click.argument("reason")
@click.option("--labeller", default="cli", show_default=True)
def label(
    db_path: str | None,
    journey_config: str | None,
    models: str | None,
    taxonomy: str | None,
    contact_id: str,
    reason: str,
    labeller: str,
) -> None:
    from klantreis.contacts.labels import store_label

    with _app(db_path, journey_config, False, taxonomy, models) as app:
        try:
            result = store_label(app, contact_id, reason, app.contacts.taxonomy, labeller)
        except (KeyError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(
        f"labelled {contact_id} as {reason} ({result.stored} stored, {result.duplicates} duplicate)"
    )


@contacts.command(help="Root causes: journey conditions over-represented before each reason.")
@_common
@click.option("--reason", "reason_id", default=None)
@click.option("--limit", default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def rootcause(
    db_path: str | None,
    journey_config: str | None,
    models: str | None,
    taxonomy: str | None,
    reason_id: str | None,
    limit: int,
    as_json: bool,
) -> None:
    from klantreis.contacts.reports import app_root_causes
    from klantreis.contacts.rootcause import top_causes

    with _app(db_path, journey_config, None, taxonomy, models) as app:
        tax = app.contacts.taxonomy
        table = app_root_causes(app)
    ids = [reason_id] if reason_id else tax.reason_ids()
    _table([c.to_dict() for r in ids for c in top_causes(table, r, limit)], as_json)


@contacts.command(help="New reasons: clusters of contacts classified as unknown.")
@_common
@click.option("--k", default=None, type=int, help="Number of clusters (default: automatic).")
@click.option("--json", "as_json", is_flag=True)
def clusters(
    db_path: str | None,
    journey_config: str | None,
    models: str | None,
    taxonomy: str | None,
    k: int | None,
    as_json: bool,
) -> None:
    from klantreis.contacts.labels import app_new_reasons

    with _app(db_path, journey_config, None, taxonomy, models) as app:
        found = app_new_reasons(app, k=k)
    _table(
        [
            {
                "id": c.id,
                "size": c.size,
                "growing": c.growing,
                "last_week": c.last_week,
                "top_terms": ", ".join(c.top_terms),
                "example": c.examples[0][:60],
            }
            for c in found
        ]
        if not as_json
        else [c.to_dict() for c in found],
        as_json,
    )


def _text_context(db_path: str | None, themes_path: str | None = None) -> Any:
    """The text models next to the store ``db_path`` (without opening the store)."""
    from klantreis.text.models import TextContext

    return TextContext(settings_from_options(db_path=db_path).db_path, themes_path)


def _model_line(used: dict[str, Any], baseline: str) -> str:
    if used["trained"]:
        return f"model: {used['kind']} version {used['version']} (trained, in use)"
    return f"model: {baseline} (no trained {used['kind']} version in use)"


_DB_HELP = "DuckDB file of the event log; its trained model in use is used (env KLANTREIS_DB_PATH)."


@contacts.command(
    help="Sentiment of texts, per sentence: the trained sentiment model in use next to the"
    " store when there is one (`klantreis text train --kind sentiment`), else the shipped"
    " Dutch and English lexicon. Says which one was used."
)
@click.argument("texts", nargs=-1, required=True)
@click.option("--db", "db_path", default=None, help=_DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Rows as JSON; each says its model.")
def sentiment(texts: tuple[str, ...], db_path: str | None, as_json: bool) -> None:
    from klantreis.text.reports import sentiment_rows

    rows, used = sentiment_rows(list(texts), _text_context(db_path))
    if as_json:
        click.echo(json.dumps([r | {"model": used} for r in rows], ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo(f"{row['label']:8} {row['score']:+.2f}  {row['text']}")
        for s in row["sentences"] if len(row["sentences"]) > 1 else []:
            click.echo(f"  {s['label']:8} {s['score']:+.2f}  [{s['start']}:{s['end']}] {s['text']}")
    click.echo(_model_line(used, "shipped lexicon"))


@contacts.command(
    help="Themes of texts (multi-label): the trained theme tagger in use next to the store"
    " when there is one (`klantreis text train --kind themes`), else the theme file's example"
    " phrases. Says which one was used."
)
@click.argument("texts", nargs=-1, required=True)
@click.option(
    "--themes",
    "themes_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="A theme TOML file (default: the shipped webshop themes). A trained tagger is used"
    " only when it tags the same themes.",
)
@click.option("--db", "db_path", default=None, help=_DB_HELP)
@click.option("--lang", type=click.Choice(["nl", "en"]), default="nl", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Rows as JSON; each says its model.")
def themes(
    texts: tuple[str, ...], themes_path: str | None, db_path: str | None, lang: str, as_json: bool
) -> None:
    from klantreis.text.reports import theme_rows

    context = _text_context(db_path, themes_path)
    rows, used = theme_rows(list(texts), themes_path, lang, context)
    if as_json:
        click.echo(json.dumps([r | {"model": used} for r in rows], ensure_ascii=False, indent=2))
        return
    for row in rows:
        found = ", ".join(f"{t['name']} ({t['confidence']:.2f})" for t in row["themes"])
        click.echo(f"{row['text']}\n  -> {found or '-'}")
    click.echo(_model_line(used, "example phrases of the theme file"))


@contacts.command("taxonomy-check", help="Validate a taxonomy TOML and list every problem.")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--config", "journey_config", default=None, help="Journey configuration TOML.")
def taxonomy_check(path: Path, journey_config: str | None) -> None:
    from klantreis.app import default_journey_config
    from klantreis.contacts.taxonomy import check_taxonomy
    from klantreis.model.journey import load_journey_config

    journey = load_journey_config(journey_config) if journey_config else default_journey_config()
    problems = check_taxonomy(path, journey)
    if problems:
        click.echo(f"{path}: {len(problems)} problem(s)", err=True)
        for p in problems:
            click.echo(f"  - {p}", err=True)
        sys.exit(1)
    click.echo(f"{path}: ok")


def register(cli: click.Group) -> None:
    cli.add_command(contacts)
