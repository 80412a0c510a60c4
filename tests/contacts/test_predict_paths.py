"""The compiled prediction path (numba kernels for the character n-grams and the sparse
product, taken by big batches) gives the same features, labels and probabilities as the
NumPy/SciPy path, on the demo's contacts and on awkward texts. Banking77's check is in
test_banking77.py (it reuses that test's trained model)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.contacts.conftest import store_copy

from klantreis.app import App
from klantreis.contacts import classifier as classifier_module
from klantreis.contacts.classifier import ContactClassifier
from klantreis.contacts.taxonomy import default_taxonomy
from klantreis.contacts.training import labelled_from_store
from klantreis.settings import Settings

AWKWARD = [
    "",
    None,
    "a",
    "ik  wacht al 3 dagen op mijn pakket!!",
    "café geïnteresseerd in één ruilactie",
    "pakket 📦 kwijt 😡 waar is het",
    "x" * 300,
    "a b c d e f g",
    "Where's my refund?? I can't see it",
    "\x01 separator \x01 inside",
]


@pytest.fixture(scope="module")
def demo_model(
    demo4000_seed7: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ContactClassifier, list[str]]]:
    """Trained on the contacts of a copy of the run's ``run_demo(app, orders=4000, seed=7)``
    (tests/contacts/conftest.py, shared with test_demo.py)."""
    path = store_copy(demo4000_seed7, tmp_path_factory, "demo4000")
    with App(Settings.load(env={}, db_path=str(path))) as app:
        data = labelled_from_store(app.events_table(), default_taxonomy())
    yield ContactClassifier(seed=0).fit(data.texts, data.labels), list(data.texts)


def test_compiled_character_block_equals_numpy(
    demo_model: tuple[ContactClassifier, list[str]],
) -> None:
    model, texts = demo_model
    batch = texts[:500] + AWKWARD
    reference = model.features.transform_blocks(batch)
    fast = model.features.transform_blocks(batch, compiled=True)
    for ref, got in zip(reference[:2], fast[:2], strict=True):
        assert ref.shape == got.shape
        assert np.array_equal(ref.indptr, got.indptr)
        assert np.array_equal(ref.indices, got.indices)
        assert np.abs(ref.data - got.data).max() < 1e-12
    assert fast[1].nnz > 20 * len(batch)  # the character n-grams were found at all


def test_compiled_path_gives_the_same_predictions_on_demo_contacts(
    demo_model: tuple[ContactClassifier, list[str]],
) -> None:
    model, texts = demo_model
    batch = texts + AWKWARD
    reference = model.predict_proba(batch, compiled=False)
    fast = model.predict_proba(batch, compiled=True)
    assert model.mlp_ is not None and fast.shape == (len(batch), len(model.classes_))
    assert np.abs(reference - fast).max() < 1e-6
    assert np.array_equal(reference.argmax(axis=1), fast.argmax(axis=1))


def test_big_batches_take_the_compiled_path(
    demo_model: tuple[ContactClassifier, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, texts = demo_model
    seen: list[bool] = []
    blocks = model.features.transform_blocks

    def spy(batch: list[str], compiled: bool = False) -> object:
        seen.append(compiled)
        return blocks(batch, compiled=compiled)

    monkeypatch.setattr(model.features, "transform_blocks", spy)
    monkeypatch.setattr(classifier_module, "COMPILED_FROM", 50)
    model.predict_proba(texts[:49])
    model.predict_proba(texts[:50])
    assert seen == [False, True]


def test_predict_many_in_two_processes_equals_predict(
    demo_model: tuple[ContactClassifier, list[str]],
) -> None:
    model, texts = demo_model
    batch = (texts * 3)[:3000]
    one = model.predict(batch)
    two = model.predict_many(batch, n_jobs=2, chunk=700)
    assert [p.best for p in two] == [p.best for p in one]
    # confidences are rounded to 4 decimals: float noise may move one by the last digit
    assert max(abs(a.confidence - b.confidence) for a, b in zip(one, two, strict=True)) < 1.5e-4
