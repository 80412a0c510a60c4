"""Training reports its progress per stage; augmentation is used by the held-out training."""

from __future__ import annotations

from itertools import pairwise

import pytest

from klantreis.contacts.classifier import ContactClassifier, train_staged, train_with_holdout
from klantreis.contacts.styles import generate
from klantreis.web.pages.contacts_models import _STAGE_WEIGHTS

from .small_models import FiveEpochs


def test_fit_reports_every_stage_from_start_to_end() -> None:
    seen: list[tuple[str, float]] = []
    texts, labels = generate("short", 4)
    ContactClassifier(mlp_models=1).fit(texts, labels, lambda s, d: seen.append((s, d)))
    stages = list(dict.fromkeys(s for s, _ in seen))
    assert stages == ["features", "model"]  # the SVM and the network side by side
    for stage in stages:
        done = [d for s, d in seen if s == stage]
        assert done[0] == 0.0 and done[-1] == 1.0 and done == sorted(done)


def test_holdout_training_reports_both_models() -> None:
    seen: set[str] = set()
    texts, labels = generate("short", 5)
    model, report = train_with_holdout(texts, labels, progress=lambda s, d: seen.add(s))
    assert {s.split("/")[0] for s in seen} == {"held_out", "final"}
    assert model.augment_share == 0.5 and report.n > 0


def test_one_thread_and_two_threads_train_the_same_model() -> None:
    import numpy as np

    texts, labels = generate("short", 6)
    probe, _ = generate("chat", 2, seed=3)
    one = ContactClassifier(n_jobs=1, mlp_epochs=3).fit(texts, labels)
    two = ContactClassifier(n_jobs=2, mlp_epochs=3).fit(texts, labels)
    assert np.array_equal(one.predict_proba(probe), two.predict_proba(probe))


def test_the_web_progress_of_a_staged_training_only_goes_forward() -> None:
    from klantreis.web.pages.contacts_models import contact_progress

    seen: list[float] = []
    texts, labels = generate("short", 5)
    train_staged(texts, labels, progress=lambda s, d: seen.append(contact_progress(s, d)))
    assert seen[0] == 0.0 and seen == sorted(seen) and seen[-1] == pytest.approx(0.99)


def test_the_network_progress_counts_the_epochs_that_run_when_the_networks_stop_early(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Networks that stop after 2 of their 5 epochs count 2 epochs, not 5 (today's bar went
    1/5, 2/5 and then jumped to the end): each report moves the bar by one epoch of the
    epochs that run, and never back."""
    from klantreis.contacts import classifier
    from klantreis.web.pages.contacts_models import contact_progress

    monkeypatch.setattr(classifier, "ContactClassifier", FiveEpochs)
    monkeypatch.setattr(classifier, "STAGED_SETTLED", 1.0 - 1e-9)  # settled at once
    monkeypatch.setattr(classifier, "STAGED_SETTLED_EPOCHS", 1)
    monkeypatch.setattr(classifier, "STAGED_REUSE", False)  # the final networks train too
    seen: list[tuple[str, float]] = []
    texts, labels = generate("short", 60)
    model, _ = train_staged(texts, labels, progress=lambda s, d: seen.append((s, d)))
    assert model.epochs_run_ == [2, 2] and model.mlp_epochs == 2  # they did stop early
    for stage in ("full/held_out/networks", "full/final/networks"):
        done = sorted({d for s, d in seen if s == stage})
        assert done == [0.0, 0.25, 0.5, 0.75, 1.0], stage  # 2 networks x 2 epochs
    overall = [contact_progress(s, d) for s, d in seen]
    assert overall == sorted(overall) and overall[-1] == pytest.approx(0.99)  # not 100%
    # no step of the networks' part is larger than one network's epoch of its stage
    weights = dict(_STAGE_WEIGHTS)
    total = sum(weights.values())
    epoch = max(weights["full/held_out/networks"], weights["full/final/networks"]) / total / 4
    steps = [b - a for a, b in pairwise(overall)]
    start = next(i for i, (s, _) in enumerate(seen) if s.startswith("full/"))
    assert max(steps[start:]) <= epoch + 1e-9
