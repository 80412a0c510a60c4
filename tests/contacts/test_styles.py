"""The cross-style evaluation: deterministic labelled styles, and a smoke run of the matrix."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from klantreis.contacts.styles import REASONS, STYLES, add_typos, cross_style, generate
from klantreis.contacts.taxonomy import default_taxonomy


@pytest.mark.parametrize("style", STYLES)
def test_generate_is_deterministic_balanced_and_labelled(style: str) -> None:
    texts, labels = generate(style, 3, seed=5)
    assert (texts, labels) == generate(style, 3, seed=5)
    assert texts != generate(style, 3, seed=6)[0]
    assert Counter(labels) == {r: 6 for r in REASONS}  # 3 per reason and language
    assert all(t.strip() for t in texts)


def test_reasons_are_taxonomy_reasons() -> None:
    assert set(REASONS) <= set(default_taxonomy().reason_ids())


def test_styles_differ_in_length_and_wording() -> None:
    short, _ = generate("short", 20)
    long, _ = generate("long", 20)
    assert sum(map(len, long)) > 3 * sum(map(len, short))
    assert not set(short) & set(long)


def test_add_typos_changes_some_long_words_only() -> None:
    rng = random.Random(1)
    text = "waar blijft mijn bestelling eigenlijk want ik wacht al lang"
    typed = add_typos(text, rng, rate=1.0)
    assert typed != text
    assert [w for w in typed.split() if len(w) < 4] == [w for w in text.split() if len(w) < 4]
    assert add_typos(text, rng, rate=0.0) == text


def test_unknown_style_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown style"):
        generate("poem", 1)


def test_cross_style_smoke_with_a_word_baseline() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    def fit(texts: list[str], labels: list[str]):  # type: ignore[no-untyped-def]
        pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=500))
        pipe.fit(texts, labels)
        return lambda xs: list(pipe.predict(xs))

    report = cross_style(fit, styles=("short", "long"), train_per_reason=10, test_per_reason=5)
    assert set(report.f1) == {(a, b) for a in ("short", "long") for b in ("short", "long")}
    assert report.in_style > 0.8
    assert report.cross_style < report.in_style - 0.2  # new phrasing costs: the point of it
    assert "| short |" in report.table()
