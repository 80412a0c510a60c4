"""The text models of one App: the theme taxonomy, the theme tagger and the sentiment model,
trained, saved as versions and loaded once.

Both models live in a :class:`~klantreis.contacts.models.ModelRegistry` next to the store
(``models/themes`` and ``models/sentiment``) with the same metadata as the contact-reason
classifier: version, date, training size, a hash of the training data, held-out metrics and
the training seconds. Before anything is trained the theme tagger is the cold start (the
taxonomy's example phrases) and sentiment is the shipped lexicon; a rollback
(``registry.activate(version)``) puts an older version back in use.

Tagging a store's comments is cached per model version and comment (``TextContext.tags``),
so a page over the same comments does not tag them again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # scikit-learn comes with these: imported when used
    from klantreis.contacts.models import ModelInfo, ModelRegistry
    from klantreis.text.sentiment import ScoreSentiment
    from klantreis.text.themes import ThemeTagger, ThemeTaxonomy

__all__ = [
    "Progress",
    "Tags",
    "TextContext",
    "TrainingSet",
    "sentiment_training_set",
    "theme_training_set",
    "train_sentiment",
    "train_themes",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
#: Fewest labelled comments to hold some out for the evaluation (below: train on all).
MIN_HELD_OUT = 20
#: Tags kept in memory per context (comment ids x model version).
MAX_TAG_CACHE = 300_000


def _no_progress(stage: str, done: float) -> None:
    return None


@dataclass(frozen=True)
class Tags:
    """The themes (id -> confidence) and the sentiment (-1..1) of one comment."""

    themes: dict[str, float]
    sentiment: float


@dataclass
class TrainingSet:
    texts: list[str]
    targets: list[Any]  # theme id lists, or polarities
    source: str


def theme_training_set(events: Any, theme_ids: Sequence[str]) -> TrainingSet:
    """The comments with theme verdicts in the store (``comment.themed`` events)."""
    from klantreis.text.labels import labelled_comments

    texts, themes = labelled_comments(events, theme_ids)
    return TrainingSet(texts, themes, "store")


def sentiment_training_set(events: Any) -> TrainingSet:
    """Scored comments in the store with their weak polarity (neutral scores left out)."""
    from klantreis.text.labels import comments_frame
    from klantreis.text.sentiment import polarity_from_score

    df = comments_frame(events)
    df = df[df["metric"].isin(["nps", "csat", "ces", "stars"]) & df["score"].notna()]
    texts, targets = [], []
    for text, metric, score in zip(df["text"], df["metric"], df["score"], strict=True):
        polarity = polarity_from_score(str(metric), float(score))
        if polarity != "neutral":
            texts.append(str(text))
            targets.append(polarity)
    return TrainingSet(texts, targets, "store")


def _split(n: int, seed: int) -> tuple[list[int], list[int]]:
    """Indices of training and held-out rows (a fifth held out from ``MIN_HELD_OUT`` on)."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(n).tolist()
    if n < MIN_HELD_OUT:
        return order, []
    cut = n // 5
    return order[cut:], order[:cut]


def train_themes(
    data: TrainingSet,
    registry: ModelRegistry,
    taxonomy: ThemeTaxonomy,
    seed: int = 0,
    progress: Progress | None = None,
) -> ModelInfo:
    """Evaluate on a held-out fifth (per-theme precision/recall, micro/macro F1), refit on
    all labelled comments plus the example phrases, and save a new version."""
    from klantreis.contacts.models import data_hash
    from klantreis.text.themes import ThemeTagger, evaluate_themes

    report = progress or _no_progress
    started = time.perf_counter()
    train, held = _split(len(data.texts), seed)
    metrics: dict[str, Any] = {"held_out": len(held)}
    if held:
        tagger = ThemeTagger(taxonomy, seed=seed).fit(
            [data.texts[i] for i in train],
            [data.targets[i] for i in train],
            progress=lambda stage, done: report(f"held_out/{stage}", done),
        )
        ev = evaluate_themes(tagger, [data.texts[i] for i in held], [data.targets[i] for i in held])
        metrics |= {"micro_f1": ev.micro_f1, "macro_f1": ev.macro_f1, "per_theme": ev.per_theme}
    final = ThemeTagger(taxonomy, seed=seed).fit(
        data.texts, data.targets, progress=lambda stage, done: report(f"final/{stage}", done)
    )
    metrics["training_seconds"] = round(time.perf_counter() - started, 2)
    digest = data_hash(zip(data.texts, map(tuple, data.targets), strict=True))
    return registry.save(final, len(data.texts), None, data.source, digest, metrics)


def train_sentiment(
    data: TrainingSet, registry: ModelRegistry, seed: int = 0, progress: Progress | None = None
) -> ModelInfo:
    """Evaluate the weak sentiment model against the lexicon on a held-out fifth (accuracy
    on polar comments), refit on all, and save a new version."""
    import numpy as np

    from klantreis.contacts.models import data_hash
    from klantreis.text.sentiment import LexiconSentiment, ScoreSentiment

    report = progress or _no_progress
    started = time.perf_counter()
    train, held = _split(len(data.texts), seed)
    metrics: dict[str, Any] = {"held_out": len(held)}
    if held:
        model = ScoreSentiment(seed=seed).fit(
            [data.texts[i] for i in train],
            [data.targets[i] for i in train],
            progress=lambda stage, done: report(f"held_out/{stage}", done),
        )
        x = [data.texts[i] for i in held]
        truth = np.array([data.targets[i] == "positive" for i in held])
        lex = LexiconSentiment()
        metrics["accuracy"] = round(float(np.mean((model.score(x) > 0) == truth)), 4)
        lex_scores = np.array([lex.comment(t) for t in x])
        metrics["lexicon_accuracy"] = round(float(np.mean((lex_scores > 0) == truth)), 4)
    final = ScoreSentiment(seed=seed).fit(
        data.texts, data.targets, progress=lambda stage, done: report(f"final/{stage}", done)
    )
    metrics["training_seconds"] = round(time.perf_counter() - started, 2)
    digest = data_hash(zip(data.texts, data.targets, strict=True))
    return registry.save(final, len(data.texts), None, data.source, digest, metrics)


class TextContext:
    """Theme taxonomy (``themes_path``; None: the shipped one), the two model registries
    next to the store ``db_path`` (or in ``models_root``), the models in use, and a cache of
    tags per comment."""

    def __init__(
        self,
        db_path: str,
        themes_path: str | Path | None = None,
        models_root: str | Path | None = None,
    ) -> None:
        from klantreis.contacts.models import ModelRegistry, models_dir_for

        self.themes_path = themes_path
        root = Path(models_root) if models_root else None
        self.registries: dict[str, ModelRegistry] = {
            kind: ModelRegistry(
                root / kind if root else models_dir_for(db_path, kind), kind, _expected(kind)
            )
            for kind in ("themes", "sentiment")
        }
        self._lock = threading.RLock()
        self._taxonomy: ThemeTaxonomy | None = None
        self._cold: ThemeTagger | None = None
        self._loaded: dict[str, tuple[str, Any]] = {}
        self._tags: dict[tuple[str, str], Tags] = {}

    @property
    def taxonomy(self) -> ThemeTaxonomy:
        with self._lock:
            if self._taxonomy is None:
                from klantreis.text.themes import default_themes

                self._taxonomy = default_themes(self.themes_path)
            return self._taxonomy

    def versions_in_use(self) -> dict[str, str | None]:
        """Per model kind, the version in use (None: cold start / lexicon)."""
        return {kind: reg.current() for kind, reg in self.registries.items()}

    def _current(self, kind: str) -> Any:
        version = self.registries[kind].current()
        if version is None:
            return None
        with self._lock:
            hit = self._loaded.get(kind)
            if hit is None or hit[0] != version:
                hit = (version, self.registries[kind].load(version))
                self._loaded[kind] = hit
            return hit[1]

    def tagger(self) -> ThemeTagger:
        """The trained tagger in use, or the cold start from the example phrases."""
        model = self._current("themes")
        if model is not None:
            return model  # type: ignore[no-any-return]
        with self._lock:
            if self._cold is None:
                from klantreis.text.themes import ThemeTagger

                self._cold = ThemeTagger(self.taxonomy).fit()
            return self._cold

    def sentiment_model(self) -> ScoreSentiment | None:
        """The trained weak sentiment model in use, or None (the lexicon is used)."""
        model: ScoreSentiment | None = self._current("sentiment")
        return model

    def sentiment_scores(self, texts: Sequence[str]) -> list[float]:
        """-1..1 per comment: the trained model in use, else the lexicon."""
        model = self.sentiment_model()
        if model is not None:
            return [float(s) for s in model.score(list(texts))]
        from klantreis.text.sentiment import LexiconSentiment

        lex = LexiconSentiment()
        return [lex.comment(t) for t in texts]

    def tags(self, ids: Sequence[str], texts: Sequence[str]) -> list[Tags]:
        """Themes and sentiment per comment (cached per model version and comment id: events
        are never changed, so an id always has the same text)."""
        versions = self.versions_in_use()
        key = f"{versions['themes']}|{versions['sentiment']}"
        with self._lock:
            found = {i: hit for i, cid in enumerate(ids) if (hit := self._tags.get((key, cid)))}
        todo = [i for i in range(len(ids)) if i not in found]
        if todo:
            texts_todo = [texts[i] for i in todo]
            themes = self.tagger().tag(texts_todo)
            scores = self.sentiment_scores(texts_todo)
            for i, th, s in zip(todo, themes, scores, strict=True):
                found[i] = Tags(th, round(s, 4))
            with self._lock:
                if len(self._tags) + len(todo) > MAX_TAG_CACHE:
                    self._tags.clear()
                for i in todo:
                    self._tags[(key, ids[i])] = found[i]
        return [found[i] for i in range(len(ids))]

    def forget(self) -> None:
        """Drop the loaded models and the tags (after training or a rollback)."""
        with self._lock:
            self._loaded.clear()
            self._tags.clear()

    def info(self, kind: str) -> ModelInfo | None:
        return self.registries[kind].info()


def _expected(kind: str) -> str:
    return {
        "themes": "klantreis.text.themes:ThemeTagger",
        "sentiment": "klantreis.text.sentiment:ScoreSentiment",
    }[kind]
