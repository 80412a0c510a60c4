"""A cross-style evaluation of contact-reason classifiers: train on one way of writing, test on
another.

A classifier trained on templated one-liners can score 0.95+ on more of the same and far less
on the same reasons written differently: longer, with a story around them, informal, with
typos. ``generate`` writes labelled contacts for twelve webshop reasons in Dutch and English in
four styles (deterministic for a seed; phrase banks in ``styles_bank``):

- ``short``: templated one-liners;
- ``long``: a free paraphrase of the reason inside a message with greeting, context and closing;
- ``chat``: informal chat (abbreviations, no capitals, emoji);
- ``typo``: the short style with typing errors in about a third of the words.

``cross_style`` trains a model once per training style and reports macro-F1 on every test
style (test texts come from another seed, so in-style cells are not the training texts).

``rewrite`` writes a shop's own text another way (long, typo, chat, short) with the same
banks' openings, contexts and closings: the check of ``style_check`` on a shop's own texts.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sklearn.metrics import f1_score

from klantreis.contacts.styles_bank import BANKS, CLOSINGS, CONTEXTS, ITEMS, OPENINGS

__all__ = [
    "LANGS",
    "REASONS",
    "STYLES",
    "CrossStyleReport",
    "add_typos",
    "cross_style",
    "generate",
    "rewrite",
]

STYLES = ("short", "long", "chat", "typo")
LANGS = ("nl", "en")
REASONS = tuple(sorted(BANKS))

FitPredict = Callable[[list[str], list[str]], Callable[[list[str]], list[str]]]

_NAMES = ["Anja", "Bram", "Chris", "Dewi", "Emma", "Floor", "Jan", "Kim", "Sam", "Yusuf"]
_KEYS = "qwertyuiop asdfghjkl zxcvbnm"
_CHAT_SWAPS = {
    "nl": [
        (" alsjeblieft", " aub"),
        (" even ", " ff "),
        (" mijn ", " mn "),
        (" wat ", " wt "),
        (" niet ", " nie "),
    ],
    "en": [
        (" please", " pls"),
        (" you ", " u "),
        (" are ", " r "),
        (" thanks", " thx"),
        (" because ", " cuz "),
    ],
}
_CHAT_OPEN = {"nl": ["hoi", "hee", "hallo", "yo", ""], "en": ["hey", "hi", "yo", "hello", ""]}
_CHAT_TAIL = ["", "", "??", "!!", " :(", " 😡", " 🙏", " pls", "..."]


def _fill(text: str, lang: str, rng: random.Random) -> str:
    return text.format(
        item=rng.choice(ITEMS[lang]),
        days=rng.randint(2, 14),
        order=rng.randint(100_000, 999_999),
        date=f"{rng.randint(1, 28)}-{rng.randint(1, 12)}",
        name=rng.choice(_NAMES),
    )


def _neighbour(ch: str, rng: random.Random) -> str:
    i = _KEYS.find(ch)
    if i < 0:
        return ch
    options = [_KEYS[j] for j in (i - 1, i + 1) if 0 <= j < len(_KEYS) and _KEYS[j] != " "]
    return rng.choice(options) if options else ch


def add_typos(text: str, rng: random.Random, rate: float = 0.35) -> str:
    """One typing error (dropped, doubled, swapped or neighbouring key) in about ``rate`` of
    the words of four letters or more."""
    words = text.split(" ")
    for k, w in enumerate(words):
        if len(w) < 4 or not w.isalpha() or rng.random() >= rate:
            continue
        i = rng.randrange(1, len(w) - 1)
        op = rng.randrange(4)
        if op == 0:
            w = w[:i] + w[i + 1 :]
        elif op == 1:
            w = w[:i] + w[i] + w[i:]
        elif op == 2:
            w = w[: i - 1] + w[i] + w[i - 1] + w[i + 1 :]
        else:
            w = w[:i] + _neighbour(w[i], rng) + w[i + 1 :]
        words[k] = w
    return " ".join(words)


def _sentence(text: str, rng: random.Random) -> str:
    text = text[0].upper() + text[1:]
    return text + rng.choice(["", ".", "?", "!"]) if text[-1] not in ".?!" else text


def _one(style: str, reason: str, lang: str, rng: random.Random) -> str:
    bank = BANKS[reason]
    if style in ("short", "typo"):
        text = _sentence(_fill(rng.choice(bank["short"][lang]), lang, rng), rng)
        return add_typos(text, rng) if style == "typo" else text
    if style == "long":
        return _message(lambda: _fill(rng.choice(bank["long"][lang]), lang, rng), lang, rng)
    if style == "chat":
        return _chat_line(_fill(rng.choice(bank["chat"][lang]), lang, rng), lang, rng)
    raise ValueError(f"unknown style {style!r} (choose from {', '.join(STYLES)})")


def generate(
    style: str, per_reason: int, seed: int = 0, langs: Sequence[str] = LANGS
) -> tuple[list[str], list[str]]:
    """``per_reason`` labelled contacts per reason and language, in one style (shuffled)."""
    rng = random.Random(f"{style}:{seed}")
    rows = [
        (_one(style, reason, lang, rng), reason)
        for reason in REASONS
        for lang in langs
        for _ in range(per_reason)
    ]
    rng.shuffle(rows)
    return [t for t, _ in rows], [y for _, y in rows]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE_END = re.compile(r"[,;:]\s")
_TRAILING = ".!?,;: "


def _message(core: Callable[[], str], lang: str, rng: random.Random) -> str:
    """``core()`` (made after the greeting and the context sentences are drawn) inside a
    message: greeting, one or two context sentences, the core, closing."""
    parts = [rng.choice(OPENINGS[lang])]
    parts += [_fill(c, lang, rng) for c in rng.sample(CONTEXTS[lang], rng.randint(1, 2))]
    parts.append(core())
    parts.append(_fill(rng.choice(CLOSINGS[lang]), lang, rng))
    return rng.choice([" ", "\n"]).join(p for p in parts if p)


def _chat_line(core: str, lang: str, rng: random.Random) -> str:
    """``core`` as a chat line: chat spellings, an opener and a tail."""
    text = f" {core} "
    for long, short in _CHAT_SWAPS[lang]:
        if rng.random() < 0.7:
            text = text.replace(long, short)
    opener = rng.choice(_CHAT_OPEN[lang])
    return f"{opener} {text.strip()}{rng.choice(_CHAT_TAIL)}".strip()


def _with_stop(text: str) -> str:
    core = text.strip()
    return core if core[-1:] in ".!?" else core + "."


def _short(text: str, words: int) -> str:
    """The first sentence of ``text`` (of at least three words); when it is longer than
    ``words`` words, its first clause (up to a comma or semicolon) if that has three words
    or more, else its first ``words`` words."""
    pieces = [p.strip() for p in _SENTENCE_END.split(text.strip()) if p.strip()]
    first = next((p for p in pieces if len(p.split()) >= 3), text.strip())
    if len(first.split()) <= words:
        return first
    clause = _CLAUSE_END.split(first, maxsplit=1)[0].strip()
    return clause if 3 <= len(clause.split()) <= words else " ".join(first.split()[:words])


def rewrite(text: str, style: str, lang: str, rng: random.Random, short_words: int = 8) -> str:
    """``text`` written another way, in its language ``lang`` (``nl`` or ``en``): ``long``
    (inside a message with greeting, context and closing), ``typo`` (typing errors in about
    a third of the longer words), ``chat`` (lower case, chat spellings, an opener and a
    tail) or ``short`` (its first sentence, at most ``short_words`` words). Its meaning, and
    so its label, stays."""
    if style == "long":
        return _message(lambda: _with_stop(text), lang, rng)
    if style == "typo":
        return add_typos(text, rng)
    if style == "chat":
        return _chat_line(text.strip().lower().rstrip(_TRAILING), lang, rng)
    if style == "short":
        return _short(text, short_words)
    raise ValueError(f"unknown rewrite {style!r} (choose from long, typo, chat, short)")


@dataclass
class CrossStyleReport:
    """Macro-F1 per (train style, test style); in-style is the diagonal."""

    styles: list[str]
    f1: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def in_style(self) -> float:
        cells = [self.f1[(s, s)] for s in self.styles]
        return sum(cells) / len(cells)

    @property
    def cross_style(self) -> float:
        cells = [v for (a, b), v in self.f1.items() if a != b]
        return sum(cells) / len(cells)

    @property
    def gap(self) -> float:
        return self.in_style - self.cross_style

    def table(self) -> str:
        """A markdown table: rows are training styles, columns test styles."""
        head = "| train \\ test | " + " | ".join(self.styles) + " |"
        lines = [head, "|---|" + "---:|" * len(self.styles)]
        for a in self.styles:
            cells = " | ".join(f"{self.f1[(a, b)]:.3f}" for b in self.styles)
            lines.append(f"| {a} | {cells} |")
        return "\n".join(lines)


def cross_style(
    fit: FitPredict,
    styles: Sequence[str] = STYLES,
    train_per_reason: int = 100,
    test_per_reason: int = 50,
    seed: int = 0,
) -> CrossStyleReport:
    """Train ``fit(texts, labels) -> predict`` once per style and score every test style."""
    tests = {s: generate(s, test_per_reason, seed=seed + 1000) for s in styles}
    report = CrossStyleReport(list(styles))
    for a in styles:
        predict = fit(*generate(a, train_per_reason, seed=seed))
        for b in styles:
            x, y = tests[b]
            score = f1_score(y, predict(x), average="macro", labels=list(REASONS))
            report.f1[(a, b)] = round(float(score), 4)
    return report
