"""Word analysis that holds on new phrasing: chat abbreviations written out, a light Dutch and
English stemmer, and webshop concepts shared across words and languages (``concepts.toml``).

``WordAnalyzer.expand`` turns the word tokens of a text into its features' words: every token
becomes its stem, and each concept one of the words names adds a ``§concept`` token. A model
trained on "pakket beschadigd" then also reads "de doos was ingedeukt" and "box was smashed"
as ``§damage``. Each distinct token is analysed once and cached, so a batch costs one dict
look-up per token.
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

__all__ = ["WordAnalyzer", "default_analyzer", "fold_accents", "stem"]

CONCEPT_PREFIX = "§"
_SUFFIXES = (  # (suffix, replacement, minimum word length); first match wins
    ("ies", "y", 5),
    ("ing", "", 6),
    ("heden", "heid", 7),
    ("tjes", "", 6),
    ("tje", "", 5),
    ("ed", "", 5),
    ("en", "", 5),
    ("es", "", 5),
    ("ly", "", 6),
    ("s", "", 4),
    ("e", "", 4),
)
_KEEP_S = ("ss", "us", "is")


def fold_accents(text: str) -> str:
    """ "café" -> "cafe", "geïnteresseerd" -> "geinteresseerd" (only when there is one)."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=1 << 16)  # a shop's vocabulary repeats: the sentiment lexicon stems each word
def stem(word: str) -> str:
    """A light stemmer for Dutch and English together: strips one common inflection and
    undoubles a final consonant ("pakketten" -> "pakket", "delivered" -> "deliver",
    "schoenen" -> "schoen"). Consistent rather than linguistically exact."""
    for suffix, repl, least in _SUFFIXES:
        if len(word) >= least and word.endswith(suffix):
            if suffix == "s" and word.endswith(_KEEP_S):
                continue
            word = word[: len(word) - len(suffix)] + repl
            break
    if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]
    return word


@dataclass
class WordAnalyzer:
    """Abbreviations -> words -> stems, plus concept tokens (see the module docstring)."""

    abbreviations: dict[str, tuple[str, ...]]
    prefixes: dict[str, tuple[str, ...]]  # word beginning (or whole short word) -> concepts
    phrases: dict[str, list[tuple[tuple[str, ...], str]]]  # first word -> (rest, concept)
    concept_repeat: int = 3  # each concept token this many times (its weight, sublinear tf)
    _cache: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def from_toml(cls, text: str) -> WordAnalyzer:
        data = tomllib.loads(text)
        abbreviations = {k: tuple(str(v).split()) for k, v in data["abbreviations"].items()}
        prefixes: dict[str, list[str]] = {}
        phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for concept, entries in data["concepts"].items():
            for entry in entries:
                words = fold_accents(entry.lower()).split()
                if len(words) > 1:
                    phrases.setdefault(words[0], []).append((tuple(words[1:]), concept))
                else:
                    prefixes.setdefault(words[0], []).append(concept)
        return cls(abbreviations, {k: tuple(sorted(set(v))) for k, v in prefixes.items()}, phrases)

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_cache": {}}

    def concepts_of(self, word: str) -> tuple[str, ...]:
        """Concepts of one word: an entry it starts with (4+ letters; shorter entries must
        match whole) or, for compounds, ends with (5+ letters)."""
        found: set[str] = set(self.prefixes.get(word, ()))
        for n in range(4, len(word)):
            found.update(self.prefixes.get(word[:n], ()))
        for n in range(5, len(word) - 2):
            found.update(self.prefixes.get(word[len(word) - n :], ()))
        return tuple(sorted(found))

    def _analyse(self, token: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
        words = self.abbreviations.get(token) or (fold_accents(token),)
        stems = tuple(stem(w) for w in words)
        concepts = tuple(sorted({c for w in words for c in self.concepts_of(w)}))
        tags = tuple(CONCEPT_PREFIX + c for c in concepts for _ in range(self.concept_repeat))
        hit = (stems, tags, token in self.phrases)
        self._cache[token] = hit
        return hit

    def word(self, token: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The stems and the concept tokens of one word (cached)."""
        hit = self._cache.get(token) or self._analyse(token)
        return hit[0], hit[1]

    def phrase_concepts(self, tokens: Sequence[str]) -> list[str]:
        """Concept tokens of the two-word entries found in a text."""
        out = []
        for i, token in enumerate(tokens):
            for rest, concept in self.phrases.get(token, ()):
                if tuple(tokens[i + 1 : i + 1 + len(rest)]) == rest:
                    out.append(CONCEPT_PREFIX + concept)
        return out

    def expand(self, tokens: Sequence[str]) -> list[str]:
        """Stems in text order, then the concept tokens (one per word naming it)."""
        get = self._cache.get
        hits = [get(t) or self._analyse(t) for t in tokens]
        out = [s for h in hits for s in h[0]]
        out += [c for h in hits for c in h[1]]
        if any(h[2] for h in hits):
            out += self.phrase_concepts(tokens)
        return out


@cache
def _default_text() -> str:
    return resources.files("klantreis.contacts").joinpath("concepts.toml").read_text("utf-8")


def default_analyzer(path: str | Path | None = None) -> WordAnalyzer:
    """The shipped webshop concepts (``concepts.toml``), or your own file of the same form."""
    text = Path(path).read_text(encoding="utf-8") if path else _default_text()
    return WordAnalyzer.from_toml(text)
