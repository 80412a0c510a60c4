"""The theme labelling queue and the text models (``/comments/themes/queue`` and
``/api/v1/comments/themes/queue``).

Analysts and admins accept or reject the theme suggested for a comment (the least certain
suggestions first; a text shared by several comments once, with their number, and the
verdict applies to all of them); each verdict is a ``comment.themed`` event written through the app's
writer (the ingest pipeline), see :mod:`klantreis.text.labels`. The page also lists the
saved versions of the theme tagger and the sentiment model with the one in use, trains a new
version in the background (with its progress on the page and at
``GET /api/v1/comments/themes/train``) and rolls back to an earlier version. Viewers see the
queue read-only, with masked texts and opaque comment handles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from klantreis.access.masking import mask_text
from klantreis.app import App
from klantreis.ingest.writer import Rejected
from klantreis.text.labels import theme_label_record, theme_label_records, theme_queue
from klantreis.text.models import (
    TextContext,
    sentiment_training_set,
    theme_training_set,
    train_sentiment,
    train_themes,
)
from klantreis.web.envelope import ApiError, ok_response
from klantreis.web.pagekit import PageCache, PageContext, PageSpec, register_page, require_role
from klantreis.web.state import web_state
from klantreis.web.training import BackgroundTraining, Progress, add_status_route

__all__ = ["TextTrainer", "router", "theme_queue_data"]

log = logging.getLogger(__name__)
router = APIRouter()
LABELLER_ROLES = ("admin", "analyst")
Labeller = Annotated[PageContext, Depends(require_role(*LABELLER_ROLES))]
KINDS = ("themes", "sentiment")
#: Fewest examples to train a text model on.
MIN_EXAMPLES = {"themes": 10, "sentiment": 20}


class TextTrainer(BackgroundTraining):
    """One text-model training at a time (:class:`BackgroundTraining`); the stage's own
    fraction is shown."""

    def __init__(self) -> None:
        super().__init__("klantreis-text-train")

    def train(self, kind: str, job: Callable[[Progress], Any], by: str) -> dict[str, Any]:
        def run(progress: Progress) -> dict[str, Any]:
            return {"version": job(progress).version}

        return self.start(run, {"kind": kind, "started_by": by})


def trainer_for(request: Request) -> TextTrainer:
    trainer: TextTrainer = web_state(request).extra("text-trainer", TextTrainer)
    return trainer


add_status_route(
    router,
    "/api/v1/comments/themes/train",
    "State and progress of the last text-model training",
    trainer_for,
    LABELLER_ROLES,
)


def _text(ctx: PageContext) -> TextContext:
    return ctx.app.text


def forget_text_models(app: App) -> None:
    """After training or a rollback: reload the models and recompute the pages."""
    app.text.forget()
    app.caches.get("pages", PageCache).clear()


@dataclass
class ThemeQueueParams:
    limit: Annotated[int, Query(ge=1, le=200)] = 25


def _versions(ctx: PageContext, kind: str) -> list[dict[str, Any]]:
    registry = _text(ctx).registries[kind]
    current = registry.current()
    rows = []
    for version in reversed(registry.versions()):
        try:
            info = registry.info(version)
        except (OSError, ValueError, TypeError):
            info = None
        if info is None:
            continue
        metrics = info.metrics or {}
        rows.append(
            {
                "version": info.version,
                "created_at": info.created_at,
                "training_size": info.training_size,
                "data_hash": info.data_hash,
                "source": info.source,
                "micro_f1": metrics.get("micro_f1"),
                "macro_f1": metrics.get("macro_f1"),
                "accuracy": metrics.get("accuracy"),
                "lexicon_accuracy": metrics.get("lexicon_accuracy"),
                "training_seconds": metrics.get("training_seconds"),
                "current": version == current,
                "per_theme": _per_theme(ctx, metrics.get("per_theme") or {}),
            }
        )
    return rows


def _per_theme(ctx: PageContext, per_theme: dict[str, dict[str, float]]) -> dict[str, Any]:
    """A version's held-out figures per theme, named, the weakest first; the themes that
    neither occur in the held-out part nor are found there have no figure and are listed."""
    names = {t.id: t.name(ctx.lang) for t in _text(ctx).taxonomy.themes}
    rows, without = [], []
    for theme, m in per_theme.items():
        name = names.get(theme, theme)
        # "predicted" is stored since session 15; before, a theme found only wrongly has
        # precision 0 and support 0 like an absent one
        if m.get("support", 0) or m.get("predicted", m.get("precision", 0)):
            rows.append({"theme": theme, "name": name, **m})
        else:
            without.append(name)
    rows.sort(key=lambda r: (r.get("f1", 0.0), r["name"]))
    return {"rows": rows, "without": sorted(without)}


def theme_queue_data(ctx: PageContext, params: ThemeQueueParams) -> dict[str, Any]:
    """Suggested themes to accept or reject (least certain first), the model versions with
    the one in use, and the state of the last training."""
    text = _text(ctx)
    tax = text.taxonomy
    items = [i.to_dict() for i in theme_queue(ctx.events(), text.tagger(), limit=params.limit)]
    if not ctx.sees_personal_data:
        handles = web_state(ctx.request).security.handles
        placeholders = ctx.placeholders
        for item in items:
            item["text"] = mask_text(item["text"], placeholders)
            item["comment_id"] = handles.of(item["comment_id"])
            item["comment_ids"] = [handles.of(c) for c in item["comment_ids"]]
    names = {t.id: t.name(ctx.lang) for t in tax.themes}
    for item in items:
        item["theme_name"] = names.get(item["theme"], item["theme"])
    can_label = ctx.principal is not None and ctx.principal.role in LABELLER_ROLES
    return {
        "items": items,
        "masked": not ctx.sees_personal_data,
        "can_label": can_label,
        "models": {kind: _versions(ctx, kind) for kind in KINDS},
        "in_use": text.versions_in_use(),
        "training": trainer_for(ctx.request).status(),
    }


register_page(
    router,
    PageSpec(
        name="comments/themes/queue",
        path="/comments/themes/queue",
        template="comments_queue.html",
        data=theme_queue_data,
        params=ThemeQueueParams,
        summary="Theme labelling queue and text-model versions",
        cache=False,  # a work queue, and versions change without new events
    ),
)


# -- verdicts ---------------------------------------------------------------------------------
async def _store_verdict(
    ctx: PageContext, comment_id: str, theme: str, verdict: str
) -> dict[str, Any]:
    labeller = ctx.principal.name if ctx.principal else "web"
    try:
        events = ctx.app.events_table()
        first = theme_label_record(
            events, comment_id, theme, verdict, _text(ctx).taxonomy.ids(), labeller
        )
        records = theme_label_records(events, first)
    except ValueError as exc:
        raise ApiError(422, str(exc), "invalid_input") from exc
    except KeyError as exc:
        raise ApiError(404, f"no comment with id '{comment_id}'", "not_found") from exc
    try:
        result = await web_state(ctx.request).writer.submit(records)
    except Rejected as exc:
        raise ApiError(422, "label rejected", "invalid_events", exc.details[:10]) from exc
    return {
        "comment_id": comment_id,
        "theme": theme,
        "verdict": verdict,
        "comment_ids": [r["attrs"]["comment_id"] for r in records],
        "stored": result.stored,
        "duplicates": result.duplicates,
    }


@router.post("/comments/themes/label", include_in_schema=False)
async def label_form(
    request: Request,
    ctx: Labeller,
    comment_id: Annotated[str, Form(max_length=200)],
    theme: Annotated[str, Form(max_length=100)],
    verdict: Annotated[str, Form(pattern="^(yes|no)$")],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    await _store_verdict(ctx, comment_id, theme, verdict)
    return RedirectResponse("/comments/themes/queue", status_code=303)


@router.post(
    "/api/v1/comments/themes/label",
    tags=["pages"],
    summary=(
        "Accept (yes) or reject (no) a theme of a comment and of the queue's comments with the"
        " same text; token of an admin/analyst"
    ),
)
async def label_api(
    ctx: Labeller,
    comment_id: Annotated[str, Body(max_length=200)],
    theme: Annotated[str, Body(max_length=100)],
    verdict: Annotated[str, Body(pattern="^(yes|no)$")],
) -> Response:
    if ctx.principal is None or ctx.principal.via != "token":
        raise ApiError(403, "use an API token (forms post to /comments/themes/label)", "forbidden")
    return ok_response(await _store_verdict(ctx, comment_id, theme, verdict))


# -- training and rollback --------------------------------------------------------------------
def _start(ctx: PageContext, kind: str) -> dict[str, Any]:
    if kind not in KINDS:
        raise ApiError(422, "kind must be 'themes' or 'sentiment'", "invalid_input")
    text, events = _text(ctx), ctx.app.events_table()
    data = (
        theme_training_set(events, text.taxonomy.ids())
        if kind == "themes"
        else sentiment_training_set(events)
    )
    if len(data.texts) < MIN_EXAMPLES[kind]:
        raise ApiError(
            422,
            f"too few examples to train: {len(data.texts)} (at least {MIN_EXAMPLES[kind]})",
            "too_few_labels",
        )
    if kind == "sentiment" and len(set(data.targets)) < 2:
        raise ApiError(422, "needs both positive and negative scored comments", "too_few_labels")
    app, registry = ctx.app, text.registries[kind]

    def job(progress: Callable[[str, float], None]) -> Any:
        if kind == "themes":
            info = train_themes(data, registry, text.taxonomy, progress=progress)
        else:
            info = train_sentiment(data, registry, progress=progress)
        forget_text_models(app)
        return info

    by = ctx.principal.name if ctx.principal else ""
    return trainer_for(ctx.request).train(kind, job, by)


def _rollback(ctx: PageContext, kind: str, version: str) -> dict[str, Any]:
    if kind not in KINDS:
        raise ApiError(422, "kind must be 'themes' or 'sentiment'", "invalid_input")
    try:
        info = _text(ctx).registries[kind].activate(version)
    except KeyError as exc:
        raise ApiError(404, f"no {kind} model version {version!r}", "not_found") from exc
    forget_text_models(ctx.app)
    return {"kind": kind, "version": info.version}


@router.post("/comments/themes/train", include_in_schema=False)
def train_form(
    request: Request,
    ctx: Labeller,
    kind: Annotated[str, Form(max_length=20)],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    _start(ctx, kind)
    return RedirectResponse("/comments/themes/queue", status_code=303)


@router.post(
    "/api/v1/comments/themes/train",
    tags=["pages"],
    status_code=202,
    summary="Train a new theme tagger or sentiment model from the store (analysts, admins)",
)
def train_api(ctx: Labeller, kind: Annotated[str, Body(embed=True, max_length=20)]) -> Response:
    if ctx.principal is None or ctx.principal.via != "token":
        raise ApiError(403, "use an API token (forms post to /comments/themes/train)", "forbidden")
    status = _start(ctx, kind)
    return ok_response(status, {"status_url": "/api/v1/comments/themes/train"}, status=202)


@router.post("/comments/themes/rollback", include_in_schema=False)
def rollback_form(
    request: Request,
    ctx: Labeller,
    kind: Annotated[str, Form(max_length=20)],
    version: Annotated[str, Form(max_length=64, pattern=r"^v[0-9A-Za-z_-]{1,63}$")],
    csrf_token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    web_state(request).security.check_csrf(request, csrf_token)
    _rollback(ctx, kind, version)
    return RedirectResponse("/comments/themes/queue", status_code=303)


@router.post(
    "/api/v1/comments/themes/rollback",
    tags=["pages"],
    summary="Put an earlier (or later) text-model version in use (analysts, admins)",
)
def rollback_api(
    ctx: Labeller,
    kind: Annotated[str, Body(max_length=20)],
    version: Annotated[str, Body(max_length=64, pattern=r"^v[0-9A-Za-z_-]{1,63}$")],
) -> Response:
    if ctx.principal is None or ctx.principal.via != "token":
        raise ApiError(403, "use an API token", "forbidden")
    return ok_response(_rollback(ctx, kind, version))
