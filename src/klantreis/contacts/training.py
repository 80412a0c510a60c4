"""Training use cases: labelled contacts from a CSV file or from the store, train with a
held-out evaluation, save a new model version.

A labels CSV has the columns ``text`` and ``label`` (a reason id of the taxonomy), or others
named with ``text_column``/``label_column``; other columns are ignored. Labels the taxonomy does not know are reported, not silently used.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from klantreis.contacts.classifier import (
    STAGES,
    ContactClassifier,
    EvaluationReport,
    Progress,
    evaluate,
    train_staged,
)
from klantreis.contacts.data import contacts_frame
from klantreis.contacts.models import ModelInfo, ModelRegistry, data_hash
from klantreis.contacts.style_check import check_styles
from klantreis.contacts.taxonomy import UNKNOWN, Taxonomy

__all__ = [
    "STAGES",
    "LabelledSet",
    "NetworksInterrupted",
    "evaluate_current",
    "labelled_from_csv",
    "labelled_from_store",
    "train_and_save",
]


@dataclass
class LabelledSet:
    texts: list[str]
    labels: list[str]
    source: str
    skipped: int = 0


def labelled_from_csv(
    path: str | Path,
    taxonomy: Taxonomy | None = None,
    text_column: str = "text",
    label_column: str = "label",
) -> LabelledSet:
    """Rows with a text and a label (the columns ``text_column`` and ``label_column``,
    matched without regard to case or surrounding spaces); with a taxonomy, unknown labels
    raise ValueError."""
    p = Path(path)
    want = {"text": text_column.strip().lower(), "label": label_column.strip().lower()}
    with p.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip().lower(): c for c in reader.fieldnames or []}
        if want["text"] not in cols or want["label"] not in cols:
            raise ValueError(
                f"{p}: needs the columns {text_column},{label_column} (found: "
                f"{', '.join(reader.fieldnames or []) or 'none'})"
            )
        text_col, label_col = cols[want["text"]], cols[want["label"]]
        texts, labels, skipped = [], [], 0
        for row in reader:
            text, label = (row[text_col] or "").strip(), (row[label_col] or "").strip()
            if not text or not label:
                skipped += 1
                continue
            texts.append(text)
            labels.append(label)
    if taxonomy is not None:
        unknown = sorted(set(labels) - set(taxonomy.reason_ids()) - {UNKNOWN})
        if unknown:
            raise ValueError(
                f"{p}: labels not in the taxonomy: {', '.join(unknown[:10])}"
                " (use --any-labels to train on them anyway)"
            )
    return LabelledSet(texts, labels, str(p), skipped)


def labelled_from_store(events: Any, taxonomy: Taxonomy, use_given: bool = True) -> LabelledSet:
    """Contacts with a human label (``contact.labelled``), and with ``use_given`` also those
    whose source system gave a known ``attrs.reason``."""
    df = contacts_frame(events)
    known = set(taxonomy.reason_ids())
    texts, labels, skipped = [], [], 0
    for text, label, given in zip(df["text"], df["label"], df["given_reason"], strict=True):
        y = label if isinstance(label, str) else (given if use_given else None)
        if not text or y not in known:
            skipped += 1
            continue
        texts.append(str(text))
        labels.append(str(y))
    return LabelledSet(texts, labels, "store", skipped)


class NetworksInterrupted(Exception):
    """The network stage of a staged training stopped (Ctrl+C or an error): the quick model
    ``info`` (saved before it began) stays in use. ``cause`` is what stopped it."""

    def __init__(self, message: str, info: ModelInfo, cause: BaseException) -> None:
        super().__init__(message)
        self.info = info
        self.cause = cause


def train_and_save(
    data: LabelledSet,
    registry: ModelRegistry,
    taxonomy: Taxonomy | None,
    seed: int = 0,
    test_size: float = 0.2,
    lr_weight: float = 0.0,
    progress: Progress | None = None,
    stage: str = "full",
    on_quick: Callable[[ModelInfo, EvaluationReport], None] | None = None,
    stop_early: bool = False,
    all_epochs: bool = False,
    styles: bool = True,
) -> tuple[ModelInfo, EvaluationReport]:
    """Train in stages, each evaluated on the same held-out split and saved as a version.

    The quick stage (features and SVM fitted on the training split, calibrated on the
    held-out texts; see ``train_staged``) is saved first, marked ``quick``, and put in use; ``on_quick(info, report)`` runs right after.
    With ``stage="full"`` (the default) the networks follow and the full model is saved as
    the next version, which replaces the quick one in use (each version's files appear
    whole, see ``ModelRegistry.save``). When the network stage stops (Ctrl+C, an error,
    or an exception from ``progress``) :class:`NetworksInterrupted` is raised and the quick
    model stays in use. The taxonomy's example phrases are added to the training data
    (never to the evaluation). ``progress(stage, fraction_done)``: see ``train_staged``;
    the metrics record each stage's seconds (``quick_seconds``, ``network_seconds``).
    With ``styles`` (the default) the last stage's report carries the cross-style check of
    its held-out model on the held-out texts rewritten (``style_check.check_styles``, seed
    ``seed``; the report's ``styles``), saved with the version; a quick version followed
    by a full one has none (the check would delay it).
    """
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}")
    extra = None
    threshold = 0.45
    if taxonomy is not None:
        threshold = taxonomy.unknown_threshold
        pairs = [(p, r.id) for r in taxonomy.reasons() for p in r.phrases()]
        extra = ([p for p, _ in pairs], [y for _, y in pairs])
    digest = data_hash(zip(data.texts, data.labels, strict=True))
    started = time.perf_counter()
    quick: list[tuple[ModelInfo, float]] = []

    def metrics(report: EvaluationReport, **seconds: float) -> dict[str, Any]:
        return {
            "macro_f1": report.macro_f1,
            "accuracy": report.accuracy,
            "held_out": report.n,
            "training_seconds": round(time.perf_counter() - started, 2),
            **{k: round(v, 2) for k, v in seconds.items()},
        }

    def save_quick(model: ContactClassifier, report: EvaluationReport) -> None:
        took = time.perf_counter() - started
        info = registry.save(
            model,
            len(data.texts),
            report,
            data.source,
            digest,
            metrics(report, quick_seconds=took),
        )
        quick.append((info, took))
        if on_quick is not None:
            on_quick(info, report)

    try:
        model, report = train_staged(
            data.texts,
            data.labels,
            test_size=test_size,
            seed=seed,
            threshold=threshold,
            extra=extra,
            lr_weight=lr_weight,
            progress=progress,
            stop_after=stage,
            on_quick=save_quick,
            stop_early=stop_early,
            all_epochs=all_epochs,
            held_out_check=partial(check_styles, seed=seed) if styles else None,
        )
    except BaseException as exc:
        if not quick:  # the quick stage itself failed: nothing new was saved
            raise
        version = quick[0][0].version
        raise NetworksInterrupted(
            f"the network stage was interrupted; the quick model {version} (features and"
            " calibrated SVM) stays in use"
            if isinstance(exc, KeyboardInterrupt)
            else f"the network stage failed ({type(exc).__name__}: {exc}); the quick model"
            f" {version} (features and calibrated SVM) stays in use",
            quick[0][0],
            exc,
        ) from exc
    if quick and stage != "full":
        return quick[0][0], report
    now = time.perf_counter() - started
    if quick:
        seconds = {"quick_seconds": quick[0][1], "network_seconds": now - quick[0][1]}
    else:  # a model without networks: one stage, saved once
        seconds = {"quick_seconds": now}
    done = metrics(report, **seconds)
    if model.mlp_ is not None:  # the networks' epochs (fewer when they stopped early)
        done["network_epochs"] = model.mlp_epochs
        if model.networks_kept_:  # the settled held-out networks, not trained again
            done["networks_kept"] = True
    info = registry.save(model, len(data.texts), report, data.source, digest, done)
    return info, report


def evaluate_current(
    registry: ModelRegistry,
    data: LabelledSet,
    version: str | None = None,
    styles: bool = False,
    seed: int = 0,
) -> EvaluationReport:
    """The evaluation of the version in use (or ``version``) on ``data``; with ``styles``
    also the cross-style check on ``data`` rewritten (``style_check.check_styles``), in the
    report's ``styles``. Score texts the model was not trained on: on its own training
    texts both are too high."""
    model = registry.load(version)
    if model is None:
        raise LookupError("no trained model yet: run `klantreis contacts train` first")
    report = evaluate(model, data.texts, data.labels)
    if styles:
        report.styles = check_styles(model.predict_labels, data.texts, data.labels, seed=seed)
    return report
