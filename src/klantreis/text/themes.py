"""Themes per comment (multi-label): a theme taxonomy in configuration (``themes.toml``: NL/EN
names, touchpoint, example phrases) and a tagger with a confidence per theme.

``ThemeTagger`` is one logistic regression per theme (one-vs-rest, classes balanced) over word
+ character n-grams with the webshop concepts of ``klantreis.contacts.lexicon``. It is seeded
from the example phrases (each a positive of its theme and a negative of the others), so it
tags before any comment is labelled, and learns from labelled comments on top. A comment gets
every theme whose probability reaches the taxonomy's threshold.

A theme can declare its ``polarity`` ("negative": late delivery, rude driver; "positive": fast
delivery). n-gram features cannot tell "de bezorger was vriendelijk" from "onvriendelijke
bezorger", so ``tag`` checks a polar theme against the sentiment lexicon: when a part of the
comment (a sentence, or a clause at a comma, "en"/"and" or "maar"/"but") clearly says the
opposite, the theme needs a part that does not, and that part's own confidence; otherwise it is
dropped ("snel bezorgd, maar kapot" keeps both fast delivery and damaged parcel).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from klantreis.contacts.features import NgramTfidf
from klantreis.contacts.lexicon import default_analyzer

__all__ = [
    "Theme",
    "ThemeReport",
    "ThemeTagger",
    "ThemeTaxonomy",
    "default_themes",
    "evaluate_themes",
    "segments",
]

POLARITIES = ("negative", "positive")
#: A part of a comment "clearly says the opposite" of a polar theme when its lexicon score
#: (-1..1) is at least this far on the other side (0.2: one clear word, e.g. "vriendelijk").
POLARITY_GATE = 0.2
_COORDINATOR = re.compile(r",|;|\s(?:en|and|&|maar|but|doch|though)\s", re.IGNORECASE)


@dataclass(frozen=True)
class Theme:
    id: str
    name_nl: str
    name_en: str
    touchpoint: str
    phrases_nl: tuple[str, ...] = ()
    phrases_en: tuple[str, ...] = ()
    polarity: str | None = None  # "negative", "positive" or None (either)

    def name(self, lang: str) -> str:
        return self.name_nl if lang == "nl" else self.name_en

    def phrases(self) -> list[str]:
        return [*self.phrases_nl, *self.phrases_en]


@dataclass(frozen=True)
class ThemeTaxonomy:
    name: str
    themes: tuple[Theme, ...]
    threshold: float = 0.5

    @classmethod
    def from_toml(cls, text: str) -> ThemeTaxonomy:
        data = tomllib.loads(text)
        themes = []
        for t in data.get("themes", []):
            missing = {"id", "name_nl", "name_en", "touchpoint"} - set(t)
            if missing:
                raise ValueError(f"theme {t.get('id', '?')}: missing {', '.join(sorted(missing))}")
            polarity = t.get("polarity")
            if polarity is not None and polarity not in POLARITIES:
                raise ValueError(
                    f"theme {t['id']}: polarity is 'negative' or 'positive' (or left out),"
                    f" not {polarity!r}"
                )
            themes.append(
                Theme(
                    t["id"],
                    t["name_nl"],
                    t["name_en"],
                    t["touchpoint"],
                    tuple(t.get("phrases_nl", ())),
                    tuple(t.get("phrases_en", ())),
                    polarity,
                )
            )
        ids = [t.id for t in themes]
        if len(set(ids)) != len(ids):
            raise ValueError("theme ids must be unique")
        if len(themes) < 2:
            raise ValueError("a theme taxonomy needs at least 2 themes")
        return cls(data.get("name", ""), tuple(themes), float(data.get("threshold", 0.5)))

    def ids(self) -> list[str]:
        return [t.id for t in self.themes]

    def get(self, theme_id: str) -> Theme:
        return next(t for t in self.themes if t.id == theme_id)


def default_themes(path: str | Path | None = None) -> ThemeTaxonomy:
    """The shipped webshop themes, or your own file of the same form."""
    if path:
        return ThemeTaxonomy.from_toml(Path(path).read_text(encoding="utf-8"))
    text = resources.files("klantreis.text").joinpath("themes.toml").read_text("utf-8")
    return ThemeTaxonomy.from_toml(text)


class ThemeTagger:
    """One-vs-rest logistic regressions over shared n-gram + concept features."""

    def __init__(self, taxonomy: ThemeTaxonomy, c: float = 4.0, seed: int = 0) -> None:
        self.taxonomy = taxonomy
        self.c = c
        self.seed = seed
        self.features: NgramTfidf | None = None
        self.coef_ = np.zeros((0, 0))
        self.intercept_ = np.zeros(0)

    @property
    def theme_ids(self) -> list[str]:
        return self.taxonomy.ids()

    def fit(
        self,
        texts: Sequence[str] = (),
        themes: Sequence[Sequence[str]] = (),
        use_phrases: bool = True,
        progress: Callable[[str, float], None] | None = None,
    ) -> ThemeTagger:
        """Train on labelled comments (``themes``: the theme ids of each; empty = none) and,
        with ``use_phrases``, the taxonomy's example phrases. ``progress(stage, fraction)``
        follows the features and then each theme's regression."""
        report = progress or (lambda stage, done: None)
        x_text, y_sets = list(texts), [set(t) for t in themes]
        if use_phrases:
            for theme in self.taxonomy.themes:
                x_text += theme.phrases()
                y_sets += [{theme.id}] * len(theme.phrases())
        if not x_text:
            raise ValueError("nothing to train on: no comments and no example phrases")
        report("features", 0.0)
        self.features = NgramTfidf(analyzer=default_analyzer())
        x = self.features.fit_transform(x_text)
        report("features", 1.0)
        coefs, intercepts = [], []
        for k, theme_id in enumerate(self.theme_ids):
            report("themes", k / len(self.theme_ids))
            y = np.array([theme_id in s for s in y_sets], dtype=int)
            if y.min() == y.max():  # no example (or only examples) of this theme
                coefs.append(np.zeros(x.shape[1]))
                intercepts.append(-5.0 if y.max() == 0 else 5.0)
                continue
            lr = LogisticRegression(
                C=self.c, class_weight="balanced", max_iter=1000, random_state=self.seed
            ).fit(x, y)
            coefs.append(lr.coef_[0])
            intercepts.append(float(lr.intercept_[0]))
        self.coef_ = np.array(coefs).T
        self.intercept_ = np.array(intercepts)
        report("themes", 1.0)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Confidence per theme (columns in ``theme_ids`` order)."""
        if self.features is None:
            raise RuntimeError("the theme tagger is not trained")
        z = np.asarray(self.features.transform(list(texts)) @ self.coef_) + self.intercept_
        return np.asarray(1.0 / (1.0 + np.exp(-z)))

    def tag(
        self, texts: Sequence[str], threshold: float | None = None, gate: bool = True
    ) -> list[dict[str, float]]:
        """The themes of each text with their confidence, most confident first. With
        ``gate``, a polar theme that a part of the text contradicts is kept only on the
        confidence of a part that does not (module docstring)."""
        cut = self.taxonomy.threshold if threshold is None else threshold
        texts = list(texts)
        proba = self.predict_proba(texts)
        if gate:
            proba = self._gated(texts, proba, cut)
        ids = self.theme_ids
        out = []
        for row in proba:
            hits = {ids[j]: round(float(row[j]), 4) for j in np.flatnonzero(row >= cut)}
            out.append(dict(sorted(hits.items(), key=lambda kv: -kv[1])))
        return out

    def _gated(self, texts: list[str], proba: np.ndarray, cut: float) -> np.ndarray:
        # getattr: a tagger saved before themes had a polarity has none
        sign = np.array(
            [
                {"negative": -1, "positive": 1}.get(getattr(t, "polarity", None) or "", 0)
                for t in self.taxonomy.themes
            ]
        )
        polar_hits = (proba >= cut) & (sign != 0)
        rows = np.flatnonzero(polar_hits.any(axis=1))
        if not len(rows):
            return proba
        from klantreis.text.sentiment import LexiconSentiment

        lex = LexiconSentiment()
        gated = proba.copy()
        contradicted: list[tuple[int, int, list[str], np.ndarray]] = []
        for i in rows:
            parts = segments(texts[i])
            scores = np.array([lex.score(p) for p in parts])
            for j in np.flatnonzero(polar_hits[i]):
                against = scores * sign[j] <= -POLARITY_GATE
                if against.all():
                    gated[i, j] = 0.0  # every part says the opposite
                elif against.any():
                    contradicted.append((int(i), int(j), parts, against))
        if contradicted:  # the parts' own confidences, for texts with a contradicted hit
            flat = [p for _, _, parts, _ in contradicted for p in parts]
            part_proba, k = self.predict_proba(flat), 0
            for row, col, parts, against in contradicted:
                pp = part_proba[k : k + len(parts), col]
                k += len(parts)
                gated[row, col] = min(proba[row, col], pp[~against].max())
        return gated


def segments(text: str) -> list[str]:
    """The parts the polarity check reads: sentences, split again at commas, semicolons and
    the coordinators "en"/"and"/"&" and contrast words "maar"/"but"."""
    from klantreis.text.sentiment import split_sentences

    out = []
    for sentence, _, _ in split_sentences(text):
        out += [p.strip(" ,;") for p in _COORDINATOR.split(sentence) if p.strip(" ,;")]
    return out or [text]


@dataclass
class ThemeReport:
    """Per-theme precision, recall, F1 and support; micro and macro F1 over themes."""

    n: int
    micro_f1: float
    macro_f1: float
    per_theme: dict[str, dict[str, float]]

    def table(self) -> str:
        lines = ["| theme | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
        for theme, m in self.per_theme.items():
            lines.append(
                f"| {theme} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} "
                f"| {int(m['support'])} |"
            )
        return "\n".join(lines)


def evaluate_themes(
    tagger: ThemeTagger, texts: Sequence[str], themes: Sequence[Sequence[str]]
) -> ThemeReport:
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    ids = tagger.theme_ids
    truth = np.array([[t in set(row) for t in ids] for row in themes], dtype=int)
    pred = np.array([[t in row for t in ids] for row in tagger.tag(texts)], dtype=int)
    p, r, f, s = precision_recall_fscore_support(truth, pred, zero_division=0)
    present = (truth.sum(axis=0) > 0) | (pred.sum(axis=0) > 0)
    per_theme = {
        t: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
            "predicted": int(pred[:, i].sum()),
        }
        for i, t in enumerate(ids)
    }
    return ThemeReport(
        n=len(texts),
        micro_f1=round(float(f1_score(truth, pred, average="micro", zero_division=0)), 4),
        # over the themes that occur or are found: a theme absent from both has no F1 (sklearn
        # would count it as 0 and pull the mean down on a small held-out part)
        macro_f1=round(float(f[present].mean()) if present.any() else 0.0, 4),
        per_theme=per_theme,
    )
