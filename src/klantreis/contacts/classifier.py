"""Contact classification: a cold-start phrase matcher from the taxonomy, and a trainable
model (word + char_wb n-gram TF-IDF, a linear SVM with sigmoid-calibrated probabilities,
averaged with small neural networks over the same features).

A contact whose best probability is below the threshold is ``unknown``: it goes to the
labelling queue and to the new-reason clusters. CPU only; nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from klantreis.contacts.augment import augment
from klantreis.contacts.features import NgramTfidf
from klantreis.contacts.lexicon import default_analyzer
from klantreis.contacts.network import (
    EarlyStop,
    Mlp,
    compiled_step,
    float32_blocks,
    linear,
    linear_compiled,
    train_mlp,
)
from klantreis.contacts.taxonomy import UNKNOWN, Taxonomy
from klantreis.contacts.text import normalise

__all__ = [
    "STAGES",
    "ColdStart",
    "ContactClassifier",
    "EvaluationReport",
    "HeldOutCheck",
    "Mlp",
    "PhraseMatcher",
    "Prediction",
    "Progress",
    "evaluate",
    "platt",
    "train_mlp",
    "train_staged",
    "train_with_holdout",
]

log = logging.getLogger(__name__)

#: ``progress(stage, fraction_done)``: training reports each stage from 0.0 to 1.0.
Progress = Callable[[str, float], None]

MLP_WEIGHT = 0.8  # the networks' share of the probabilities (5-fold CV, Banking77 train)
MLP_EPOCHS = 10
MLP_BATCH = 64
MLP_LR = 3e-3
MLP_FIRST_LAYER = "adam"  # the first layer's update (see network.train_mlp)
#: the staged training's networks skip the feature rows whose batch entries all dropped out
#: (``train_mlp(skip_dropped=True)``): ~11% fewer row updates, Banking77 >= 0.93 on 2 seeds
#: (session 11); ``fit`` keeps the plain lazy Adam
STAGED_SKIP_DROPPED = True
# the SVM's sigmoid calibration: 2 folds and a looser tolerance train it in ~55% of the CPU
# of 3 folds at 1e-4 (Banking77 macro-F1 0.9308 vs 0.9312 with the same networks)
CALIBRATION_FOLDS = 2
SVM_TOL = 1e-3
#: batches of at least this many texts take the compiled prediction path (numba kernels for
#: the character n-grams and the sparse product: equal up to float rounding, ~1.5x faster);
#: smaller ones the NumPy/SciPy path, which needs no kernels loaded in the process
COMPILED_FROM = 1000
#: the networks' shares a staged training tries on its held-out split (``choose_weight``):
#: the held-out SVM (cross-fit calibration) and networks score there texts they never saw
STAGED_WEIGHTS = (0.5, 0.6, 0.7, 0.8, 0.9)
# with WARM_START the final networks of a staged training start from the held-out fit's and
# train FINETUNE_EPOCHS epochs on all the texts at FINETUNE_LR (decaying to 0). Off: measured
# on Banking77 (2 epochs at 1e-3) the staged full model scored 0.9246 on the test split,
# below 0.93 (docs/benchmarks.md, session 9), so the final networks train from scratch.
WARM_START = False
FINETUNE_EPOCHS = 2
FINETUNE_LR = 1e-3
#: early stopping of the staged training's networks when asked for (``train_staged(...,
#: stop_early=True)``, ``contacts train --stop-early``): a held-out network stops once its
#: macro-F1 on the held-out split has not improved for this many epochs (keeping its best
#: epoch), and the final networks train as many epochs as the held-out ones ran. Off by
#: default: on Banking77 it cost ~0.001 test macro-F1 (below the 0.93 gate on 2 of 3 seeds).
STAGED_PATIENCE = 2
#: the default stop of the staged training's networks (decision 69): a held-out network
#: stops once its predicted reasons changed on at most this share of the held-out texts
#: in each of the last ``STAGED_SETTLED_EPOCHS`` epochs, keeping the weights it has, and the
#: final networks train as many epochs as the held-out ones ran. Measured before it was
#: set (held-out splits only): the 20k contacts change <= 0.08% of their predictions from
#: epoch 2 on, Banking77 >= 0.6% up to its 10th epoch (so it never stops there: its model
#: is the one without a stop). ``train_staged(all_epochs=True)`` turns it off. One settled
#: epoch is enough (decision 76, was 2): Banking77's shares stay >= 0.55% up to its 9th epoch.
STAGED_SETTLED = 0.002
STAGED_SETTLED_EPOCHS = 1
#: with the settled stop, when every held-out network stopped before its last epoch the final
#: model keeps those networks (trained on the training split, scored by the held-out report)
#: instead of training new ones on all the texts; the final SVM still trains on everything
#: (decision 75). When a network ran every epoch (Banking77) the final networks train as
#: before. Measured: cross-style 0.7673 / 0.7672 / 0.7669 against 0.7664 / 0.7673 / 0.7720
#: (seeds 0-2), the 20k contacts' full stage about half the CPU (docs/benchmarks.md).
STAGED_REUSE = True
#: the staged training's networks' batch size and learning rate (``fit`` keeps MLP_BATCH,
#: MLP_LR)
STAGED_BATCH = MLP_BATCH
STAGED_LR = MLP_LR


#: The stages of a staged fit (``fit_quick`` then ``fit_networks``): ``quick`` is the
#: features and the calibrated SVM alone (usable at once), ``full`` adds the networks.
QUICK = "quick"
FULL = "full"
STAGES = (QUICK, FULL)


#: A check of a held-out model on its held-out texts (``style_check.check_styles``):
#: ``check(predict, texts, labels)``, a JSON-ready result kept in the report's ``styles``.
HeldOutCheck = Callable[
    [Callable[[Sequence[str]], list[str]], Sequence[str], Sequence[str]], dict[str, Any]
]


def _no_progress(stage: str, done: float) -> None:
    return None


class _Tally:
    """Progress of parts trained side by side, as one fraction: each part counts alike."""

    def __init__(self, report: Callable[[float], None], parts: int) -> None:
        self._report = report
        self._done = [0.0] * parts
        self._lock = threading.Lock()
        self._last = -1.0

    def advance(self, part: int, done: int, total: int) -> None:
        with self._lock:
            self._done[part] = done / max(total, 1)
        self.report()

    def report(self) -> None:
        with self._lock:
            fraction = sum(self._done) / len(self._done)
            if fraction <= self._last:
                return
            self._last = fraction
            self._report(fraction)


@dataclass(frozen=True)
class Prediction:
    """The reason of one contact, its confidence (0-1) and how it was found."""

    reason: str
    confidence: float
    method: str  # "model", "rules" or "label"
    best: str  # the best reason even when ``reason`` is unknown


class PhraseMatcher:
    """Cold start: a reason scores the summed word counts of its phrases found in the text.

    Confidence is the best reason's share of all matched weight, damped when little matched:
    one short phrase gives at most 0.6, longer or several phrases up to 0.95.
    """

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.threshold = taxonomy.unknown_threshold
        self.phrases = [(r.id, normalise(p)) for r in taxonomy.reasons() for p in r.phrases()]

    def scores(self, text: str) -> dict[str, float]:
        t = normalise(text)
        out: dict[str, float] = {}
        for reason, phrase in self.phrases:
            if phrase and phrase in t:
                out[reason] = out.get(reason, 0.0) + len(phrase.split())
        return out

    def predict(self, texts: Sequence[str | None]) -> list[Prediction]:
        return [self._one(t or "") for t in texts]

    def _one(self, text: str) -> Prediction:
        scores = self.scores(text)
        if not scores:
            return Prediction(UNKNOWN, 0.0, "rules", UNKNOWN)
        best = max(scores, key=lambda r: (scores[r], r))
        share = scores[best] / sum(scores.values())
        confidence = round(share * min(0.95, 0.3 + 0.15 * scores[best]), 4)
        reason = best if confidence >= self.threshold else UNKNOWN
        return Prediction(reason, confidence, "rules", best)


class ColdStart:
    """Before any labels: the phrase rules where they match (precise, little coverage), and
    elsewhere a classifier trained on the taxonomy's example phrases (method ``phrases``)."""

    def __init__(self, taxonomy: Taxonomy, seed: int = 0) -> None:
        self.rules = PhraseMatcher(taxonomy)
        pairs = [(p, r.id) for r in taxonomy.reasons() for p in r.phrases()]
        # a hundred-odd phrases: the linear model alone (the networks add seconds, no accuracy)
        self.model = ContactClassifier(
            threshold=taxonomy.unknown_threshold, seed=seed, mlp_models=0
        ).fit([p for p, _ in pairs], [y for _, y in pairs])

    def reason_of(self, best: str, confidence: float) -> str:
        """The reason :meth:`predict` gives a text whose ``best`` reason and ``confidence``
        these are (the rules and the phrase model share the taxonomy's threshold)."""
        return self.model.reason_of(best, confidence)

    def predict(self, texts: Sequence[str | None]) -> list[Prediction]:
        out = self.rules.predict(texts)
        todo = [i for i, p in enumerate(out) if p.reason == UNKNOWN]
        if todo:
            for i, p in zip(todo, self.model.predict([texts[i] for i in todo]), strict=True):
                out[i] = Prediction(p.reason, p.confidence, "phrases", p.best)
        return out


class ContactClassifier:
    """TF-IDF (word 1-2 + char_wb 2-5) plus word vectors learned from the training texts
    (PPMI + SVD, 150 dimensions) -> LinearSVC -> sigmoid calibration (2-fold).

    The word block reads stems and webshop concepts (``lexicon.default_analyzer``): "doos
    ingedeukt" and "box smashed" share ``§damage`` with "pakket beschadigd", which is what
    carries a model trained on one way of writing to another (see ``styles``). With
    ``augment_share`` > 0 that share of the short training texts gets a copy wrapped in
    neutral sentences with a few typos (``augment``); ``train_with_holdout`` uses 0.5.

    With ``mlp_models`` > 0 (the default: 2) that many one-hidden-layer networks (ReLU,
    ``mlp_hidden`` units, dropout, Adam; see ``train_mlp``) are trained on the same features
    with different seeds; their mean softmax gets weight ``mlp_weight`` against the SVM's
    probabilities. Chosen by 5-fold cross-validation on the Banking77 training split (a
    staged training chooses its own on its held-out split, see ``train_staged``). With
    ``mlp_skip_dropped`` the networks skip the rows whose batch entries all dropped out
    (``train_mlp(skip_dropped=True)``; the staged training sets it).

    Training uses ``n_jobs`` threads (default 2): the word vectors are learnt while the
    n-grams are counted, and the SVM and the networks are trained side by side (the result
    is the same as with one thread). ``progress`` reports two stages, ``features`` and
    ``model`` (the SVM and every network together), each from 0 to 1.

    With ``lr_weight`` > 0 a multinomial logistic regression on the same features is trained
    too and the probabilities are averaged (weight ``lr_weight`` for the regression): a
    little more accurate on many classes, slower to train, as fast to predict.
    """

    def __init__(
        self,
        threshold: float = 0.45,
        c: float = 1.0,
        seed: int = 0,
        features: NgramTfidf | None = None,
        lr_weight: float = 0.0,
        lr_c: float = 30.0,
        mlp_models: int = 2,
        mlp_weight: float = MLP_WEIGHT,
        mlp_hidden: int = 256,
        augment_share: float = 0.0,
        n_jobs: int = 2,
        mlp_epochs: int = MLP_EPOCHS,
        mlp_batch: int = MLP_BATCH,
        mlp_lr: float = MLP_LR,
        mlp_first_layer: str = MLP_FIRST_LAYER,
        mlp_skip_dropped: bool = False,
    ) -> None:
        self.threshold = threshold
        self.c = c
        self.seed = seed
        self.lr_weight = lr_weight
        self.lr_c = lr_c
        self.lr_coef_: np.ndarray | None = None
        self.lr_intercept_: np.ndarray | None = None
        self.mlp_models = mlp_models
        self.mlp_weight = mlp_weight
        self.mlp_hidden = mlp_hidden
        self.mlp_: Mlp | None = None
        self._fused_: tuple[np.ndarray, np.ndarray] | None = None
        self.augment_share = augment_share
        self.n_jobs = n_jobs
        self.mlp_epochs = mlp_epochs
        self.mlp_batch = mlp_batch
        self.mlp_lr = mlp_lr
        self.mlp_first_layer = mlp_first_layer
        self.mlp_skip_dropped = mlp_skip_dropped
        self.features = features or NgramTfidf(
            embed_dims=150, embed_weight=1.5, analyzer=default_analyzer()
        )
        self.model: CalibratedClassifierCV | LinearSVC | None = None
        self.classes_: list[str] = []
        self.coef_ = np.zeros((0, 0))
        self.intercept_ = np.zeros(0)
        self.sigmoid_: tuple[np.ndarray, np.ndarray] | None = None
        #: ``quick`` after ``fit_quick`` (no networks yet), ``full`` after ``fit`` or
        #: ``fit_networks``; saved with the model
        self.stage = FULL
        self._kept_: tuple[Any, np.ndarray] | None = None  # features kept for fit_networks
        #: with early stopping (``fit_networks(held_out=...)``): the epochs each held-out
        #: network ran and its held-out macro-F1 after each epoch (a staged training's final
        #: model keeps its held-out networks' record)
        self.epochs_run_: list[int] = []
        self.epoch_scores_: list[list[float]] = []
        #: the share of held-out predictions that changed after each epoch (from the 2nd)
        self.epoch_changes_: list[list[float]] = []
        #: a staged training's final model that kept its settled held-out networks
        #: (``STAGED_REUSE``) instead of training new ones on all the texts
        self.networks_kept_ = False

    def fit(
        self, texts: Sequence[str], labels: Sequence[str], progress: Progress | None = None
    ) -> ContactClassifier:
        """Train; ``progress(stage, fraction_done)`` is called as each stage advances."""
        report = progress or _no_progress
        x, y_arr, y_idx = self._prepare(texts, labels, report)
        nets = self.mlp_models if self.mlp_weight > 0 else 0
        self._train(x, y_arr, y_idx, True, nets, lambda done: report("model", done))
        self.stage = FULL
        report("model", 1.0)
        return self

    def fit_quick(
        self, texts: Sequence[str], labels: Sequence[str], progress: Progress | None = None
    ) -> ContactClassifier:
        """The quick stage of a staged fit: the features and the calibrated SVM alone (a
        usable model, ``stage == "quick"``); ``fit_networks`` then adds the networks on the
        same features, which gives the same model as ``fit``. Progress stages: ``features``
        and ``svm``."""
        report = progress or _no_progress
        x, y_arr, y_idx = self._prepare(texts, labels, report)
        self.mlp_ = None
        self._train(x, y_arr, y_idx, True, 0, lambda done: report("svm", done))
        report("svm", 1.0)
        self.stage = QUICK
        self._kept_ = (x, y_idx)
        return self

    def fit_networks(
        self,
        progress: Progress | None = None,
        warm: ContactClassifier | None = None,
        held_out: tuple[Any, np.ndarray] | None = None,
        patience: int = 0,
        settled: float | None = None,
    ) -> ContactClassifier:
        """The full stage after ``fit_quick``: the networks on the kept features (progress
        stage ``networks``). An exception raised meanwhile (also from ``progress``) stops
        every network and leaves the quick model as it was. With ``warm`` (a model with
        networks on the same features and classes) each network starts from its
        counterpart and trains ``FINETUNE_EPOCHS`` epochs at ``FINETUNE_LR``. With
        ``held_out`` (feature rows the networks do not train on and their class indices)
        and ``patience`` > 0 each network stops early (``network.EarlyStop``: once its
        held-out macro-F1 stops improving, or with ``settled`` once its held-out predictions
        stop changing); the epochs each ran, their held-out scores and the share of changed
        predictions are kept in ``epochs_run_``, ``epoch_scores_`` and ``epoch_changes_``."""
        if self._kept_ is None:
            raise RuntimeError("fit_networks needs fit_quick first")
        report = progress or _no_progress
        x, y_idx = self._kept_
        nets = self.mlp_models if self.mlp_weight > 0 else 0
        init = None
        if warm is not None and warm.mlp_ is not None:
            if warm.classes_ != self.classes_ or warm.features is not self.features:
                raise ValueError("a warm start needs the same features and classes")
            init = warm.mlp_.unstack()
        stops = (
            [EarlyStop(*held_out, patience, settled) for _ in range(nets)]
            if held_out is not None and patience > 0
            else None
        )
        self._train(x, None, y_idx, False, nets, lambda done: report("networks", done), init, stops)
        if stops is not None:
            self.epochs_run_ = [s.ran for s in stops]
            self.epoch_scores_ = [list(s.scores) for s in stops]
            self.epoch_changes_ = [list(s.changed) for s in stops]
        self._kept_ = None
        self.stage = FULL
        report("networks", 1.0)
        return self

    def _prepare(
        self, texts: Sequence[str], labels: Sequence[str], report: Progress
    ) -> tuple[Any, np.ndarray, np.ndarray]:
        """The feature matrix, the labels and their class indices (``classes_`` order)."""
        pairs = [(t, y) for t, y in zip(texts, labels, strict=True) if y and y != UNKNOWN]
        if len({y for _, y in pairs}) < 2:
            raise ValueError("training needs labelled contacts of at least 2 reasons")
        x_text: Sequence[str] = [t for t, _ in pairs]
        y: Sequence[str] = [label for _, label in pairs]
        if getattr(self, "augment_share", 0.0) > 0:
            x_text, y = augment(x_text, y, share=self.augment_share, seed=self.seed)
        report("features", 0.0)
        x = self.features.fit_transform(x_text)
        report("features", 1.0)
        y_arr = np.asarray(y)
        self.classes_ = [str(c) for c in np.unique(y_arr)]  # the order sklearn uses
        index = {c: i for i, c in enumerate(self.classes_)}
        y_idx = np.array([index[str(v)] for v in y], dtype=np.int64)
        return x, y_arr, y_idx

    def _train(
        self,
        x: Any,
        y_arr: np.ndarray | None,
        y_idx: np.ndarray,
        svm: bool,
        nets: int,
        report: Callable[[float], None],
        init: list[Mlp] | None = None,
        stops: list[EarlyStop] | None = None,
    ) -> None:
        """The calibrated SVM (``svm``) and ``nets`` networks, side by side on ``n_jobs``
        threads (liblinear and the compiled network step release the GIL); ``init``: the
        networks to start from (a warm start, see ``fit_networks``); ``stops``: each
        network's early stopping."""
        tally = _Tally(report, int(svm) + nets)
        tally.report()
        stop = threading.Event()

        def calibrated_svm() -> None:
            assert y_arr is not None
            self._fit_linear(x, y_arr)
            tally.advance(0, 1, 1)

        def epoch(k: int, done: int, total: int) -> None:
            if stop.is_set():  # another part failed or was interrupted: stop this one too
                raise RuntimeError("training stopped")
            tally.advance(int(svm) + k, done, total)

        def network(k: int) -> Mlp:
            return train_mlp(
                x,
                y_idx,
                len(self.classes_),
                self.mlp_hidden,
                epochs=FINETUNE_EPOCHS if init else self.mlp_epochs,
                lr=FINETUNE_LR if init else self.mlp_lr,
                batch=self.mlp_batch,
                seed=self.seed + k,
                first_layer=getattr(self, "mlp_first_layer", "adam"),
                on_epoch=lambda done, total: epoch(k, done, total),
                init=init[k] if init else None,
                skip_dropped=getattr(self, "mlp_skip_dropped", False),
                stop=stops[k] if stops else None,
            )

        if nets:
            compiled_step()  # one compiled kernel for every thread (loaded or compiled now)
        workers = max(1, min(int(getattr(self, "n_jobs", 1)), int(svm) + nets))
        with ThreadPoolExecutor(workers, thread_name_prefix="klantreis-fit") as pool:
            try:
                first = pool.submit(calibrated_svm) if svm else None
                jobs = [pool.submit(network, k) for k in range(nets)]
                if first is not None:
                    first.result()
                trained = [job.result() for job in jobs]
            except BaseException:  # Ctrl+C or an error: the other parts stop at their next epoch
                stop.set()
                raise
        if nets:
            self.mlp_ = Mlp.stack(trained)
            self._fused_ = None
        elif svm:
            self.mlp_ = None

    def _fit_linear(self, x: Any, y: np.ndarray, calibrate: bool = True) -> None:
        """The SVM (and the optional regression), folded into arrays; with ``calibrate``
        its sigmoid calibration by cross-validation, else none (``sigmoid_`` is then set
        apart, see ``train_staged``)."""
        svm = LinearSVC(C=self.c, tol=SVM_TOL, random_state=self.seed)
        least = min(np.unique(y, return_counts=True)[1])
        if calibrate and least >= 2:
            model = CalibratedClassifierCV(
                svm, method="sigmoid", cv=min(CALIBRATION_FOLDS, int(least)), ensemble=False
            )
            self.model = model.fit(x, y)
        else:
            if calibrate:
                log.warning("a reason has a single example: confidences are not calibrated")
            self.model = svm.fit(x, y)
        if [str(c) for c in self.model.classes_] != self.classes_:
            raise RuntimeError("class order of the SVM differs")
        self._fused_ = None
        self._compile()
        if self.lr_weight > 0:
            self._fit_lr(x, y)

    def _decisions(self, x: Any) -> np.ndarray:
        """The SVM's decision values of a feature matrix (one column for two classes)."""
        return np.asarray(x @ self.coef_) + self.intercept_

    def _fit_lr(self, x: Any, y: np.ndarray) -> None:
        lr = LogisticRegression(C=self.lr_c, max_iter=300, random_state=self.seed).fit(x, y)
        if [str(c) for c in lr.classes_] != self.classes_:
            raise RuntimeError("class order of the two models differs")
        coef = np.asarray(lr.coef_, dtype=np.float64)
        intercept = np.asarray(lr.intercept_, dtype=np.float64)
        if coef.shape[0] == 1:  # binary: one row for the positive class
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-1, 1]) * intercept / 2
        self.lr_coef_, self.lr_intercept_ = coef.T.copy(), intercept

    def __getstate__(self) -> dict[str, Any]:
        """Pickle only what prediction needs (the compiled arrays, not the sklearn models):
        half the size, faster to hand to worker processes."""
        state = dict(self.__dict__)
        state["model"] = None
        state["_fused_"] = None
        state["_kept_"] = None  # the training features of a staged fit
        return state

    def _fused(self) -> tuple[np.ndarray, np.ndarray]:
        if self._fused_ is None:
            if self.mlp_ is None:
                raise RuntimeError("no networks to fuse")
            self._fused_ = (
                np.hstack([self.coef_.astype(np.float32), self.mlp_.w1]),
                np.concatenate([self.intercept_, self.mlp_.b1]).astype(np.float32),
            )
        return self._fused_

    def __setstate__(self, state: dict[str, Any]) -> None:
        state["_fused_"] = None
        state.setdefault("mlp_", None)  # models saved before the networks existed
        state.setdefault("mlp_models", 0)
        state.setdefault("mlp_weight", 0.0)
        state.setdefault("mlp_hidden", 0)
        state.setdefault("stage", FULL)  # models saved before staged fits: one full fit
        state.setdefault("_kept_", None)
        state.setdefault("epochs_run_", [])
        state.setdefault("epoch_scores_", [])
        state.setdefault("epoch_changes_", [])
        state.setdefault("networks_kept_", False)
        self.__dict__.update(state)

    def _compile(self) -> None:
        """Fold the SVM and its sigmoid calibrators into arrays: one matrix product and one
        vectorised sigmoid per batch at prediction time."""
        model = self.model
        if model is None:
            raise RuntimeError("the classifier is not trained")
        svm = (
            model.calibrated_classifiers_[0].estimator
            if isinstance(model, CalibratedClassifierCV)
            else model
        )
        self.coef_ = np.asarray(svm.coef_, dtype=np.float64).T.copy()
        self.intercept_ = np.asarray(svm.intercept_, dtype=np.float64)
        if isinstance(model, CalibratedClassifierCV):
            cal = model.calibrated_classifiers_[0].calibrators
            self.sigmoid_ = (np.array([c.a_ for c in cal]), np.array([c.b_ for c in cal]))
        else:
            self.sigmoid_ = None

    def predict_proba(
        self, texts: Sequence[str | None], compiled: bool | None = None
    ) -> np.ndarray:
        """Probability per class (columns in ``classes_`` order). ``compiled`` chooses the
        prediction path (default: compiled from ``COMPILED_FROM`` texts on); both give the
        same probabilities up to float rounding (< 1e-6)."""
        if getattr(self, "coef_", np.zeros(0)).size == 0:
            if self.model is None:
                raise RuntimeError("the classifier is not trained")
            self._compile()  # a model saved before compiling existed
        if compiled is None:
            compiled = len(texts) >= COMPILED_FROM
        blocks = self.features.transform_blocks(texts, compiled=compiled)
        if self.mlp_ is not None and self.mlp_weight > 0:
            # the SVM's weights side by side with the networks' first layers: one float32
            # product per feature block for both
            coef, intercept = self._fused()
            product = linear_compiled if compiled else linear
            z = product(float32_blocks(blocks), coef, intercept)
            split = self.coef_.shape[1]
            p = (1 - self.mlp_weight) * self._svm_proba(z[:, :split].astype(np.float64))
            p += self.mlp_weight * self.mlp_.output(z[:, split:])
        else:
            p = self._svm_proba(linear(blocks, self.coef_, self.intercept_))
        w = getattr(self, "lr_weight", 0.0)
        if w > 0 and self.lr_coef_ is not None and self.lr_intercept_ is not None:
            z = linear(blocks, self.lr_coef_, self.lr_intercept_)
            e = np.exp(z - z.max(axis=1, keepdims=True))
            p = (1 - w) * p + w * e / e.sum(axis=1, keepdims=True)
        return p

    def _svm_proba(self, d: np.ndarray) -> np.ndarray:
        if self.sigmoid_ is None:
            d = d * 5.0
            e = np.exp(d - d.max(axis=1, keepdims=True))
            return np.asarray(e / e.sum(axis=1, keepdims=True))
        a, b = self.sigmoid_
        if len(self.classes_) == 2:  # one decision value and one calibrator
            p1 = 1.0 / (1.0 + np.exp(d[:, :1] * a + b))
            return np.hstack([1.0 - p1, p1])
        p = 1.0 / (1.0 + np.exp(d * a + b))
        total = p.sum(axis=1, keepdims=True)
        uniform = np.full_like(p, 1.0 / p.shape[1])
        probabilities: np.ndarray = np.where(
            total > 0, p / np.where(total > 0, total, 1.0), uniform
        )
        return probabilities

    def predict(self, texts: Sequence[str | None]) -> list[Prediction]:
        best, conf = self._best(texts)
        return self._predictions(best, conf)

    def reason_of(self, best: str, confidence: float) -> str:
        """The reason :meth:`predict` gives a text whose ``best`` reason and ``confidence``
        (rounded, as predicted) these are: the kept contacts keep both, so their reasons
        need no second prediction."""
        return best if confidence >= self.threshold else UNKNOWN

    def _best(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Index of the best class and its probability, per text (compact, for workers)."""
        proba = self.predict_proba(texts)
        best = proba.argmax(axis=1)
        return best.astype(np.int32), proba[np.arange(len(best)), best]

    def _predictions(self, best: np.ndarray, conf: np.ndarray) -> list[Prediction]:
        out = []
        for j, c in zip(best.tolist(), np.round(conf, 4).tolist(), strict=True):
            reason = self.classes_[j]
            out.append(Prediction(self.reason_of(reason, c), c, "model", reason))
        return out

    def predict_many(
        self, texts: Sequence[str | None], n_jobs: int = 1, chunk: int = 20_000
    ) -> list[Prediction]:
        """``predict`` over big batches, split across ``n_jobs`` worker processes. The model
        goes to the workers once per call through a file (each worker loads it on its first
        chunk and keeps it), not with every chunk; they send back only class indices and
        probabilities."""
        if n_jobs <= 1 or len(texts) <= chunk:
            return self.predict(texts)
        from joblib import Parallel, delayed

        parts = [list(texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
        with tempfile.TemporaryDirectory(prefix="klantreis-model-") as folder:
            path = os.path.join(folder, f"model-{uuid.uuid4().hex}.pickle")
            with open(path, "wb") as fh:
                pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)
            results = Parallel(n_jobs=n_jobs, backend="loky")(
                delayed(_best_in_worker)(path, part) for part in parts
            )
        return self._predictions(
            np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])
        )

    def predict_labels(self, texts: Sequence[str | None]) -> list[str]:
        """The best reason of every text, never unknown (for macro-F1)."""
        proba = self.predict_proba(texts)
        return [self.classes_[j] for j in proba.argmax(axis=1).tolist()]


#: in a worker process of ``predict_many``: the model of the current call, by its file
_WORKER_MODEL: dict[str, ContactClassifier] = {}


def _best_in_worker(path: str, texts: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """``ContactClassifier._best`` in a worker, loading the model of ``path`` once."""
    model = _WORKER_MODEL.get(path)
    if model is None:
        with open(path, "rb") as fh:
            model = pickle.load(fh)
        _WORKER_MODEL.clear()  # one model at a time: the previous call's is done
        _WORKER_MODEL[path] = model
    return model._best(texts)


@dataclass
class EvaluationReport:
    """Macro-F1 (forced choice), accuracy, coverage at the threshold, per-class scores and
    the confusion matrix (rows: true label, columns: predicted, in ``labels`` order)."""

    n: int
    macro_f1: float
    accuracy: float
    coverage: float
    accuracy_covered: float
    labels: list[str]
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    confusion: list[list[int]] = field(default_factory=list)
    #: the cross-style check on the same texts rewritten (``contacts.style_check``), when
    #: it was run
    styles: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def evaluate(
    model: ContactClassifier, texts: Sequence[str], labels: Sequence[str]
) -> EvaluationReport:
    return _evaluation(model.predict(texts), labels)


def _evaluation(preds: Sequence[Prediction], labels: Sequence[str]) -> EvaluationReport:
    """The report of predictions against their true labels."""
    forced = [p.best for p in preds]
    truth = list(labels)
    names = sorted(set(truth) | set(forced))
    p, r, f, s = precision_recall_fscore_support(truth, forced, labels=names, zero_division=0)
    per_class = {
        n: {
            "precision": round(float(p[i]), 4),
            "recall": round(float(r[i]), 4),
            "f1": round(float(f[i]), 4),
            "support": int(s[i]),
        }
        for i, n in enumerate(names)
    }
    covered = [i for i, x in enumerate(preds) if x.reason != UNKNOWN]
    acc_cov = np.mean([forced[i] == truth[i] for i in covered]) if covered else 0.0
    return EvaluationReport(
        n=len(truth),
        macro_f1=round(
            float(
                f1_score(truth, forced, labels=sorted(set(truth)), average="macro", zero_division=0)
            ),
            4,
        ),
        accuracy=round(float(np.mean([a == b for a, b in zip(forced, truth, strict=True)])), 4),
        coverage=round(len(covered) / max(len(truth), 1), 4),
        accuracy_covered=round(float(acc_cov), 4),
        labels=names,
        per_class=per_class,
        confusion=confusion_matrix(truth, forced, labels=names).tolist(),
    )


def platt(d: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Platt's sigmoid per column: ``p = 1 / (1 + exp(a * d + b))`` fitted (L-BFGS, Platt's
    smoothed targets, as scikit-learn's sigmoid calibration) to the decision values ``d``
    (n, k) and the boolean ``positive`` (n, k). A column without a positive example gets
    the sigmoid fitted to all columns pooled."""
    from scipy.optimize import minimize

    def fit(dv: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = dv.shape[1]
        n_pos = pos.sum(axis=0)
        n_neg = len(dv) - n_pos
        target = np.where(pos, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

        def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
            z = dv * ab[:k] + ab[k:]
            value = float(np.sum(target * np.logaddexp(0, z) + (1 - target) * np.logaddexp(0, -z)))
            g = target - 1.0 / (1.0 + np.exp(z))  # d loss / d z
            return value, np.concatenate([(g * dv).sum(axis=0), g.sum(axis=0)])

        start = np.concatenate([np.zeros(k), np.log((n_neg + 1.0) / (n_pos + 1.0))])
        ab = minimize(loss, start, jac=True, method="L-BFGS-B", options={"gtol": 1e-6}).x
        return ab[:k], ab[k:]

    a, b = fit(d, positive)
    missing = positive.sum(axis=0) == 0
    if missing.any() and positive.any():
        a0, b0 = fit(d.reshape(-1, 1), positive.reshape(-1, 1))
        a, b = np.where(missing, a0[0], a), np.where(missing, b0[0], b)
    return a, b


def _positives(y_idx: np.ndarray, columns: int) -> np.ndarray:
    """The one-vs-rest targets of the SVM's decision columns (one column for 2 classes)."""
    if columns == 1:
        return np.asarray(y_idx == 1)[:, None]
    return np.asarray(y_idx[:, None] == np.arange(columns)[None, :])


def _crossfit_svm(
    model: ContactClassifier,
    labels: Sequence[str],
    d: np.ndarray,
    score: np.ndarray | None = None,
    halves: list[tuple[np.ndarray, Any]] | None = None,
) -> np.ndarray:
    """The SVM probabilities of held-out texts whose decision values ``d`` also fit the
    model's calibration: each half of the texts (alternating within a label) gets the
    calibration fitted on the other half, so no text is scored by a calibration that saw
    it. The model keeps the calibration fitted on all of them. With ``score`` (decision
    values of other texts aligned with the held-out texts, e.g. rewrites of them) those
    rows are scored instead, each by the calibration its held-out text gets; ``halves``
    (from ``_crossfit_halves``) saves fitting the calibrations again."""
    halves = _crossfit_halves(model, labels, d) if halves is None else halves
    everything = model.sigmoid_
    scored = d if score is None else score
    p = np.zeros((len(scored), len(model.classes_)))
    try:
        for rows, sigmoid in halves:
            model.sigmoid_ = sigmoid
            p[rows] = model._svm_proba(scored[rows])
    finally:
        model.sigmoid_ = everything
    return p


def _crossfit_halves(
    model: ContactClassifier, labels: Sequence[str], d: np.ndarray
) -> list[tuple[np.ndarray, Any]]:
    """The rows of each half of the held-out texts (alternating within a label) and the
    calibration each is scored with: fitted on the other half (``_crossfit_svm``)."""
    index = {c: i for i, c in enumerate(model.classes_)}
    known = np.array([y in index for y in labels])
    y_idx = np.array([index.get(y, -1) for y in labels])
    half = np.zeros(len(labels), dtype=np.int64)
    seen: dict[str, int] = {}
    for i, y in enumerate(labels):
        half[i] = seen.get(y, 0) % 2
        seen[y] = seen.get(y, 0) + 1
    sigmoid = model.sigmoid_
    halves = []
    for h in (0, 1):
        rows = np.flatnonzero(half == h)
        other = np.flatnonzero((half != h) & known)
        if not len(rows):
            continue
        if len(other):
            sigmoid = platt(d[other], _positives(y_idx[other], d.shape[1]))
        halves.append((rows, sigmoid))
    return halves


def _mixed_evaluation(
    model: ContactClassifier,
    labels: Sequence[str],
    x: Any,
    svm_p: np.ndarray,
    net_p: np.ndarray | None = None,
) -> EvaluationReport:
    """The report of the SVM probabilities ``svm_p`` mixed with the networks' ``net_p`` at
    the model's ``mlp_weight`` (the SVM's alone without ``net_p``) and, with ``lr_weight``,
    with the regression's on the feature rows ``x``, as ``predict_proba`` mixes them."""
    p = _mixed_proba(model, x, svm_p, net_p)
    best = p.argmax(axis=1)
    conf = p[np.arange(len(best)), best]
    return _evaluation(model._predictions(best.astype(np.int32), conf), labels)


def _mixed_proba(
    model: ContactClassifier, x: Any, svm_p: np.ndarray, net_p: np.ndarray | None = None
) -> np.ndarray:
    """``svm_p`` mixed with ``net_p`` and the regression's probabilities on ``x`` (see
    ``_mixed_evaluation``)."""
    p = svm_p if net_p is None else (1 - model.mlp_weight) * svm_p + model.mlp_weight * net_p
    w = model.lr_weight
    if w > 0 and model.lr_coef_ is not None and model.lr_intercept_ is not None:
        z = np.asarray(x @ model.lr_coef_) + model.lr_intercept_
        e = np.exp(z - z.max(axis=1, keepdims=True))
        p = (1 - w) * p + w * e / e.sum(axis=1, keepdims=True)
    return np.asarray(p)


def _held_out_predict(
    model: ContactClassifier, labels: Sequence[str], d: np.ndarray
) -> Callable[[Sequence[str]], list[str]]:
    """The best reason (forced choice) of texts aligned with the held-out texts (labels
    ``labels``, the SVM's decision values ``d``), e.g. rewrites of them, scored as the
    held-out report scores those texts: the SVM by the cross-fit calibration (each text by
    the calibration its held-out text gets, fitted on the other half), mixed with the
    networks' probabilities when the model has them. Texts as written get their report's
    predictions."""

    halves = _crossfit_halves(model, labels, d)

    def predict(texts: Sequence[str]) -> list[str]:
        x = model.features.transform(list(texts))
        svm_p = _crossfit_svm(model, labels, d, model._decisions(x), halves)
        net_p = None
        if model.mlp_ is not None:
            x32 = x.astype(np.float32)
            net_p = model.mlp_.output(np.asarray(x32 @ model.mlp_.w1) + model.mlp_.b1)
        best = _mixed_proba(model, x, svm_p, net_p).argmax(axis=1)
        return [model.classes_[j] for j in best.tolist()]

    return predict


def choose_weight(
    svm_p: np.ndarray,
    net_p: np.ndarray,
    y_idx: np.ndarray,
    weights: Sequence[float] = STAGED_WEIGHTS,
    prior: float = MLP_WEIGHT,
) -> float:
    """The networks' share of the probabilities (one of ``weights``) whose mix
    ``(1 - w) * svm_p + w * net_p`` has the best macro-F1 on texts neither part was trained
    on (class indices ``y_idx``); of equal scores, the one nearest ``prior``."""
    labels = np.unique(y_idx)

    def score(w: float) -> tuple[float, float]:
        best = ((1 - w) * svm_p + w * net_p).argmax(axis=1)
        f1 = f1_score(y_idx, best, labels=labels, average="macro", zero_division=0)
        return round(float(f1), 10), -abs(w - prior)

    return max(weights, key=score)


def _holdout_split(
    texts: Sequence[str],
    labels: Sequence[str],
    test_size: float,
    seed: int,
    extra: tuple[Sequence[str], Sequence[str]] | None,
) -> tuple[list[str], list[str], list[str], list[str], list[str], list[str]]:
    """The stratified held-out split (stratified when every label has two texts) and the
    extra training texts: train texts, test texts, train labels, test labels, extra texts,
    extra labels."""
    counts = np.unique(np.asarray(list(labels)), return_counts=True)[1]
    stratify = list(labels) if len(counts) and counts.min() >= 2 else None
    x_tr, x_te, y_tr, y_te = train_test_split(
        list(texts), list(labels), test_size=test_size, random_state=seed, stratify=stratify
    )
    ex_x, ex_y = (list(extra[0]), list(extra[1])) if extra else ([], [])
    return x_tr, x_te, y_tr, y_te, ex_x, ex_y


def train_with_holdout(
    texts: Sequence[str],
    labels: Sequence[str],
    test_size: float = 0.2,
    seed: int = 0,
    threshold: float = 0.45,
    extra: tuple[Sequence[str], Sequence[str]] | None = None,
    lr_weight: float = 0.0,
    progress: Progress | None = None,
    augment_share: float = 0.5,
) -> tuple[ContactClassifier, EvaluationReport]:
    """Evaluate on a stratified held-out split, then refit on everything: ``train_staged``
    in one go (the same model and report), progress stages without the ``quick/`` or
    ``full/`` in front (``held_out/features``, ..., ``final/networks``).

    ``extra`` (e.g. the taxonomy's example phrases) is added to training only, never to the
    held-out evaluation.
    """
    report_to = progress or _no_progress
    return train_staged(
        texts,
        labels,
        test_size=test_size,
        seed=seed,
        threshold=threshold,
        extra=extra,
        lr_weight=lr_weight,
        progress=lambda stage, done: report_to(stage.split("/", 1)[1], done),
        augment_share=augment_share,
    )


def train_staged(
    texts: Sequence[str],
    labels: Sequence[str],
    test_size: float = 0.2,
    seed: int = 0,
    threshold: float = 0.45,
    extra: tuple[Sequence[str], Sequence[str]] | None = None,
    lr_weight: float = 0.0,
    progress: Progress | None = None,
    augment_share: float = 0.5,
    stop_after: str = FULL,
    on_quick: Callable[[ContactClassifier, EvaluationReport], None] | None = None,
    stop_early: bool = False,
    all_epochs: bool = False,
    held_out_check: HeldOutCheck | None = None,
) -> tuple[ContactClassifier, EvaluationReport]:
    """A held-out evaluation and a final model on everything, in two stages, each evaluated
    on the same held-out split; the two fits share their work:

    - the features (vocabulary, IDF, word vectors) are fitted once, on the training split
      (so the evaluation never sees the held-out texts); the final model uses them too, and
      its feature matrix is the training split's rows plus the held-out texts' rows;
    - no cross-validated calibration: the held-out SVM's decision values on the held-out
      texts (never trained on) fit the sigmoid calibration (``platt``) of both SVMs; for the
      held-out report each half of the held-out texts is scored with the calibration fitted
      on the other half (``_crossfit_svm``);
    - the networks' share of the probabilities (``mlp_weight``) is chosen on the held-out
      split too (``choose_weight``: macro-F1 of the held-out networks mixed with the
      cross-fit SVM probabilities, ``STAGED_WEIGHTS``); the final model uses it;
    - the held-out networks stop once their held-out predictions have settled
      (``STAGED_SETTLED``: at most 0.2% of them changed in the last epoch) and
      the final networks train as many epochs as the held-out ones ran; with
      ``all_epochs`` every network trains ``MLP_EPOCHS``; with ``stop_early`` they stop
      once their held-out macro-F1 stops improving instead (``STAGED_PATIENCE``); with
      ``STAGED_REUSE`` (the default) networks that all settled before their last epoch are
      the final model's networks (no final networks are trained; ``networks_kept_``);
    - with ``WARM_START`` (off by default: below 0.93 on Banking77) the final networks start
      from the held-out ones and train ``FINETUNE_EPOCHS`` epochs on everything.

    The quick stage fits the features and the held-out SVM, evaluates it and hands the quick
    model and its evaluation to ``on_quick`` (e.g. to save it: it is usable at once). When
    the networks follow (``stop_after="full"``) the quick model is the held-out SVM itself
    (trained on the training split, its report is its own), and the final SVM on
    everything trains beside the held-out networks; with ``stop_after="quick"`` the final
    SVM on everything is fitted in the quick stage and returned. A model without networks
    (``mlp_models=0``) has one stage: it is returned as ``full`` without calling
    ``on_quick``. When a held-out label is missing from the training split (an
    unstratified split of very few texts) the two fits are made apart, with cross-validated
    calibration and no warm start (``_train_staged_apart``).
    Progress stages: ``quick/held_out/features``, ``quick/held_out/svm``,
    ``quick/final/features``, ``quick/final/svm`` (no work of their own when the networks
    follow), ``full/held_out/networks`` (with the final SVM), ``full/final/networks``. An
    exception in the network stage (also Ctrl+C, or one raised by ``progress``) propagates
    after ``on_quick`` has run.

    With ``held_out_check`` (e.g. ``style_check.check_styles``) the last stage's report
    (the quick one only when the training stops there, so the check never delays the
    quick model) gets ``styles = held_out_check(predict, held_out_texts,
    held_out_labels)``, where ``predict`` scores texts aligned with the held-out ones as
    that report scores them (the model trained without the held-out texts;
    ``_held_out_predict``).
    """
    if stop_after not in STAGES:
        raise ValueError(f"stop_after must be one of {', '.join(STAGES)}")
    if stop_early and all_epochs:
        raise ValueError("stop_early and all_epochs exclude each other")
    x_tr, x_te, y_tr, y_te, ex_x, ex_y = _holdout_split(texts, labels, test_size, seed, extra)
    report_to = progress or _no_progress

    def to(prefix: str) -> Progress:
        return lambda stage, done: report_to(f"{prefix}/{stage}", done)

    def model() -> ContactClassifier:
        return ContactClassifier(
            threshold=threshold,
            seed=seed,
            lr_weight=lr_weight,
            augment_share=augment_share,
            mlp_skip_dropped=STAGED_SKIP_DROPPED,
            mlp_batch=STAGED_BATCH,
            mlp_lr=STAGED_LR,
        )

    held = model()
    networks = held.mlp_models > 0 and held.mlp_weight > 0
    held_x, held_y, held_idx = held._prepare(x_tr + ex_x, y_tr + ex_y, to("quick/held_out"))
    index = {c: i for i, c in enumerate(held.classes_)}
    rest = [i for i, y in enumerate(y_te) if y and y != UNKNOWN]
    if not rest or any(y_te[i] not in index for i in rest):
        return _train_staged_apart(
            (x_tr, x_te, y_tr, y_te, ex_x, ex_y), model, to, stop_after, on_quick, held_out_check
        )
    rest_x, rest_y = [x_te[i] for i in rest], [y_te[i] for i in rest]
    if augment_share > 0:  # the held-out texts first, then their augmented copies
        rest_x, rest_y = augment(rest_x, rest_y, share=augment_share, seed=seed)
    rest_m = held.features.transform(rest_x)
    rest_idx = np.array([index[y] for y in rest_y], dtype=np.int64)
    to("quick/held_out")("svm", 0.0)
    held._fit_linear(held_x, held_y, calibrate=False)
    te_m = _held_out_rows(held, x_te, rest, rest_m)
    d = held._decisions(te_m)
    held.sigmoid_ = platt(d[rest], _positives(rest_idx[: len(rest)], d.shape[1]))
    svm_p = _crossfit_svm(held, y_te, d)
    quick_report = _mixed_evaluation(held, y_te, te_m, svm_p)
    if held_out_check is not None and (stop_after == QUICK or not networks):
        quick_report.styles = held_out_check(_held_out_predict(held, y_te, d), x_te, y_te)
    to("quick/held_out")("svm", 1.0)
    final = model()
    final.features, final.classes_ = held.features, held.classes_
    all_x = sp.vstack([held_x, rest_m], format="csr")
    all_idx = np.concatenate([held_idx, rest_idx])

    def final_svm() -> None:
        final._fit_linear(all_x, np.concatenate([held_y, np.asarray(rest_y)]), calibrate=False)
        final.sigmoid_ = held.sigmoid_  # calibrated on decision values it was not trained on

    # the final quick stage: the SVM on everything, or (when the networks follow) the
    # held-out model itself, so the quick model is usable after one SVM fit; the final SVM
    # then trains beside the held-out networks (never beside another liblinear fit: its
    # random generator is shared)
    quick = final if stop_after == QUICK or not networks else held
    for stage in ("features", "svm"):
        to("quick/final")(stage, 0.0)
        if stage == "svm" and quick is final:
            final_svm()
        to("quick/final")(stage, 1.0)
    if not networks:  # a model without networks: its quick stage is all of it
        return final, quick_report
    held.stage = final.stage = QUICK
    if on_quick is not None:
        on_quick(quick, quick_report)
    if stop_after == QUICK:
        return final, quick_report
    held._kept_ = (held_x, held_idx)
    check = (sp.csr_matrix(te_m[rest], dtype=np.float32), rest_idx[: len(rest)])
    with ThreadPoolExecutor(1, thread_name_prefix="klantreis-fit") as pool:
        svm = pool.submit(final_svm)
        patience = STAGED_PATIENCE if stop_early else 0 if all_epochs else STAGED_SETTLED_EPOCHS
        settled = None if stop_early else STAGED_SETTLED
        held.fit_networks(to("full/held_out"), held_out=check, patience=patience, settled=settled)
        svm.result()
    assert held.mlp_ is not None
    net_p = held.mlp_.output(np.asarray(te_m.astype(np.float32) @ held.mlp_.w1) + held.mlp_.b1)
    held.mlp_weight = final.mlp_weight = choose_weight(
        svm_p[rest], net_p[rest], rest_idx[: len(rest)]
    )
    report = _mixed_evaluation(held, y_te, te_m, svm_p, net_p)
    if held_out_check is not None:
        report.styles = held_out_check(_held_out_predict(held, y_te, d), x_te, y_te)
    final._kept_ = (all_x, all_idx)
    if patience > 0:  # as many epochs as the held-out networks needed (at most as many)
        final.mlp_epochs = min(max(held.epochs_run_), held.mlp_epochs)
        final.epochs_run_, final.epoch_scores_ = held.epochs_run_, held.epoch_scores_
        final.epoch_changes_ = held.epoch_changes_
    if STAGED_REUSE and patience > 0 and settled is not None and final.mlp_epochs < held.mlp_epochs:
        final.mlp_, final._kept_, final.stage = held.mlp_, None, FULL  # settled: kept
        final.networks_kept_ = True
        to("full/final")("networks", 1.0)
        return final, report
    final.fit_networks(to("full/final"), warm=held if WARM_START else None)
    return final, report


def _held_out_rows(
    model: ContactClassifier, texts: Sequence[str], rest: list[int], rest_m: Any
) -> Any:
    """The feature rows of all held-out ``texts``: those of the labelled ones (``rest``, the
    first rows of ``rest_m``) and the others' (unknown label) transformed now."""
    rows = rest_m[: len(rest)]
    others = sorted(set(range(len(texts))) - set(rest))
    if not others:
        return rows
    more = model.features.transform([texts[i] for i in others])
    order = np.argsort(np.array(rest + others))
    return sp.csr_matrix(sp.vstack([rows, more], format="csr")[order])


def _train_staged_apart(
    split: tuple[list[str], list[str], list[str], list[str], list[str], list[str]],
    model: Callable[[], ContactClassifier],
    to: Callable[[str], Progress],
    stop_after: str,
    on_quick: Callable[[ContactClassifier, EvaluationReport], None] | None,
    held_out_check: HeldOutCheck | None = None,
) -> tuple[ContactClassifier, EvaluationReport]:
    """``train_staged`` with two separate fits (features, cross-validated calibration,
    networks from scratch): when the held-out split has a label the training split lacks."""
    x_tr, x_te, y_tr, y_te, ex_x, ex_y = split
    probe = model()
    networks = probe.mlp_models > 0 and probe.mlp_weight > 0
    held = model().fit_quick(x_tr + ex_x, y_tr + ex_y, to("quick/held_out"))
    quick_report = evaluate(held, x_te, y_te)
    if held_out_check is not None and (stop_after == QUICK or not networks):
        quick_report.styles = held_out_check(held.predict_labels, x_te, y_te)
    if stop_after == QUICK or not networks:
        held._kept_ = None  # the held-out features are not needed any more
    final = model().fit_quick(list(x_tr) + list(x_te) + ex_x, y_tr + y_te + ex_y, to("quick/final"))
    if not networks:  # a model without networks: its quick stage is all of it
        final._kept_ = None
        final.stage = FULL
        return final, quick_report
    if stop_after == QUICK:
        final._kept_ = None
    if on_quick is not None:
        on_quick(final, quick_report)
    if stop_after == QUICK:
        return final, quick_report
    held.fit_networks(to("full/held_out"))
    report = evaluate(held, x_te, y_te)
    if held_out_check is not None:
        report.styles = held_out_check(held.predict_labels, x_te, y_te)
    del held
    final.fit_networks(to("full/final"))
    return final, report
