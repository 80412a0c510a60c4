"""Text normalisation for contact classification, and the shipped stop-word lists.

Order numbers, amounts and dates differ per contact and say nothing about the reason, so digits
are folded to ``0``; English contractions are expanded; case and curly quotes are folded.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

__all__ = ["normalise", "normalise_many", "stop_words"]

_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_SPACE_FOLD = re.compile(r"\s\s+|[^\S ]")  # same result, skips single spaces: faster
_CONTRACTIONS = (
    ("can't", "can not"),
    ("won't", "will not"),
    ("n't", " not"),
    ("'m", " am"),
    ("'re", " are"),
    ("'ve", " have"),
    ("'ll", " will"),
    ("'d", " would"),
)


def normalise(text: str | None) -> str:
    """Lower case, digits folded to 0, contractions expanded, white space collapsed."""
    if not text:
        return ""
    t = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    if "'" in t:
        for short, long in _CONTRACTIONS:
            t = t.replace(short, long)
    t = _DIGITS.sub("0", t)
    return _SPACE.sub(" ", t).strip()


_SEP = "\x01"
_AROUND_SEP = re.compile(" ?\x01 ?")


def normalise_many(texts: list[str | None]) -> list[str]:
    """``normalise`` of many texts at once (one pass of each rule over the joined texts)."""
    if not texts:
        return []
    joined = _SEP.join((t or "").replace(_SEP, " ") for t in texts)
    t = joined.lower().replace("\u2019", "'").replace("\u2018", "'")
    if "'" in t:
        for short, long in _CONTRACTIONS:
            t = t.replace(short, long)
    t = _DIGITS.sub("0", t)
    t = _AROUND_SEP.sub(_SEP, _SPACE_FOLD.sub(" ", t)).strip(" ")
    return t.split(_SEP)


@cache
def stop_words(lang: str | None = None) -> frozenset[str]:
    """Dutch (``nl``), English (``en``) or both (``None``) stop words, shipped as text files."""
    langs = ("nl", "en") if lang is None else (lang,)
    words: set[str] = set()
    for code in langs:
        text = resources.files("klantreis.contacts").joinpath(f"stopwords_{code}.txt")
        words.update(w.strip() for w in text.read_text("utf-8").splitlines() if w.strip())
    return frozenset(words)
