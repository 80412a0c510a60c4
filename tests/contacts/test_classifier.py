from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from klantreis.contacts.classifier import (
    ContactClassifier,
    PhraseMatcher,
    evaluate,
    train_mlp,
    train_with_holdout,
)
from klantreis.contacts.features import NgramTfidf
from klantreis.contacts.models import ModelRegistry
from klantreis.contacts.taxonomy import UNKNOWN, default_taxonomy

VOCAB = {
    "levering": ["pakket", "bezorger", "onderweg", "track", "trace", "bezorgd", "laat"],
    "factuur": ["factuur", "rekening", "btw", "bedrag", "betaald", "nota", "pdf"],
    "account": ["inloggen", "wachtwoord", "account", "code", "geblokkeerd", "email", "profiel"],
}
FILLER = ["ik", "de", "het", "mijn", "graag", "vandaag", "nog", "niet", "waarom", "al"]


def synthetic(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Texts of 3 reasons: 3 topic words and 3 filler words each, shuffled."""
    rnd = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = sorted(VOCAB)[i % 3]
        words = rnd.sample(VOCAB[label], 3) + rnd.sample(FILLER, 3)
        rnd.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def trained() -> ContactClassifier:
    texts, labels = synthetic(150, seed=1)
    return ContactClassifier(threshold=0.5, seed=3).fit(texts, labels)


def test_accuracy_is_far_above_chance(trained: ContactClassifier) -> None:
    texts, labels = synthetic(90, seed=2)
    report = evaluate(trained, texts, labels)
    assert report.accuracy > 0.9  # chance is 1/3
    assert report.macro_f1 > 0.9
    assert len(report.confusion) == 3 and sum(map(sum, report.confusion)) == 90
    assert set(report.per_class) == set(VOCAB)


def test_out_of_domain_text_is_less_confident_and_unknown_below_threshold(
    trained: ContactClassifier,
) -> None:
    inside, outside = trained.predict(
        ["mijn pakket is nog onderweg bij de bezorger", "ik vandaag graag niet"]
    )
    assert inside.reason == "levering" and inside.confidence > outside.confidence
    strict = ContactClassifier(threshold=0.999, seed=3).fit(*synthetic(150, seed=1))
    preds = strict.predict(["ik vandaag graag niet", "zzz qqq"])
    assert [p.reason for p in preds] == [UNKNOWN, UNKNOWN]
    assert all(p.best in VOCAB for p in preds)


def test_compiled_probabilities_equal_sklearn_calibration() -> None:
    linear = ContactClassifier(threshold=0.5, seed=3, mlp_models=0).fit(*synthetic(150, seed=1))
    probe = synthetic(40, seed=12)[0]
    expected = linear.model.predict_proba(linear.features.transform(probe))
    assert np.allclose(linear.predict_proba(probe), expected, atol=1e-12)
    two = ContactClassifier(mlp_models=0).fit(*synthetic(60, seed=1)[0:1], [*(["a", "b"] * 30)])
    assert np.allclose(
        two.predict_proba(probe), two.model.predict_proba(two.features.transform(probe)), atol=1e-12
    )


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_part_of_the_ensemble_equals_sklearn(n_classes: int) -> None:
    from sklearn.linear_model import LogisticRegression

    texts, labels = synthetic(90, seed=13)
    if n_classes == 2:
        labels = ["levering" if y == "levering" else "rest" for y in labels]
    only_lr = ContactClassifier(lr_weight=1.0, mlp_models=0).fit(texts, labels)
    x = only_lr.features.transform(texts)
    expected = LogisticRegression(C=30.0, max_iter=300, random_state=0).fit(x, labels)
    probe = synthetic(20, seed=14)[0]
    got = only_lr.predict_proba(probe)
    assert np.allclose(got, expected.predict_proba(only_lr.features.transform(probe)), atol=1e-9)
    mixed = ContactClassifier(lr_weight=0.5, mlp_models=0).fit(texts, labels).predict_proba(probe)
    assert np.allclose(mixed.sum(axis=1), 1.0)


def test_networks_learn_and_are_mixed_with_the_svm(trained: ContactClassifier) -> None:
    texts, labels = synthetic(150, seed=1)
    classes = sorted(VOCAB)
    y = np.array([classes.index(v) for v in labels])
    features = NgramTfidf().fit(texts)
    net = train_mlp(features.transform(texts), y, 3, hidden=32, seed=1)
    probe, truth = synthetic(60, seed=4)
    proba = net.proba(features.transform_blocks(probe))
    assert proba.shape == (60, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.mean(proba.argmax(axis=1) == [classes.index(v) for v in truth]) > 0.9
    # the default model: two networks side by side, mixed with the calibrated SVM
    assert trained.mlp_ is not None and trained.mlp_.w2.shape[0] == 2
    blocks = trained.features.transform_blocks(probe)
    svm = trained.model.predict_proba(trained.features.transform(probe))
    w = trained.mlp_weight
    expected = (1 - w) * svm + w * trained.mlp_.proba(blocks)
    assert 0 < w < 1 and np.allclose(trained.predict_proba(probe), expected, atol=1e-5)


def test_model_saved_before_the_networks_still_loads(trained: ContactClassifier) -> None:
    state = trained.__getstate__()
    for key in ("mlp_", "mlp_models", "mlp_weight", "mlp_hidden", "_fused_"):
        del state[key]
    old = ContactClassifier.__new__(ContactClassifier)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    probe = synthetic(20, seed=15)[0]
    svm = trained.model.predict_proba(trained.features.transform(probe))
    assert old.mlp_ is None and np.allclose(old.predict_proba(probe), svm, atol=1e-12)


def test_same_seed_same_model() -> None:
    texts, labels = synthetic(120, seed=5)
    a = ContactClassifier(seed=7).fit(texts, labels)
    b = ContactClassifier(seed=7).fit(texts, labels)
    probe = synthetic(30, seed=6)[0]
    assert np.array_equal(a.predict_proba(probe), b.predict_proba(probe))


def test_save_and_load_give_the_same_predictions(
    trained: ContactClassifier, tmp_path: Path
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    assert registry.load() is None
    report = evaluate(trained, *synthetic(30, seed=9))
    info = registry.save(trained, 150, report, "synthetic")
    registry.save(trained, 150, None, "again")
    assert registry.versions()[0] == info.version and len(registry.versions()) == 2
    loaded = registry.load(info.version)
    probe = synthetic(40, seed=8)[0]
    assert loaded is not None
    assert np.array_equal(loaded.predict_proba(probe), trained.predict_proba(probe))
    assert loaded.mlp_ is not None and loaded.mlp_.w1.dtype == np.float32
    meta = registry.info(info.version)
    assert meta is not None and meta.training_size == 150
    assert meta.labels == sorted(VOCAB) and meta.macro_f1 == report.macro_f1
    assert registry.info().version.startswith("v0002")


def test_holdout_training_reports_on_unseen_texts() -> None:
    texts, labels = synthetic(100, seed=11)
    model, report = train_with_holdout(texts, labels, test_size=0.3, seed=0)
    assert report.n == 30
    assert model.classes_ == sorted(VOCAB)


def test_training_needs_two_reasons() -> None:
    with pytest.raises(ValueError, match="at least 2 reasons"):
        ContactClassifier().fit(["a b", "c d"], ["x", "x"])


def test_phrase_matcher_cold_start() -> None:
    matcher = PhraseMatcher(default_taxonomy())
    hit, miss, mixed = matcher.predict(
        [
            "Waar blijft mijn pakket nou? Al 3 dagen te laat",
            "tralala",
            "factuur niet ontvangen en ik kan niet inloggen",
        ]
    )
    assert hit.reason == "waar_is_mijn_pakket" and hit.method == "rules"
    assert miss.reason == UNKNOWN and miss.confidence == 0
    assert mixed.confidence < hit.confidence


def test_fast_features_match_sklearn_tfidf() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [
        "waar blijft mijn pakket vandaag",
        "factuur klopt niet bedrag",
        "pakket kapot",
        "inloggen lukt niet wachtwoord",
        "waar blijft mijn factuur",
    ]
    ours = NgramTfidf().fit(texts)
    x = ours.transform(texts).toarray()
    n_words = len(ours.word_vocab_)
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(texts)
    chars = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True
    ).fit_transform(texts)
    assert n_words == words.shape[1] and x.shape[1] - n_words == chars.shape[1]
    assert np.allclose(x[:, :n_words] @ x[:, :n_words].T, (words @ words.T).toarray())
    assert np.allclose(x[:, n_words:] @ x[:, n_words:].T, (chars @ chars.T).toarray())
    assert not ours.transform(["qqq"]).nnz or ours.transform(["qqq"]).nnz < 3


def test_word_vectors_from_the_training_texts() -> None:
    texts, labels = synthetic(150, seed=1)
    features = NgramTfidf(embed_dims=8, embed_weight=0.5).fit(texts)
    x = features.transform(["pakket bezorger onderweg", "zzz"]).toarray()
    dense = x[:, -8:]
    assert features.n_features == x.shape[1]
    assert np.isclose(np.linalg.norm(dense[0]), 0.5) and not dense[1].any()
    vec = features.embedding_
    ids = features.tokens_
    same = vec[ids["pakket"]] @ vec[ids["bezorger"]]
    other = vec[ids["pakket"]] @ vec[ids["wachtwoord"]]
    assert same > other  # words of one topic co-occur
    again = NgramTfidf(embed_dims=8, embed_weight=0.5).fit(texts)
    assert np.array_equal(again.embedding_, vec)
    model = ContactClassifier(features=NgramTfidf(embed_dims=8)).fit(texts, labels)
    assert evaluate(model, *synthetic(60, seed=3)).accuracy > 0.9
