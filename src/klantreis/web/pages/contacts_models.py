"""Contact-reason models in the web app (analysts and admins): the saved model versions and the
evaluation report of one of them (``/contacts/models`` and ``/api/v1/contacts/models``), and
training a new version from the web app or the API.

Training (``POST /api/v1/contacts/train``, or the form on the page, which posts to
``/contacts/models/train``) takes the labelled contacts in the store (``contact.labelled``
events and known ``attrs.reason`` values) or an uploaded CSV with the columns ``text`` and
``label``. The request checks the input (clear 4xx answers: too large, not a CSV, unknown
labels, too few examples) and then fits the model in a background thread, one training at a
time per web app (a second start answers 409). ``GET /api/v1/contacts/train`` reports the
state: ``idle``, ``running``, ``done`` (with the new version and its macro-F1) or ``failed``
(with the reason). Training is staged (``train_and_save``): the quick model (features and
calibrated SVM) is saved and in use first, the full model (with the networks) replaces it;
when the network stage fails the quick model stays in use and the reason says so. Once a
version is saved, the cached model and the cached page data are dropped, so classification
uses the new version at once. The version list shows each version's stage.

Who may train: a logged-in analyst or admin (a form with the CSRF token, or the API with the
token in the ``csrf_token`` field or the ``X-CSRF-Token`` header), or an API token with the
``read`` scope that belongs to an analyst or admin (``token create --scope read --user NAME``),
the same rule as labelling through the API.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from klantreis.contacts.models import ModelRegistry
from klantreis.contacts.style_check import shown_styles, weakest_first
from klantreis.contacts.taxonomy import UNKNOWN, Taxonomy
from klantreis.contacts.training import (
    LabelledSet,
    labelled_from_csv,
    labelled_from_store,
    train_and_save,
)
from klantreis.web.envelope import ApiError, ok_response
from klantreis.web.pagekit import (
    PageContext,
    PageSpec,
    register_page,
    render_html,
    require_role,
)
from klantreis.web.pages.contacts import LABELLER_ROLES, _taxonomy, forget_model
from klantreis.web.state import web_state
from klantreis.web.training import BackgroundTraining, Progress, add_status_route

__all__ = ["Trainer", "evaluation", "models_data", "router", "style_check"]

log = logging.getLogger(__name__)

router = APIRouter()
Labeller = Annotated[PageContext, Depends(require_role(*LABELLER_ROLES))]

#: Largest accepted upload (the whole request body), in bytes.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: Fewest labelled contacts to train on (as on the command line).
MIN_LABELLED = 10
#: Above this many reasons the page shows the most confused pairs instead of the matrix.
MAX_MATRIX = 20
#: Confused pairs listed (most often confused first).
TOP_PAIRS = 25
_TRUE = ("1", "true", "on", "yes")


#: The stages of a staged training (``train_staged``) in order, with their rough share of
#: the wall time of 20k contacts on a quiet machine (2 cores; docs/benchmarks.md): features
#: ~3.5 s, the held-out SVM ~4 s, the final quick stages nothing when the networks follow,
#: the held-out networks side by side with the final SVM ~11 s (2 epochs each: they settle,
#: decision 76), the final networks ~10 s for as many epochs when they train (decision 75
#: keeps settled held-out networks instead: that stage is then one step to the end). A
#: network stage reports the epochs done out of the fewest it can still end at
#: (``network.EarlyStop.earliest``), so a stop after 2 epochs moves the bar by halves, not
#: by tenths and then a jump; when the networks do not stop (Banking77 trains all 10) their
#: stage's plan grows by an epoch each epoch, and the bar slows down but never goes back.
_STAGE_WEIGHTS = (
    ("quick/held_out/features", 3.5),
    ("quick/held_out/svm", 4.0),
    ("quick/final/features", 0.1),
    ("quick/final/svm", 0.1),
    ("full/held_out/networks", 11.0),
    ("full/final/networks", 10.0),
)


def contact_progress(stage: str, done: float) -> float:
    """Overall progress 0-1 of a staged training (``train_and_save``): each stage's share of
    the time before it plus its own part done; an unknown stage counts as not begun. At
    most 0.99 while it runs (the page rounds to whole percents: the evaluation and the save
    follow the last stage, so "100%" waits for ``done``)."""
    total = sum(w for _, w in _STAGE_WEIGHTS)
    before = 0.0
    for name, weight in _STAGE_WEIGHTS:
        if name == stage:
            return (before + weight * done) / total * 0.99
        before += weight
    return 0.0


class Trainer(BackgroundTraining):
    """One contact-reason training at a time (:class:`BackgroundTraining`); ``on_saved``
    runs after each new version is on disk: the quick model (in use at once), then the full
    one, before the state becomes ``done``."""

    def __init__(self) -> None:
        super().__init__("klantreis-contacts-train", contact_progress)

    def train(
        self,
        data: LabelledSet,
        registry: ModelRegistry,
        taxonomy: Taxonomy | None,
        on_saved: Callable[[], None],
        started_by: str,
    ) -> dict[str, Any]:
        def job(progress: Progress) -> dict[str, Any]:
            # the quick model is in use as soon as it is saved: forget the cached one then
            info, report = train_and_save(
                data, registry, taxonomy, progress=progress, on_quick=lambda i, r: on_saved()
            )
            on_saved()
            return {"version": info.version, "macro_f1": report.macro_f1}

        fields = {
            "source": data.source,
            "started_by": started_by,
            "training_size": len(data.texts),
            "skipped": data.skipped,
            "macro_f1": None,
        }
        return self.start(job, fields)


def trainer_for(request: Request) -> Trainer:
    """The web app's trainer (one per app, on its :class:`~klantreis.web.state.WebState`)."""
    state = web_state(request)
    if state.make_trainer is None:
        state.make_trainer = Trainer
    return state.trainer()


add_status_route(
    router,
    "/api/v1/contacts/train",
    "State and progress of the last contact-model training: idle, running, done or failed",
    trainer_for,
    LABELLER_ROLES,
)


def _registry(ctx: PageContext) -> ModelRegistry:
    return ctx.app.contacts.registry


def _require_labeller(ctx: PageContext) -> None:
    if ctx.principal is None or ctx.principal.role not in LABELLER_ROLES:
        raise ApiError(403, f"needs role {' or '.join(LABELLER_ROLES)}", "forbidden")


# -- the page ---------------------------------------------------------------------------------
@dataclass
class ModelsParams:
    version: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=r"^v[0-9A-Za-z_-]{1,63}$",
            description="Model version to show (default: the current, newest one)",
        ),
    ] = None


def _names(ctx: PageContext) -> dict[str, str]:
    names = {r.id: r.name(ctx.lang) for r in _taxonomy(ctx).reasons()}
    names[UNKNOWN] = ctx.t("contacts.models.unknown")
    return names


def evaluation(
    report: dict[str, Any], names: dict[str, str], max_matrix: int = MAX_MATRIX
) -> dict[str, Any]:
    """A saved evaluation report (``EvaluationReport.to_dict()``) with reason names: the
    scores, per-reason precision/recall/F1/support, the confusion matrix (rows: true reason,
    columns: predicted) and the most confused pairs (with their share of the true reason)."""
    labels = [str(x) for x in report.get("labels") or []]
    matrix = [[int(v) for v in row] for row in report.get("confusion") or []]
    per_class = report.get("per_class") or {}
    pairs: list[dict[str, Any]] = []
    for i, row in enumerate(matrix):
        total = sum(row)
        for j, count in enumerate(row):
            if i != j and count > 0 and i < len(labels) and j < len(labels):
                pairs.append(
                    {
                        "true": labels[i],
                        "true_name": names.get(labels[i], labels[i]),
                        "predicted": labels[j],
                        "predicted_name": names.get(labels[j], labels[j]),
                        "count": count,
                        "share": count / total if total else None,
                    }
                )
    pairs.sort(key=lambda p: (-p["count"], p["true"], p["predicted"]))
    return {
        "n": report.get("n"),
        "macro_f1": report.get("macro_f1"),
        "accuracy": report.get("accuracy"),
        "coverage": report.get("coverage"),
        "accuracy_covered": report.get("accuracy_covered"),
        "per_class": [
            {
                "reason": label,
                "name": names.get(label, label),
                "precision": scores.get("precision"),
                "recall": scores.get("recall"),
                "f1": scores.get("f1"),
                "support": scores.get("support"),
            }
            for label, scores in per_class.items()
        ],
        "labels": [{"id": x, "name": names.get(x, x)} for x in labels],
        "confusion": matrix,
        "show_matrix": 0 < len(labels) <= max_matrix and len(matrix) == len(labels),
        "confused_pairs": pairs[:TOP_PAIRS],
        "styles": style_check(report.get("styles"), names),
    }


def style_check(check: dict[str, Any] | None, names: dict[str, str]) -> dict[str, Any] | None:
    """The saved cross-style check (``style_check.check_styles``) for the page: the styles
    shown (as written first), macro-F1 per style, per reason its name, n, F1 per style and
    gap, weakest reasons first; the rewrites left out (they changed too few texts)."""
    if not check or not check.get("reasons"):
        return None
    shown = shown_styles(check)
    macro = [check["macro_f1"].get(s) for s in shown]
    rewritten = [float(v) for v in macro[1:] if v is not None]
    return {
        "n": check.get("n"),
        "styles": shown,
        "macro_f1": macro,
        "gap": round(float(macro[0]) - sum(rewritten) / len(rewritten), 4)
        if rewritten and macro[0] is not None
        else None,
        "left_out": [
            {"style": s, "changed": check["changed"].get(s)}
            for s in check["styles"]
            if s not in shown
        ],
        "rows": [
            {
                "reason": row["reason"],
                "name": names.get(row["reason"], row["reason"]),
                "n": row["n"],
                "f1": [row["f1"].get(s) for s in shown],
                "gap": row["gap"],
            }
            for row in weakest_first(check)
        ],
    }


def models_data(ctx: PageContext, params: ModelsParams) -> dict[str, Any]:
    """Model versions (newest first) and the evaluation report of the chosen one (default:
    the current, newest version); the state of the last training. Analysts and admins."""
    _require_labeller(ctx)
    registry = _registry(ctx)
    versions = registry.versions()
    if params.version and params.version not in versions:
        raise ApiError(404, f"no model version {params.version!r}", "not_found")
    current = versions[-1] if versions else None
    selected = params.version or current
    rows, chosen = [], None
    for version in reversed(versions):
        try:
            info = registry.info(version)
        except (OSError, ValueError, TypeError):  # a damaged metadata file: list it as such
            log.warning("cannot read contact model %s", version, exc_info=True)
            info = None
        if info is None:
            rows.append({"version": version, "current": version == current, "damaged": True})
            continue
        if version == selected:
            chosen = info
        rows.append(
            {
                "version": info.version,
                "created_at": info.created_at,
                "training_size": info.training_size,
                "source": info.source,
                "reasons": len(info.labels),
                "macro_f1": info.macro_f1,
                "stage": info.stage,
                "current": version == current,
                "damaged": False,
            }
        )
    report = evaluation(chosen.report, _names(ctx)) if chosen and chosen.report else None
    return {
        "current": current,
        "selected": selected,
        "versions": rows,
        "report": report,
        "training": trainer_for(ctx.request).status(),
        "max_upload_bytes": MAX_UPLOAD_BYTES,
        "min_labelled": MIN_LABELLED,
    }


register_page(
    router,
    PageSpec(
        name="contacts/models",
        path="/contacts/models",
        template="contacts_models.html",
        data=models_data,
        params=ModelsParams,
        summary="Contact-reason model versions and the evaluation of one (analysts, admins)",
        cache=False,  # versions change without new events
    ),
)


# -- training ---------------------------------------------------------------------------------
class _TooLarge(MultiPartException):
    pass


async def _limited(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise _TooLarge(f"the upload is larger than {limit // (1024 * 1024)} MB")
        yield chunk


async def _read_form(request: Request) -> FormData:
    """The request's form (multipart or urlencoded; an empty body is an empty form), read
    with a size limit so that a huge upload is refused before it fills the disk."""
    length = request.headers.get("content-length", "")
    limit = MAX_UPLOAD_BYTES + 64 * 1024  # room for the other fields and the boundaries
    too_large = f"the upload is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
    if length.isdigit() and int(length) > limit:
        raise ApiError(413, too_large, "payload_too_large")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    stream = _limited(request.stream(), limit)
    parser: MultiPartParser | FormParser
    if ctype == "multipart/form-data":
        parser = MultiPartParser(request.headers, stream, max_files=1, max_fields=10)
    elif ctype == "application/x-www-form-urlencoded":
        parser = FormParser(request.headers, stream, max_fields=10)
    elif not ctype and length in ("", "0"):
        return FormData()
    else:
        raise ApiError(
            415, "send multipart/form-data (with a file) or a form", "unsupported_media_type"
        )
    try:
        return await parser.parse()
    except _TooLarge as exc:
        raise ApiError(413, too_large, "payload_too_large") from exc
    except MultiPartException as exc:
        raise ApiError(400, f"cannot read the form: {exc.message}", "bad_request") from exc
    except (ValueError, KeyError) as exc:  # malformed headers or encodings in the form
        raise ApiError(400, "cannot read the form", "bad_request") from exc


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:200] if isinstance(value, str) else ""


def _from_upload(upload: UploadFile, taxonomy: Taxonomy | None) -> LabelledSet:
    """Labelled contacts from an uploaded CSV (copied to a temporary file); ValueError with
    a readable reason when the file is not usable."""
    filename = PurePath(upload.filename or "upload.csv").name[:100] or "upload.csv"
    fd, tmp = tempfile.mkstemp(prefix="klantreis-labels-", suffix=".csv")
    try:
        with os.fdopen(fd, "wb") as out:
            upload.file.seek(0)
            shutil.copyfileobj(upload.file, out)
        try:
            data = labelled_from_csv(tmp, taxonomy)
        except csv.Error as exc:
            raise ValueError(f"not a readable CSV file: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ValueError("not a UTF-8 text file") from exc
        except ValueError as exc:
            message = str(exc).replace(tmp, filename)
            raise ValueError(message.replace("--any-labels", "any_labels=true")) from exc
    finally:
        os.unlink(tmp)
    data.source = f"upload: {filename}"
    return data


async def _start_training(request: Request, ctx: PageContext) -> dict[str, Any]:
    """Check the request and its labelled contacts, then start the training (202-worthy)."""
    trainer = trainer_for(request)
    if trainer.running:
        raise ApiError(409, "a training is already running; wait for it", "conflict")
    form = await _read_form(request)
    try:
        principal = ctx.principal
        if principal is not None and principal.via == "session":
            submitted = _field(form, "csrf_token") or request.headers.get("x-csrf-token", "")
            web_state(request).security.check_csrf(request, submitted)
        upload = form.get("file")
        has_file = isinstance(upload, UploadFile) and bool(upload.filename or upload.size)
        source = _field(form, "source") or ("csv" if has_file else "store")
        any_labels = _field(form, "any_labels").lower() in _TRUE
        tax = _taxonomy(ctx)
        taxonomy = None if any_labels else tax
        if source == "csv":
            if not isinstance(upload, UploadFile) or not has_file:
                raise ApiError(422, "upload a CSV file in the field 'file'", "invalid_input")
            try:
                data = await run_in_threadpool(_from_upload, upload, taxonomy)
            except ValueError as exc:
                raise ApiError(422, str(exc), "invalid_labels") from exc
        elif source == "store":
            data = await run_in_threadpool(labelled_from_store, ctx.app.events_table(), tax)
        else:
            raise ApiError(422, "source must be 'store' or 'csv'", "invalid_input")
    finally:
        await form.close()
    if len(data.texts) < MIN_LABELLED:
        raise ApiError(
            422,
            f"too few labelled contacts to train: {len(data.texts)} (at least {MIN_LABELLED};"
            f" {data.skipped} rows skipped)",
            "too_few_labels",
        )
    if len(set(data.labels)) < 2:
        raise ApiError(
            422, "the labelled contacts need at least 2 different reasons", "too_few_labels"
        )
    app = ctx.app
    return trainer.train(
        data,
        _registry(ctx),
        taxonomy,
        lambda: forget_model(app),
        ctx.principal.name if ctx.principal else "",
    )


TRAIN_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "source": {"type": "string", "enum": ["store", "csv"]},
                        "file": {"type": "string", "format": "binary"},
                        "any_labels": {"type": "boolean"},
                        "csrf_token": {"type": "string"},
                    },
                }
            },
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "source": {"type": "string", "enum": ["store"]},
                        "csrf_token": {"type": "string"},
                    },
                }
            },
        },
    }
}


@router.post(
    "/api/v1/contacts/train",
    tags=["pages"],
    status_code=202,
    openapi_extra=TRAIN_BODY,
    summary="Train a new contact-reason model (analysts, admins): from the store's labels or"
    " an uploaded CSV (text,label); runs in the background, 409 while one runs",
)
async def train_api(request: Request, ctx: Labeller) -> Response:
    status = await _start_training(request, ctx)
    return ok_response(status, {"status_url": "/api/v1/contacts/train"}, status=202)


@router.post("/contacts/models/train", include_in_schema=False)
async def train_form(request: Request, ctx: Labeller) -> Response:
    try:
        await _start_training(request, ctx)
    except ApiError as exc:
        if exc.status == 401:
            raise
        response = render_html(
            ctx,
            "contacts_models.html",
            data=models_data(ctx, ModelsParams()),
            charts={},
            params=ModelsParams(),
            page="contacts/models",
            form_error=exc.message,
        )
        response.status_code = exc.status
        return response
    return RedirectResponse("/contacts/models", status_code=303)
