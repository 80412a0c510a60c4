"""Word analysis for phrasing-robust features: stems, chat abbreviations, webshop concepts."""

from __future__ import annotations

import pickle
import random

import pytest

from klantreis.contacts.augment import augment, typo
from klantreis.contacts.features import NgramTfidf
from klantreis.contacts.lexicon import WordAnalyzer, default_analyzer, fold_accents, stem


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("pakketten", "pakket"),
        ("schoenen", "schoen"),
        ("delivered", "deliver"),
        ("deliveries", "delivery"),
        ("shipping", "ship"),
        ("address", "addres"),
        ("box", "box"),
    ],
)
def test_stem(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_fold_accents() -> None:
    assert fold_accents("geïnteresseerd café") == "geinteresseerd cafe"
    assert fold_accents("plain") == "plain"


def test_concepts_bridge_words_and_languages() -> None:
    a = default_analyzer()
    nl = a.expand(["de", "doos", "was", "ingedeukt"])
    en = a.expand(["box", "was", "smashed"])
    assert "§damage" in nl and "§damage" in en
    assert "§parcel" in nl and "§parcel" in en
    assert "§label" in a.expand(["verzendlabel"])  # Dutch compound: ends with an entry
    assert "§refund" in a.expand(["geld", "terug"])  # a two-word entry


def test_abbreviations_are_written_out_before_stemming() -> None:
    out = default_analyzer().expand(["mn", "pakket", "pls"])
    assert out[:3] == ["mijn", "pakket", "pleas"]


def test_own_concept_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.toml"
    path.write_text('[abbreviations]\nzz = "zonder"\n[concepts]\nfiets = ["fiets", "bike"]\n')
    a = default_analyzer(path)
    assert a.expand(["bikes", "zz"]) == ["bik", "zonder", "§fiets", "§fiets", "§fiets"]
    a.concept_repeat = 1
    a._cache.clear()
    assert a.expand(["bikes", "zz"]) == ["bik", "zonder", "§fiets"]
    assert isinstance(a, WordAnalyzer)


def test_features_with_analyzer_share_unseen_words_through_concepts() -> None:
    f = NgramTfidf(analyzer=default_analyzer()).fit(["pakket beschadigd", "factuur klopt niet"])
    words = f.transform_blocks(["doos ingedeukt", "zzz"])[0]
    assert words[0].nnz > 0 and words[1].nnz == 0
    again = pickle.loads(pickle.dumps(f))
    assert (again.transform(["doos ingedeukt"]) != f.transform(["doos ingedeukt"])).nnz == 0


def test_augment_adds_wrapped_copies_of_short_texts_only() -> None:
    texts = ["waar is mijn pakket", " ".join(["woord"] * 30)]
    x, y = augment(texts, ["a", "b"], share=1.0, seed=3)
    assert x[:2] == texts and y == ["a", "b", "a"]
    assert "pakket" in x[2] or "pakke" in x[2]
    assert augment(texts, ["a", "b"], share=1.0, seed=3) == (x, y)
    assert augment(texts, ["a", "b"], share=0.0) == (texts, ["a", "b"])


def test_typo_changes_long_words_by_one_edit() -> None:
    rng = random.Random(0)
    for _ in range(50):
        t = typo("bestelling", rng)
        assert abs(len(t) - len("bestelling")) <= 1
    assert typo("de", rng) == "de"


def test_cached_token_ids_give_the_same_features_as_the_plain_path() -> None:
    from klantreis.contacts.styles import generate

    texts, _ = generate("long", 3)
    probe = [*generate("chat", 2)[0], "geld terug pls", "zzz qqq", ""]
    f = NgramTfidf(embed_dims=8, analyzer=default_analyzer()).fit(texts)
    cached = f.transform(probe)
    assert f._id_cache  # filled while transforming
    f._id_cache = None  # type: ignore[assignment]  # the uncached path
    assert (f.transform(probe) != cached).nnz == 0
