"""Sentiment of customer comments, Dutch and English, offline.

Two levels, both per sentence so "snelle levering maar kapot aangekomen" shows one positive and
one negative part (with its character span in the comment, like a highlighted region):

- ``LexiconSentiment``: a shipped polarity lexicon per language (``sentiment_nl.txt``,
  ``sentiment_en.txt``, written for klantreis) with negation ("niet snel"), intensifiers ("erg
  traag") and contrast ("..., maar ..." weighs the part after it more). No training needed.
- ``ScoreSentiment``: a linear model trained weakly on the shop's own scored comments, the
  score as the label (NPS 0-6 negative, 9-10 positive; CSAT/stars 1-2 negative, 4-5
  positive); the lexicon's score is one of its features, so it starts from the lexicon and
  learns the shop's words.

A sentence's ``score`` runs from -1 (very negative) to +1; ``label`` is ``positive``,
``negative`` or ``neutral`` (|score| < 0.05 for the lexicon).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from klantreis.contacts.features import NgramTfidf
from klantreis.contacts.lexicon import fold_accents, stem

__all__ = [
    "LexiconSentiment",
    "Polarity",
    "ScoreSentiment",
    "Sentence",
    "polarity_from_score",
    "split_sentences",
]

Polarity = str  # "positive" | "negative" | "neutral"

_SENTENCE = re.compile(r"[^.!?;\n]+[.!?;]*", re.UNICODE)
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*", re.UNICODE)
_TOKEN = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*|[,:()]", re.UNICODE)
_NEGATION_WINDOW = 3
_NEGATION_FACTOR = -0.75
_CONTRAST_AFTER = 1.5  # weight of the part after "maar"/"but" in a whole-comment score
_CONTRAST_BEFORE = 0.5
_ALPHA = 15.0  # score -> (-1, 1): s / sqrt(s^2 + alpha), as in VADER
NEUTRAL_BAND = 0.05


@dataclass(frozen=True)
class Sentence:
    """One sentence (or contrast clause) of a comment, its span and its sentiment."""

    text: str
    start: int
    end: int
    score: float
    label: Polarity


def _label(score: float, band: float = NEUTRAL_BAND) -> Polarity:
    return "positive" if score > band else "negative" if score < -band else "neutral"


@dataclass
class _Lexicon:
    words: dict[str, float]
    phrases: dict[tuple[str, str], float]
    negators: frozenset[str]
    boosters: dict[str, float]
    contrasts: frozenset[str]


def _parse(text: str) -> _Lexicon:
    words: dict[str, float] = {}
    phrases: dict[tuple[str, str], float] = {}
    negators, contrasts, boosters = set(), set(), {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if parts[0] == "!negate":
            negators.add(parts[1])
        elif parts[0] == "!contrast":
            contrasts.add(parts[1])
        elif parts[0] == "!boost":
            boosters[parts[1]] = float(parts[2])
        else:
            key = fold_accents(parts[0].lower()).split()
            if len(key) == 2:
                phrases[(key[0], key[1])] = float(parts[1])
            else:
                words[key[0]] = float(parts[1])
                words.setdefault(stem(key[0]), float(parts[1]))
    return _Lexicon(words, phrases, frozenset(negators), boosters, frozenset(contrasts))


@cache
def _shipped() -> _Lexicon:
    folder = resources.files("klantreis.text")
    texts = [folder.joinpath(f"sentiment_{lang}.txt").read_text("utf-8") for lang in ("nl", "en")]
    return _parse("\n".join(texts))


def split_sentences(text: str) -> list[tuple[str, int, int]]:
    """Sentences, and clauses at a contrast word ("maar", "but"), with their spans."""
    out: list[tuple[str, int, int]] = []
    contrasts = _shipped().contrasts
    for m in _SENTENCE.finditer(text or ""):
        start = m.start()
        for w in _WORD.finditer(m.group()):
            if w.group().lower() in contrasts and w.start() > 0:
                cut = m.start() + w.start()
                out.append((text[start:cut], start, cut))
                start = cut
        out.append((text[start : m.end()], start, m.end()))
    spans = []
    for part, s, _ in out:
        core = part.strip(" ,\t")
        if core:
            start = s + part.index(core)
            spans.append((core, start, start + len(core)))
    return spans


class LexiconSentiment:
    """Rule-based sentiment from the shipped Dutch and English lexicons."""

    def __init__(self, lexicon_text: str | None = None) -> None:
        self.lex = _parse(lexicon_text) if lexicon_text is not None else _shipped()

    def raw(self, text: str) -> float:
        """Summed valence of one sentence (negation and intensifiers applied), unbounded."""
        tokens = [fold_accents(t.lower()) for t in _TOKEN.findall(text or "")]
        lex, total, after_contrast, negated = self.lex, 0.0, False, 0
        for i, tok in enumerate(tokens):
            negated -= 1
            if tok in lex.contrasts or tok in ",:()":
                after_contrast = after_contrast or tok in lex.contrasts
                negated = 0  # negation ends at a comma or a contrast
                continue
            if tok in lex.negators:
                negated = _NEGATION_WINDOW + 1
                continue
            pair = (tokens[i - 1], tok) if i else None
            value = lex.phrases.get(pair) if pair else None
            if value is not None and tokens[i - 1] in lex.negators:
                negated = 0  # "nooit meer", "never again": the phrase holds its negation
            elif value is None:
                nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
                if tok in lex.boosters and (nxt in lex.words or stem(nxt) in lex.words):
                    continue  # "super snel": the booster scales the next word
                value = lex.words.get(tok)
                if value is None:
                    value = lex.words.get(stem(tok), 0.0)
            if not value:
                continue
            if i and tokens[i - 1] in lex.boosters:
                value *= lex.boosters[tokens[i - 1]]
            if negated > 0:  # a negator within the last few words: flipped, used up
                value *= _NEGATION_FACTOR
                negated = 0
            total += value * (_CONTRAST_AFTER if after_contrast else 1.0)
        if total and "!" in (text or ""):
            total *= 1.0 + 0.1 * min((text or "").count("!"), 3)
        return total

    def score(self, text: str) -> float:
        """-1 .. +1 for one sentence."""
        s = self.raw(text)
        return s / math.sqrt(s * s + _ALPHA)

    def sentences(self, text: str) -> list[Sentence]:
        out = []
        for part, start, end in split_sentences(text):
            s = self.score(part)
            out.append(Sentence(part, start, end, round(s, 4), _label(s)))
        return out

    def comment(self, text: str) -> float:
        """-1 .. +1 for a whole comment: its sentences, the part after a contrast weighing
        more ("fine product, but never again" is negative)."""
        parts = split_sentences(text)
        if not parts:
            return 0.0
        total = 0.0
        for k, (part, _, _) in enumerate(parts):
            starts_contrast = _WORD.match(part) is not None and (
                part.split()[0].lower() in self.lex.contrasts
            )
            weight = _CONTRAST_AFTER if starts_contrast else 1.0
            if k + 1 < len(parts) and parts[k + 1][0].split()[0].lower() in self.lex.contrasts:
                weight = _CONTRAST_BEFORE
            total += weight * self.raw(part)
        return total / math.sqrt(total * total + _ALPHA)

    def label(self, text: str) -> Polarity:
        return _label(self.comment(text))


def polarity_from_score(metric: str, score: float) -> Polarity:
    """The weak label of a scored comment: NPS 0-6 / 7-8 / 9-10; CSAT and stars (1-5) 1-2 /
    3 / 4-5; CES (1-7, customer effort: 7 = very hard, as everywhere in klantreis) 5-7 /
    4 / 1-3."""
    if metric == "ces":
        return "negative" if score >= 5 else "positive" if score <= 3 else "neutral"
    low, high = {"nps": (6, 9), "csat": (2, 4), "stars": (2, 4)}[metric]
    return "negative" if score <= low else "positive" if score >= high else "neutral"


class ScoreSentiment:
    """Logistic regression on word + character n-grams and the lexicon score, trained on
    comments whose score gives the polarity (neutral scores are left out of training)."""

    def __init__(self, c: float = 1.0, lexicon_weight: float = 3.0, seed: int = 0) -> None:
        self.c = c
        self.lexicon_weight = lexicon_weight
        self.seed = seed
        self.lexicon = LexiconSentiment()
        self.features: NgramTfidf | None = None
        self.model: LogisticRegression | None = None

    def _x(self, texts: Sequence[str], features: sp.csr_matrix | None = None) -> sp.csr_matrix:
        if self.features is None:
            raise RuntimeError("the sentiment model is not trained")
        if features is None:
            features = self.features.transform(texts)
        lex = np.array([[self.lexicon_weight * self.lexicon.comment(t)] for t in texts])
        return sp.csr_matrix(sp.hstack([features, sp.csr_matrix(lex.reshape(-1, 1))]))

    def fit(
        self,
        texts: Sequence[str],
        polarities: Sequence[Polarity],
        progress: Callable[[str, float], None] | None = None,
    ) -> ScoreSentiment:
        report = progress or (lambda stage, done: None)
        pairs = [(t, p) for t, p in zip(texts, polarities, strict=True) if p != "neutral"]
        if len({p for _, p in pairs}) < 2:
            raise ValueError("training needs both positive and negative scored comments")
        x_text = [t for t, _ in pairs]
        report("features", 0.0)
        self.features = NgramTfidf(char_min=3, char_max=5)
        x = self._x(x_text, self.features.fit_transform(x_text))
        report("features", 1.0)
        report("model", 0.0)
        y = np.array([p == "positive" for _, p in pairs], dtype=int)
        self.model = LogisticRegression(
            C=self.c, max_iter=1000, class_weight="balanced", random_state=self.seed
        )
        self.model.fit(x, y)
        report("model", 1.0)
        return self

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """-1 .. +1 per text: P(positive) - P(negative)."""
        if self.model is None:
            raise RuntimeError("the sentiment model is not trained")
        if not len(texts):
            return np.zeros(0)
        scores: np.ndarray = 2.0 * self.model.predict_proba(self._x(list(texts)))[:, 1] - 1.0
        return scores

    def labels(self, texts: Sequence[str], band: float = 0.2) -> list[Polarity]:
        return [_label(float(s), band) for s in self.score(texts)]

    def sentences(self, text: str, band: float = 0.1) -> list[Sentence]:
        """Per sentence: the mean of the model's and the lexicon's score (the model learnt
        from whole comments, whose score mixes their sentences)."""
        parts = split_sentences(text)
        model = self.score([p for p, _, _ in parts])
        scores = [
            (m + self.lexicon.score(p)) / 2 for m, (p, _, _) in zip(model, parts, strict=True)
        ]
        return [
            Sentence(p, s, e, round(float(v), 4), _label(float(v), band))
            for (p, s, e), v in zip(parts, scores, strict=True)
        ]
