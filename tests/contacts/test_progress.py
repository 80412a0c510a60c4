"""Training reports its progress per stage; augmentation is used by the held-out training."""

from __future__ import annotations

from klantreis.contacts.classifier import ContactClassifier, train_staged, train_with_holdout
from klantreis.contacts.styles import generate


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
    assert seen[0] == 0.0 and seen == sorted(seen) and 0.99 < seen[-1] <= 1.0
