"""Staged training: the quick model (features + calibrated SVM) is saved and in use before the
networks start, the full model replaces it; an interrupted network stage keeps the quick
model and says so; ``--stage quick`` stops there; the models list and page show the stage."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from klantreis.cli.main import cli
from klantreis.contacts.classifier import (
    ContactClassifier,
    _holdout_split,
    train_staged,
    train_with_holdout,
)
from klantreis.contacts.models import ModelRegistry
from klantreis.contacts.styles import generate
from klantreis.contacts.training import LabelledSet, NetworksInterrupted, train_and_save

from .small_models import FiveEpochs, linear_only_training
from .test_web_models import logged_in, web_app  # noqa: F401  (the fixture)

#: small networks keep the full stage cheap (the same code path as the default)
SMALL = {"mlp_epochs": 2, "mlp_hidden": 32}


class SmallNetworks(ContactClassifier):
    """The contact classifier with two small networks trained for two epochs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**SMALL, **kwargs})


@pytest.fixture
def small_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every contact model built by the training functions is a :class:`SmallNetworks`."""
    from klantreis.contacts import classifier

    monkeypatch.setattr(classifier, "ContactClassifier", SmallNetworks)


def _data(per: int = 5) -> LabelledSet:
    texts, labels = generate("short", per)
    return LabelledSet(list(texts), list(labels), "test")


def _csv(tmp_path: Path) -> Path:
    data = _data()
    path = tmp_path / "labels.csv"
    rows = zip(data.texts, data.labels, strict=True)
    path.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows), encoding="utf-8")
    return path


@pytest.mark.usefixtures("small_networks")
def test_the_quick_model_is_saved_and_usable_before_the_networks_start(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    data = _data()
    order: list[str] = []
    seen_at_networks: dict[str, Any] = {}

    def progress(stage: str, done: float) -> None:
        if not order or order[-1] != stage:
            order.append(stage)
        if stage.startswith("full/") and not seen_at_networks:
            model = registry.load()  # what a reader sees while the networks train
            seen_at_networks.update(
                versions=registry.versions(),
                stage=registry.info().stage,  # type: ignore[union-attr]
                networks=model.mlp_,
                predictions=model.predict(data.texts[:3]),
            )

    quick_seen: list[Any] = []
    info, report = train_and_save(
        data, registry, None, progress=progress, on_quick=lambda i, r: quick_seen.append(i)
    )
    assert order == [
        "quick/held_out/features",
        "quick/held_out/svm",
        "quick/final/features",
        "quick/final/svm",
        "full/held_out/networks",
        "full/final/networks",
    ]
    quick = quick_seen[0]
    assert seen_at_networks["versions"] == [quick.version]  # saved before the networks
    assert seen_at_networks["stage"] == "quick" and seen_at_networks["networks"] is None
    assert [p.method for p in seen_at_networks["predictions"]] == ["model"] * 3
    assert quick.metrics["quick_seconds"] > 0
    # the full model replaced it: the newest version, in use, with its networks
    assert registry.versions() == [quick.version, info.version]
    assert registry.current() == info.version and info.stage == "full"
    full = registry.load()
    assert full.stage == "full" and full.mlp_ is not None
    assert info.metrics["network_seconds"] > 0 and report.n > 0
    assert [p.reason for p in full.predict(data.texts[:5])] == data.labels[:5]


@pytest.mark.usefixtures("small_networks")
def test_an_interrupted_network_stage_keeps_the_quick_model_in_use(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")

    def progress(stage: str, done: float) -> None:
        if stage == "full/held_out/networks" and done > 0:
            raise KeyboardInterrupt  # Ctrl+C after the first epoch

    with pytest.raises(NetworksInterrupted) as caught:
        train_and_save(_data(), registry, None, progress=progress)
    quick = caught.value.info
    assert isinstance(caught.value.cause, KeyboardInterrupt)
    assert str(caught.value) == (
        f"the network stage was interrupted; the quick model {quick.version} (features and"
        " calibrated SVM) stays in use"
    )
    assert registry.versions() == [quick.version] and registry.current() == quick.version
    assert registry.info().stage == "quick"  # type: ignore[union-attr]
    assert registry.load().predict(["waar is mijn pakket"])[0].method == "model"


@pytest.mark.usefixtures("small_networks")
def test_a_failing_network_stage_names_the_error(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")

    def progress(stage: str, done: float) -> None:
        if stage == "full/final/networks":
            raise RuntimeError("disk on fire")

    with pytest.raises(NetworksInterrupted, match=r"failed \(RuntimeError: disk on fire\)"):
        train_and_save(_data(), registry, None, progress=progress)
    assert registry.info().stage == "quick"  # type: ignore[union-attr]


@pytest.mark.usefixtures("small_networks")
def test_stage_quick_stops_after_the_quick_model(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    stages: set[str] = set()
    info, report = train_and_save(
        _data(), registry, None, stage="quick", progress=lambda s, d: stages.add(s)
    )
    assert info.stage == "quick" and registry.versions() == [info.version]
    assert not any(s.startswith("full/") for s in stages)
    assert registry.load().mlp_ is None and report.n > 0
    with pytest.raises(ValueError, match="stage must be one of"):
        train_and_save(_data(), registry, None, stage="half")


@pytest.mark.slow  # four fits: ~10 s of CPU
@pytest.mark.usefixtures("small_networks")
def test_the_staged_fit_gives_the_same_model_and_report_as_the_one_step_fit() -> None:
    texts, labels = generate("short", 5)
    probe, _ = generate("chat", 2, seed=3)
    quick: list[Any] = []
    staged, report = train_staged(texts, labels, on_quick=lambda m, r: quick.append(r))
    whole, whole_report = train_with_holdout(texts, labels)
    assert np.array_equal(staged.predict_proba(probe), whole.predict_proba(probe))
    assert report == whole_report and quick[0].n == report.n


def test_a_model_without_networks_is_saved_once_as_full(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    called: list[Any] = []
    with linear_only_training():
        info, _ = train_and_save(_data(), registry, None, on_quick=lambda i, r: called.append(i))
    assert called == [] and registry.versions() == [info.version] and info.stage == "full"


@pytest.mark.usefixtures("small_networks")
def test_cli_train_prints_both_stages_and_models_lists_them(tmp_path: Path) -> None:
    csv = _csv(tmp_path)
    common = ["--db", str(tmp_path / "s.duckdb"), "--labels", str(csv), "--any-labels"]
    result = CliRunner().invoke(cli, ["contacts", "train", *common, "--no-progress"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("quick model v0001") < out.index("full stage: training the networks")
    assert re.search(r"full model v0002-\S+ \(with the networks, \d+ epochs,", out)
    assert "replaces the quick model" in out
    listed = CliRunner().invoke(cli, ["contacts", "models", "--db", str(tmp_path / "s.duckdb")])
    rows = [line.split() for line in listed.output.splitlines() if line.startswith("v000")]
    assert [(r[0][:5], r[2]) for r in rows] == [("v0002", "full"), ("v0001", "quick")]


@pytest.mark.usefixtures("small_networks")
def test_cli_interrupted_networks_exit_130_and_say_the_quick_model_is_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: ContactClassifier, *args: Any, **kwargs: Any) -> ContactClassifier:
        raise KeyboardInterrupt

    monkeypatch.setattr(ContactClassifier, "fit_networks", interrupted)
    csv = _csv(tmp_path)
    args = ["--db", str(tmp_path / "s.duckdb"), "--labels", str(csv), "--any-labels"]
    result = CliRunner().invoke(cli, ["contacts", "train", *args, "--no-progress"])
    assert result.exit_code == 130
    assert "Stopped: the network stage was interrupted; the quick model v0001" in result.output
    assert ModelRegistry(tmp_path / "models" / "contacts").info().stage == "quick"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("lang", "quick", "full", "header"),
    [
        ("nl", "snel (zonder netwerken)", "volledig", "Fase"),
        ("en", "quick (no networks)", "full", "Stage"),
    ],
)
def test_the_models_page_shows_the_stage(
    web_app: Any,  # noqa: F811
    lang: str,
    quick: str,
    full: str,
    header: str,
) -> None:
    registry = web_app.contacts.registry
    texts, labels = generate("short", 3)
    model = ContactClassifier(mlp_models=0).fit(texts, labels)
    registry.save(model, len(texts), None, "test", stage="quick")
    registry.save(model, len(texts), None, "test", stage="full")
    with logged_in(web_app, "analyst") as client:
        page = client.get("/contacts/models", params={"lang": lang})
        api = client.get("/api/v1/contacts/models").json()["data"]
    assert page.status_code == 200
    html = page.text
    assert f"<th>{header}</th>" in html
    for stage, word in (("quick", quick), ("full", full)):  # the cell may carry more attributes
        assert re.search(f'data-stage="{stage}"[^>]*>{re.escape(word)}</td>', html), stage
    assert [v["stage"] for v in api["versions"]] == ["full", "quick"]


def test_platt_calibration_equals_sklearn_sigmoid_calibration() -> None:
    from sklearn.calibration import _sigmoid_calibration

    from klantreis.contacts.classifier import platt

    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 300)
    d = rng.normal(size=(300, 3)) + 2.0 * (y[:, None] == np.arange(3)) - 1.0
    a, b = platt(d, y[:, None] == np.arange(3))
    for k in range(3):
        want_a, want_b = _sigmoid_calibration(d[:, k], (y == k).astype(int))
        assert abs(a[k] - want_a) < 1e-3 and abs(b[k] - want_b) < 1e-3
    # a column without positives takes the sigmoid of all columns pooled
    positive = np.c_[y[:, None] == np.arange(2), np.zeros(300, dtype=bool)]
    a2, b2 = platt(d, positive)
    pooled_a, pooled_b = platt(d.reshape(-1, 1), positive.reshape(-1, 1))
    assert (a2[2], b2[2]) == (pooled_a[0], pooled_b[0]) and abs(a2[0] - a[0]) < 1e-3


@pytest.mark.usefixtures("small_networks")
def test_a_label_only_in_the_held_out_texts_is_still_learnt() -> None:
    texts, labels = generate("short", 5)
    texts, labels = [*texts, "mijn kat heeft de doos opgegeten"], [*labels, "cat"]
    # a seed whose (unstratified: "cat" has one text) split holds "cat" out
    seed = next(s for s in range(50) if "cat" in _holdout_split(texts, labels, 0.2, s, None)[3])
    seen: list[str] = []
    model, report = train_staged(texts, labels, seed=seed, progress=lambda s, d: seen.append(s))
    assert "cat" in model.classes_ and report.n > 0
    assert seen[0] == "quick/held_out/features" and seen[-1] == "full/final/networks"


def test_choose_weight_takes_the_best_mix_on_the_held_out_texts() -> None:
    from klantreis.contacts.classifier import MLP_WEIGHT, choose_weight

    y = np.arange(40) % 4
    right = np.eye(4)[y]
    wrong = np.eye(4)[(y + 1) % 4]
    # the networks right on every text, the SVM wrong on a quarter: the most network
    svm = np.where((np.arange(40) % 4 == 0)[:, None], 0.9 * wrong + 0.1 * right, right)
    assert choose_weight(svm, right * 0.55 + wrong * 0.45, y) == 0.9
    # the SVM right, the networks (confidently) wrong on a quarter: the least network
    nets = np.where((np.arange(40) % 4 == 0)[:, None], 0.35 * wrong + 0.65 * right / 4, right)
    assert choose_weight(right * 0.6 + wrong * 0.4, nets, y) == 0.5
    # both right everywhere: every weight scores alike, the prior wins
    assert choose_weight(right, right, y) == MLP_WEIGHT


@pytest.mark.usefixtures("small_networks")
def test_the_staged_weight_is_chosen_on_the_held_out_split_of_the_training_texts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from klantreis.contacts import classifier

    texts, labels = generate("short", 5)
    held_out = _holdout_split(texts, labels, 0.2, 0, None)[3]
    seen: list[np.ndarray] = []

    def choose(svm_p: np.ndarray, net_p: np.ndarray, y_idx: np.ndarray) -> float:
        seen.append(y_idx)
        return 0.6

    monkeypatch.setattr(classifier, "choose_weight", choose)
    model, _ = train_staged(texts, labels)
    # the held-out texts (never trained on), scored by the held-out SVM and networks
    assert [model.classes_[i] for i in seen[0]] == held_out
    assert model.mlp_weight == 0.6
    probe, _ = generate("chat", 2, seed=3)
    assert model.mlp_ is not None
    blocks = model.features.transform_blocks(probe)
    svm = model._svm_proba(
        np.asarray(model.features.transform(probe) @ model.coef_) + model.intercept_
    )
    want = 0.4 * svm + 0.6 * model.mlp_.proba(blocks)
    assert np.allclose(model.predict_proba(probe), want, atol=1e-4)


def _recorded_stops(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[int]]:
    """Every early stop ``train_staged`` makes (in order) and the epochs each network is
    given, recorded."""
    from klantreis.contacts import classifier
    from klantreis.contacts.network import EarlyStop

    made: list[EarlyStop] = []
    epochs: list[int] = []

    class Recorded(EarlyStop):
        def __init__(
            self, rows: Any, y: np.ndarray, patience: int, settled: float | None = None
        ) -> None:
            super().__init__(rows, y, patience, settled)
            made.append(self)

    real = classifier.train_mlp

    def train(*args: Any, **kwargs: Any) -> Any:
        epochs.append(kwargs["epochs"])
        return real(*args, **kwargs)

    monkeypatch.setattr(classifier, "EarlyStop", Recorded)
    monkeypatch.setattr(classifier, "train_mlp", train)
    return made, epochs


@pytest.mark.usefixtures("small_networks")
def test_the_staged_networks_stop_early_on_the_held_out_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from klantreis.contacts import classifier

    texts, labels = generate("short", 5)
    held_out = _holdout_split(texts, labels, 0.2, 0, None)[3]
    made, epochs = _recorded_stops(monkeypatch)
    monkeypatch.setattr(classifier, "STAGED_PATIENCE", 1)
    model, _ = train_staged(texts, labels, all_epochs=True)
    assert not made and model.epochs_run_ == [], "no stop with all_epochs"
    assert epochs == [2, 2, 2, 2]
    epochs.clear()
    model, _ = train_staged(texts, labels, stop_early=True)
    # one early stop per held-out network, on the held-out texts (never trained on)
    assert len(made) == 2
    for stop in made:
        assert [model.classes_[i] for i in stop.labels] == held_out
        assert stop.rows.shape[0] == len(held_out) and stop.patience == 1
        assert stop.settled is None and stop.keeps_best
    # the final networks train as many epochs as the held-out ones ran (at most 2)
    ran = min(max(s.ran for s in made), 2)
    assert model.epochs_run_ == [s.ran for s in made]
    assert epochs == [2, 2, ran, ran] and model.mlp_epochs == ran
    assert [len(s) for s in model.epoch_scores_] == model.epochs_run_
    with pytest.raises(ValueError, match="exclude"):
        train_staged(texts, labels, stop_early=True, all_epochs=True)


def test_the_staged_networks_stop_once_their_held_out_predictions_settle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from klantreis.contacts import classifier

    monkeypatch.setattr(classifier, "ContactClassifier", FiveEpochs)
    texts, labels = generate("short", 60)
    held_out = _holdout_split(texts, labels, 0.2, 0, None)[3]
    made, epochs = _recorded_stops(monkeypatch)
    monkeypatch.setattr(classifier, "STAGED_SETTLED", 1.0 - 1e-9)  # settled at once
    monkeypatch.setattr(classifier, "STAGED_SETTLED_EPOCHS", 1)
    model, _ = train_staged(texts, labels)  # the default stop
    assert len(made) == 2
    for stop in made:
        assert [model.classes_[i] for i in stop.labels] == held_out
        assert stop.settled == 1.0 - 1e-9 and stop.patience == 1 and not stop.keeps_best
        # every prediction may change: settled after the 2nd epoch (the first comparison)
        assert stop.ran == 2 and len(stop.changed) == 1
    # the held-out networks were given 5 epochs; they are the final model's (decision 75),
    # or without that the final ones train as many as they ran
    assert epochs == [5, 5] and model.epochs_run_ == [2, 2] and model.mlp_epochs == 2
    assert model.networks_kept_
    monkeypatch.setattr(classifier, "STAGED_REUSE", False)
    made.clear()
    epochs.clear()
    model, _ = train_staged(texts, labels)
    assert epochs == [5, 5, 2, 2] and model.epochs_run_ == [2, 2] and model.mlp_epochs == 2
    assert not model.networks_kept_
    assert [len(c) for c in model.epoch_changes_] == [1, 1]


def test_settled_held_out_networks_are_the_final_model_s_networks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from klantreis.contacts import classifier

    monkeypatch.setattr(classifier, "ContactClassifier", FiveEpochs)
    texts, labels = generate("short", 60)
    made, epochs = _recorded_stops(monkeypatch)
    kept: list[Any] = []
    real = classifier.ContactClassifier.fit_networks

    def fit_networks(self: ContactClassifier, *args: Any, **kwargs: Any) -> ContactClassifier:
        out = real(self, *args, **kwargs)
        kept.append(self.mlp_)
        return out

    monkeypatch.setattr(classifier.ContactClassifier, "fit_networks", fit_networks)
    monkeypatch.setattr(classifier, "STAGED_SETTLED", 1.0 - 1e-9)  # settled at once
    monkeypatch.setattr(classifier, "STAGED_SETTLED_EPOCHS", 1)
    stages: list[tuple[str, float]] = []
    model, report = train_staged(texts, labels, progress=lambda s, d: stages.append((s, d)))
    # both held-out networks stopped after 2 of 5 epochs: no final networks are trained
    assert [s.ran for s in made] == [2, 2] and epochs == [5, 5] and len(kept) == 1
    assert model.mlp_ is kept[0] and model.stage == "full" and model._kept_ is None
    assert model.mlp_epochs == 2 and model.epochs_run_ == [2, 2] and model.networks_kept_
    assert stages[-1] == ("full/final/networks", 1.0)
    assert report.macro_f1 > 0.5
    # predictions that never settle (or all_epochs): the final networks train on everything
    for seen in (made, epochs, kept):
        seen.clear()
    monkeypatch.setattr(classifier, "STAGED_SETTLED", 0.0)
    monkeypatch.setattr(classifier, "STAGED_SETTLED_EPOCHS", 5)
    model, _ = train_staged(texts, labels)
    assert epochs == [5, 5, 5, 5] and len(kept) == 2 and model.mlp_ is kept[1]
    assert not model.networks_kept_
    epochs.clear()
    kept.clear()
    model, _ = train_staged(texts, labels, all_epochs=True)
    assert epochs == [5, 5, 5, 5] and len(kept) == 2 and model.mlp_ is kept[1]


@pytest.mark.parametrize(
    ("flag", "wanted"),
    [([], (False, False)), (["--stop-early"], (True, False)), (["--all-epochs"], (False, True))],
)
def test_cli_train_stops_the_networks_early_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: list[str], wanted: tuple[bool, bool]
) -> None:
    from klantreis.contacts import training

    asked: list[tuple[bool, bool]] = []

    def record(*args: Any, **kwargs: Any) -> Any:
        asked.append((kwargs["stop_early"], kwargs["all_epochs"]))
        raise KeyboardInterrupt  # stop before any training

    monkeypatch.setattr(training, "train_and_save", record)
    common = ["--db", str(tmp_path / "s.duckdb"), "--labels", str(_csv(tmp_path))]
    CliRunner().invoke(cli, ["contacts", "train", *common, "--any-labels", *flag])
    assert asked == [wanted]


def test_cli_train_refuses_both_stops(tmp_path: Path) -> None:
    common = ["--db", str(tmp_path / "s.duckdb"), "--labels", str(_csv(tmp_path))]
    both = ["--stop-early", "--all-epochs"]
    result = CliRunner().invoke(cli, ["contacts", "train", *common, "--any-labels", *both])
    assert result.exit_code == 2 and result.exception is not None
    assert "--stop-early and --all-epochs exclude each other" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "models").exists()
