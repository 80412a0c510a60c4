"""Sentiment per sentence (lexicon) and the weak model trained on scored comments."""

from __future__ import annotations

import numpy as np
import pytest

from klantreis.text.comments import generate_comments
from klantreis.text.sentiment import (
    LexiconSentiment,
    ScoreSentiment,
    polarity_from_score,
    split_sentences,
)


@pytest.fixture(scope="module")
def lex() -> LexiconSentiment:
    return LexiconSentiment()


def test_contrast_gives_one_positive_and_one_negative_sentence(lex: LexiconSentiment) -> None:
    parts = lex.sentences("snelle levering maar kapot aangekomen")
    assert [p.label for p in parts] == ["positive", "negative"]
    assert parts[0].text == "snelle levering" and parts[1].text.startswith("maar")
    text = "Fast delivery, but the driver was really rude!"
    spans = lex.sentences(text)
    assert [s.label for s in spans] == ["positive", "negative"]
    assert all(text[s.start : s.end] == s.text for s in spans)
    assert lex.comment(text) < 0  # what comes after "but" weighs more


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("Keurig op tijd geleverd.", 1),
        ("niet op tijd", -1),
        ("Niet snel, wel vriendelijk.", 1),
        ("not bad at all", 1),
        ("nooit meer", -1),
        ("never again with this shop", -1),
        ("Top service, dank jullie wel.", 1),
        ("Rude on the phone, problem not solved.", -1),
    ],
)
def test_lexicon_polarity(lex: LexiconSentiment, text: str, sign: int) -> None:
    assert np.sign(lex.comment(text)) == sign


def test_intensifier_and_neutral(lex: LexiconSentiment) -> None:
    assert lex.score("erg traag") < lex.score("traag") < 0
    assert lex.label("Ordernummer 12345.") == "neutral"
    assert lex.sentences("") == []


def test_split_sentences_spans() -> None:
    text = "Goed product. Maar de bezorging was traag!"
    parts = split_sentences(text)
    assert [p for p, _, _ in parts] == ["Goed product.", "Maar de bezorging was traag!"]
    assert all(text[s:e] == p for p, s, e in parts)


@pytest.mark.parametrize(
    ("metric", "score", "expected"),
    [
        ("nps", 6, "negative"),
        ("nps", 8, "neutral"),
        ("nps", 9, "positive"),
        ("csat", 2, "negative"),
        ("csat", 4, "positive"),
        ("ces", 4, "neutral"),
        ("ces", 6, "negative"),  # CES is effort: higher is worse
        ("ces", 2, "positive"),
    ],
)
def test_polarity_from_score(metric: str, score: int, expected: str) -> None:
    assert polarity_from_score(metric, score) == expected


def test_weak_model_learns_from_scores_and_beats_chance() -> None:
    train = generate_comments(600, seed=0)
    test = generate_comments(300, seed=1, part="test")
    y = [polarity_from_score("nps", c.score) for c in train]
    model = ScoreSentiment().fit([c.text for c in train], y)
    polar = [(c.text, polarity_from_score("nps", c.score)) for c in test]
    polar = [(t, p) for t, p in polar if p != "neutral"]
    scores = model.score([t for t, _ in polar])
    accuracy = np.mean((scores > 0) == np.array([p == "positive" for _, p in polar]))
    assert accuracy > 0.75
    parts = model.sentences("Snelle levering maar kapot aangekomen")
    assert parts[1].label == "negative" and parts[0].score > parts[1].score


def test_weak_model_needs_both_polarities() -> None:
    with pytest.raises(ValueError, match="both positive and negative"):
        ScoreSentiment().fit(["goed", "prima"], ["positive", "positive"])
    with pytest.raises(RuntimeError):
        ScoreSentiment().score(["x"])
