"""Training reports its progress per stage; augmentation is used by the held-out training."""

from __future__ import annotations

from klantreis.contacts.classifier import ContactClassifier, train_with_holdout
from klantreis.contacts.styles import generate


def test_fit_reports_every_stage_from_start_to_end() -> None:
    seen: list[tuple[str, float]] = []
    texts, labels = generate("short", 4)
    ContactClassifier(mlp_models=1).fit(texts, labels, lambda s, d: seen.append((s, d)))
    stages = list(dict.fromkeys(s for s, _ in seen))
    assert stages == ["features", "linear model", "network 1/1"]
    for stage in stages:
        done = [d for s, d in seen if s == stage]
        assert done[0] == 0.0 and done[-1] == 1.0 and done == sorted(done)


def test_holdout_training_reports_both_models() -> None:
    seen: set[str] = set()
    texts, labels = generate("short", 5)
    model, report = train_with_holdout(texts, labels, progress=lambda s, d: seen.add(s))
    assert {s.split(":")[0] for s in seen} == {"held-out model", "final model"}
    assert model.augment_share == 0.5 and report.n > 0
