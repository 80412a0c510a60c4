"""The cross-style check on a shop's own texts: how much does each reason lose when customers
write differently?

The held-out texts (or any labelled texts) are rewritten, each in its own language, in the
ways of ``styles``: ``long`` (inside a message with greeting, context and closing), ``typo``
(typing errors), ``chat`` (lower case, chat spellings) and ``short`` (the first sentence, at
most eight words). A rewrite keeps the text's label. The model's forced-choice reason is
scored on the texts as written and on each rewrite: macro-F1 per style and F1 per reason,
with the number of texts of each reason (every text is rewritten once per style, so that
number is the same in every column). The gap of a reason is its F1 as written minus its
mean F1 over the rewrites.

These are synthetic rewrites of the shop's own texts, deterministic for a seed, not new
customers' texts: a model that holds on them may still meet phrasings they do not cover.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from sklearn.metrics import precision_recall_fscore_support

from klantreis.contacts.styles import rewrite
from klantreis.contacts.text import stop_words

__all__ = [
    "AS_WRITTEN",
    "MIN_CHANGED",
    "REWRITES",
    "check_styles",
    "language_of",
    "rewrite_all",
    "shown_styles",
    "weakest_first",
]

#: The rewrites of the check, in the order they are shown.
REWRITES = ("long", "typo", "chat", "short")
#: The name of the texts as they were written.
AS_WRITTEN = "written"
#: A rewrite that changed fewer than this share of the texts says little; it is kept in the
#: result but not shown (``weakest_first``): ``short`` on texts that are short already.
MIN_CHANGED = 0.2
_WORDS = re.compile(r"[a-zà-ÿ']+")
_NL_LETTERS = re.compile(r"ij|oe|sch|aa|ee|uu|oo(?!k)")
_EN_LETTERS = re.compile(r"th|wh|ck|ing\b|ed\b")

Predict = Callable[[Sequence[str]], Sequence[str]]


@cache  # language_of reads it for every text of every rewrite
def _only(lang: str) -> frozenset[str]:
    other = "en" if lang == "nl" else "nl"
    return stop_words(lang) - stop_words(other)


def language_of(text: str, default: str = "nl") -> str:
    """``nl`` or ``en``: the language whose own stop words (those not in the other's list)
    the text has more of; on a tie, the one whose typical letter groups it has more of
    (Dutch ``ij``, ``oe``, ``sch``, doubled vowels; English ``th``, ``wh``, ``ck``, ``-ing``,
    ``-ed``); ``default`` on a tie of both."""
    lower = text.lower()
    words = _WORDS.findall(lower)
    nl, en = _only("nl"), _only("en")
    score = sum(w in nl for w in words) - sum(w in en for w in words)
    if score == 0:
        score = len(_NL_LETTERS.findall(lower)) - len(_EN_LETTERS.findall(lower))
    return "nl" if score > 0 else "en" if score < 0 else default


def rewrite_all(texts: Sequence[str], style: str, seed: int = 0) -> list[str]:
    """Every text rewritten in ``style``, in its own language (ties: the texts' most common
    language). Deterministic: a text's rewrite depends only on the text, the style and the
    seed."""
    langs = [language_of(t, "") for t in texts]
    common = Counter(x for x in langs if x).most_common(1)
    default = common[0][0] if common else "nl"
    return [
        rewrite(t, style, lang or default, random.Random(f"{style}:{seed}:{t}"))
        for t, lang in zip(texts, langs, strict=True)
    ]


def check_styles(
    predict: Predict,
    texts: Sequence[str],
    labels: Sequence[str],
    seed: int = 0,
    styles: Sequence[str] = REWRITES,
) -> dict[str, Any]:
    """Score ``predict`` (texts -> one reason per text, forced choice) on ``texts`` as
    written and on each rewrite in ``styles``. ``predict`` is called once per style with all
    the texts in their order (as written first), so it may score each rewrite by its
    original's position. The result (JSON-ready) has ``styles`` (``written`` first),
    ``macro_f1`` and ``changed`` (share of texts a rewrite changed) per style, ``reasons``:
    per reason its ``n`` and ``f1`` per style, and the ``seconds`` it took."""
    started = time.perf_counter()
    truth = [str(y) for y in labels]
    reasons = sorted(set(truth))
    result: dict[str, Any] = {
        "synthetic": True,
        "seed": seed,
        "n": len(truth),
        "styles": [AS_WRITTEN, *styles],
        "macro_f1": {},
        "changed": {},
        "reasons": {r: {"n": 0, "f1": {}} for r in reasons},
    }
    for style in result["styles"]:
        written = style == AS_WRITTEN
        block = list(texts) if written else rewrite_all(texts, style, seed)
        changed = sum(a != b for a, b in zip(block, texts, strict=True))
        result["changed"][style] = round(changed / max(len(truth), 1), 4)
        predicted = [str(y) for y in predict(block)]
        _, _, f1, support = precision_recall_fscore_support(
            truth, predicted, labels=reasons, zero_division=0
        )
        for i, reason in enumerate(reasons):
            result["reasons"][reason]["n"] = int(support[i])
            result["reasons"][reason]["f1"][style] = round(float(f1[i]), 4)
        result["macro_f1"][style] = round(float(f1.mean()) if len(reasons) else 0.0, 4)
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def shown_styles(check: dict[str, Any], min_changed: float = MIN_CHANGED) -> list[str]:
    """The check's styles worth showing: as written, and each rewrite that changed at least
    ``min_changed`` of the texts."""
    changed = check.get("changed") or {}
    return [
        s
        for s in check.get("styles") or []
        if s == AS_WRITTEN or float(changed.get(s, 0.0)) >= min_changed
    ]


def weakest_first(check: dict[str, Any], min_changed: float = MIN_CHANGED) -> list[dict[str, Any]]:
    """One row per reason: ``reason``, ``n``, ``f1`` per shown style, ``rewritten`` (the
    mean F1 over the shown rewrites) and ``gap`` (as written minus that); weakest reasons
    (lowest ``rewritten``) first."""
    styles = shown_styles(check, min_changed)
    rewrites = [s for s in styles if s != AS_WRITTEN]
    rows = []
    for reason, cell in (check.get("reasons") or {}).items():
        f1 = {s: cell["f1"].get(s) for s in styles}
        scores = [float(f1[s]) for s in rewrites if f1[s] is not None]
        mean = round(sum(scores) / len(scores), 4) if scores else None
        written = f1.get(AS_WRITTEN)
        gap = round(float(written) - mean, 4) if mean is not None and written is not None else None
        rows.append({"reason": reason, "n": cell["n"], "f1": f1, "rewritten": mean, "gap": gap})
    rows.sort(key=lambda r: (r["rewritten"] if r["rewritten"] is not None else 2.0, r["reason"]))
    return rows
