"""``klantreis text ...``: thin wrappers around :mod:`klantreis.text` — train the theme tagger
or the sentiment model from the store (with a progress bar), list the saved model versions of
every text model (contact reasons, themes, sentiment) with the one in use, and roll back."""

from __future__ import annotations

import json
from typing import Any

import click

from klantreis.cli.options import echo_aligned, settings_from_options, store_options

__all__ = ["register"]

KINDS = ("contacts", "themes", "sentiment")


def _registry(db_path: str | None, kind: str) -> Any:
    db = settings_from_options(db_path=db_path).db_path
    if kind == "contacts":
        from klantreis.contacts.models import ModelRegistry, models_dir_for

        return ModelRegistry(models_dir_for(db))
    from klantreis.text.models import TextContext

    return TextContext(db).registries[kind]


@click.group(help="What customers write: theme and sentiment models, model versions.")
def text() -> None:
    pass


@text.command(
    help="Train the theme tagger (on the comments' theme verdicts in the store) or the"
    " sentiment model (on the store's scored comments) and save a new version, after scoring"
    " a held-out fifth."
)
@store_options
@click.option("--kind", type=click.Choice(["themes", "sentiment"]), required=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def train(
    db_path: str | None, journey_config: str | None, kind: str, seed: int, no_progress: bool
) -> None:
    from klantreis.app import App
    from klantreis.cli.contacts_cmd import training_progress
    from klantreis.text.models import (
        sentiment_training_set,
        theme_training_set,
        train_sentiment,
        train_themes,
    )

    settings = settings_from_options(db_path=db_path, journey_config=journey_config)
    with App.reader(settings, True) as app:
        text_ctx = app.text
        events = app.events_table()
        if kind == "themes":
            data = theme_training_set(events, text_ctx.taxonomy.ids())
        else:
            data = sentiment_training_set(events)
    if len(data.texts) < 10:
        raise click.ClickException(f"too few examples to train: {len(data.texts)}")
    registry = _registry(db_path, kind)
    with training_progress(not no_progress) as progress:
        if kind == "themes":
            info = train_themes(data, registry, text_ctx.taxonomy, seed=seed, progress=progress)
        else:
            info = train_sentiment(data, registry, seed=seed, progress=progress)
    metrics = {k: v for k, v in (info.metrics or {}).items() if k != "per_theme"}
    click.echo(f"{kind} model {info.version} in use: {info.training_size} examples, {metrics}")


@text.command(
    "models",
    help="The saved versions of a model (contacts, themes or sentiment), the one in use"
    " marked; --use VERSION puts another version in use (a rollback), --keep N deletes all"
    " but the newest N (never the one in use).",
)
@click.option("--db", "db_path", default=None, help="The store file (models live beside it).")
@click.option("--kind", type=click.Choice(KINDS), default="contacts", show_default=True)
@click.option("--use", "use", default=None, help="Put this version in use.")
@click.option("--keep", type=click.IntRange(min=1), default=None)
@click.option("--json", "as_json", is_flag=True)
def models(
    db_path: str | None, kind: str, use: str | None, keep: int | None, as_json: bool
) -> None:
    registry = _registry(db_path, kind)
    if use:
        try:
            registry.activate(use)
        except KeyError as exc:
            raise click.ClickException(str(exc.args[0])) from exc
    deleted = registry.prune(keep) if keep else []
    current = registry.current()
    rows = []
    for version in reversed(registry.versions()):
        info = registry.info(version)
        metrics = info.metrics or {}
        rows.append(
            {
                "in_use": "*" if version == current else "",
                "version": info.version,
                "created_at": info.created_at,
                "training_size": info.training_size,
                "data_hash": info.data_hash or "",
                "macro_f1": info.macro_f1,
                "accuracy": metrics.get("accuracy"),
                "seconds": metrics.get("training_seconds"),
            }
        )
    if as_json:
        click.echo(json.dumps({"in_use": current, "versions": rows, "deleted": deleted}, indent=2))
        return
    for version in deleted:
        click.echo(f"deleted {version}")
    if not rows:
        click.echo(f"no {kind} model trained yet")
        return
    echo_aligned(
        list(rows[0]), [[str(v if v is not None else "–") for v in r.values()] for r in rows]
    )


def register(cli: click.Group) -> None:
    cli.add_command(text)
