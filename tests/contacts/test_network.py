"""The compiled network step (numba) computes what the NumPy step it replaced computed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from klantreis.contacts import network
from klantreis.contacts.network import compiled_step, softmax, train_mlp


def _numpy_adam(
    x: sp.csr_matrix,
    y: np.ndarray,
    params: list[np.ndarray],
    steps: int,
    lr: float,
    rowwise: bool = False,
) -> None:
    """The NumPy step of the earlier version (lazy Adam on the batch's rows), without
    dropout, the whole of ``x`` as one batch each step. With ``rowwise`` the first layer's
    rows get RMSprop on each row's mean square gradient instead (bias-corrected per row)."""
    w1, b1, w2, b2 = params
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    row_square, row_count = np.zeros(w1.shape[0]), np.zeros(w1.shape[0])
    onehot = np.eye(w2.shape[1], dtype=np.float32)[y]
    for t in range(1, steps + 1):
        z1 = np.asarray(x @ w1) + b1
        h = np.maximum(z1, 0)
        d2 = (softmax(h @ w2 + b2).astype(np.float32) - onehot) / x.shape[0]
        dh = (d2 @ w2.T) * (z1 > 0)
        rows = np.unique(x.indices)
        grads = {0: np.asarray(x.tocsc()[:, rows].T @ dh), 1: dh.sum(0), 2: h.T @ d2}
        grads[3] = d2.sum(0)
        step = lr * (1 - (t - 1) / steps) * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        for i, g in grads.items():
            if rowwise and i == 0:
                row_square[rows] = 0.999 * row_square[rows] + 0.001 * (g * g).mean(axis=1)
                row_count[rows] += 1
                scale = np.sqrt(row_square[rows] / (1 - 0.999 ** row_count[rows])) + 1e-8
                w1[rows] -= lr * (1 - (t - 1) / steps) * g / scale[:, None]
                continue
            target = (rows, slice(None)) if i == 0 else (slice(None),)
            m[i][target] = 0.9 * m[i][target] + 0.1 * g
            v[i][target] = 0.999 * v[i][target] + 0.001 * g * g
            params[i][target] -= step * m[i][target] / (np.sqrt(v[i][target]) + 1e-8)


@pytest.mark.parametrize("first_layer", ["adam", "rowwise"])
def test_the_compiled_step_equals_the_numpy_step(first_layer: str) -> None:
    rng = np.random.default_rng(3)
    dense = rng.random((12, 40)) * (rng.random((12, 40)) < 0.2)
    x = sp.csr_matrix(dense, dtype=np.float32)
    y = rng.integers(0, 3, 12)
    got = train_mlp(
        x,
        y,
        3,
        hidden=8,
        epochs=4,
        batch=12,
        drop_in=0,
        drop_hidden=0,
        min_steps=1,
        first_layer=first_layer,
    )
    start = np.random.default_rng(0)  # train_mlp's first draws: the initial weights
    params = [
        (start.standard_normal((40, 8)) * np.sqrt(2.0 / 150)).astype(np.float32),
        np.zeros(8, np.float32),
        (start.standard_normal((8, 3)) / np.sqrt(8)).astype(np.float32),
        np.zeros(3, np.float32),
    ]
    initial = params[0].copy()
    _numpy_adam(x, y, params, steps=4, lr=3e-3, rowwise=first_layer == "rowwise")
    assert np.allclose(got.w1, params[0], atol=2e-3)  # w1 is rounded to float16 as saved
    for mine, theirs in zip((got.b1, got.w2[0], got.b2[0]), params[1:], strict=True):
        assert np.allclose(mine, theirs, atol=1e-5)
    assert np.abs(got.w1 - initial).max() > 5e-3  # the weights did move


def test_training_is_reproducible_and_reports_each_epoch() -> None:
    rng = np.random.default_rng(5)
    x = sp.random(300, 60, density=0.1, random_state=5, format="csr", dtype=np.float32)
    y = rng.integers(0, 4, 300)
    seen: list[tuple[int, int]] = []
    kw: dict[str, Any] = {"hidden": 16, "epochs": 3, "min_steps": 20, "seed": 2}
    one = train_mlp(x, y, 4, **kw, on_epoch=lambda d, t: seen.append((d, t)))
    two = train_mlp(x, y, 4, **kw)
    assert np.array_equal(one.w1, two.w1) and np.array_equal(one.w2, two.w2)
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)  # 20 steps at least: 4 epochs of 5 batches
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_without_a_writable_cache_the_step_is_compiled_in_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numba

    real = numba.njit
    asked: list[bool] = []

    def njit(**options: Any) -> Any:  # as compiled_step calls it: options only
        asked.append(bool(options.get("cache")))
        if options.get("cache"):
            raise RuntimeError("cannot cache function '_epoch': no locator available")
        return real(**options)

    monkeypatch.setattr(numba, "njit", njit)
    step = compiled_step.__wrapped__()
    assert asked == [True, False]
    assert step.py_func is network._epoch


def test_an_unknown_first_layer_update_is_refused() -> None:
    x = sp.csr_matrix(np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError, match="first-layer update"):
        train_mlp(x, np.array([0, 1, 0, 1]), 2, hidden=4, first_layer="sgd")


def _loss(net: network.Mlp, x: sp.csr_matrix, y: np.ndarray) -> float:
    p = net.output(np.asarray(x @ net.w1) + net.b1)
    return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())


def test_a_warm_start_begins_from_the_given_network_and_keeps_learning() -> None:
    rng = np.random.default_rng(7)
    x = sp.random(400, 80, density=0.1, random_state=7, format="csr", dtype=np.float32)
    y = np.asarray(x @ rng.standard_normal((80, 5))).argmax(axis=1)  # learnable labels
    kw: dict[str, Any] = {
        "hidden": 16,
        "min_steps": 1,
        "drop_in": 0.0,
        "drop_hidden": 0.0,
        "lr": 1e-2,
    }
    first = train_mlp(x, y, 5, epochs=2, seed=1, **kw)
    fresh = train_mlp(x, y, 5, epochs=1, seed=2, **kw)
    warm = train_mlp(x, y, 5, epochs=1, seed=2, init=first, **kw)
    # one more epoch from the trained network: below both its start and a fresh epoch
    assert _loss(warm, x, y) < _loss(first, x, y) < _loss(fresh, x, y)
    still = train_mlp(x, y, 5, epochs=1, seed=2, init=first, **{**kw, "lr": 1e-9})
    assert np.allclose(still.w1, first.w1, atol=1e-3) and np.allclose(still.w2, first.w2)
    with pytest.raises(ValueError, match="another shape"):
        train_mlp(x, y, 5, epochs=1, hidden=8, init=first)


def test_stacked_networks_unstack_to_the_same_networks() -> None:
    x = sp.random(100, 30, density=0.2, random_state=3, format="csr", dtype=np.float32)
    y = np.random.default_rng(3).integers(0, 3, 100)
    nets = [train_mlp(x, y, 3, hidden=8, epochs=1, seed=s) for s in (0, 1)]
    parts = network.Mlp.stack(nets).unstack()
    for part, net in zip(parts, nets, strict=True):
        assert all(
            np.array_equal(a, b)
            for a, b in zip(vars(part).values(), vars(net).values(), strict=True)
        )


def test_skipping_dropped_rows_changes_only_rows_whose_entries_all_dropped() -> None:
    rng = np.random.default_rng(7)
    x = sp.random(200, 50, density=0.08, random_state=7, format="csr", dtype=np.float32)
    y = rng.integers(0, 3, 200)
    kw: dict[str, Any] = {"hidden": 8, "epochs": 3, "batch": 20, "seed": 1}
    # nothing dropped out: no row is skipped, the same network
    plain = train_mlp(x, y, 3, drop_in=0.0, **kw)
    skipping = train_mlp(x, y, 3, drop_in=0.0, skip_dropped=True, **kw)
    assert np.array_equal(plain.w1, skipping.w1) and np.array_equal(plain.w2, skipping.w2)
    # with dropout the rows whose batch entries all dropped keep still: another network
    plain = train_mlp(x, y, 3, drop_in=0.5, **kw)
    skipping = train_mlp(x, y, 3, drop_in=0.5, skip_dropped=True, **kw)
    assert not np.array_equal(plain.w1, skipping.w1)
    # a feature present in no text keeps its initial weights (train_mlp's first draws)
    empty = sp.csr_matrix(sp.hstack([x, sp.csr_matrix((200, 1), dtype=np.float32)]))
    moved = train_mlp(empty, y, 3, drop_in=0.5, skip_dropped=True, **kw)
    start = np.random.default_rng(1).standard_normal((51, 8)) * np.sqrt(2.0 / 150)
    start = start.astype(np.float32).astype(np.float16).astype(np.float32)
    assert np.array_equal(moved.w1[-1], start[-1]) and not np.array_equal(moved.w1[0], start[0])


def _toy(seed: int) -> tuple[np.random.Generator, Any, np.ndarray, Any]:
    """A random generator, 200 training rows of 40 features, their 3 classes, 60 held-out
    rows (sparse, float32)."""
    rng = np.random.default_rng(seed)
    x = sp.random(200, 40, density=0.1, random_state=seed, format="csr", dtype=np.float32)
    held = sp.random(60, 40, density=0.1, random_state=seed + 1, format="csr", dtype=np.float32)
    return rng, x, rng.integers(0, 3, 200), held


def test_early_stopping_stops_when_the_held_out_score_stops_improving() -> None:
    from klantreis.contacts.network import EarlyStop, Mlp

    rng, x, y, held = _toy(3)
    kw: dict[str, Any] = {"hidden": 8, "epochs": 30, "batch": 20, "min_steps": 20, "seed": 1}

    class Scripted(EarlyStop):
        """Held-out scores from a script; remembers the weights scored each epoch."""

        def __init__(self, script: list[float], patience: int) -> None:
            super().__init__(held, rng.integers(0, 3, 60), patience)
            self.script = script
            self.weights: list[np.ndarray] = []

        def observe(self, net: Mlp) -> bool:
            self.weights.append(net.w1.copy())
            improved = not self.scores or self.script[self.ran] > max(self.scores)
            self.scores.append(self.script[self.ran])
            return improved

    # best after epoch 3, then 2 epochs without a gain: 5 epochs, the 3rd epoch's weights
    stop = Scripted([0.1, 0.3, 0.5, 0.5, 0.4] + [0.9] * 25, patience=2)
    net = train_mlp(x, y, 3, stop=stop, **kw)
    assert stop.ran == 5 and stop.best == 3
    assert np.array_equal(net.w1, stop.weights[2].astype(np.float16).astype(np.float32))
    assert not np.array_equal(stop.weights[2], stop.weights[4])
    # not before min_steps steps (10 per epoch): a flat score stops after epoch 4, not 3
    flat = Scripted([0.5] * 30, patience=2)
    train_mlp(x, y, 3, stop=flat, **{**kw, "min_steps": 40})
    assert flat.ran == 4
    # a score that keeps improving trains every epoch
    rising = Scripted([i / 30 for i in range(30)], patience=2)
    train_mlp(x, y, 3, stop=rising, **kw)
    assert rising.ran == 30


def test_the_early_stop_scores_the_networks_macro_f1_on_its_rows() -> None:
    from sklearn.metrics import f1_score

    from klantreis.contacts.network import EarlyStop

    rng = np.random.default_rng(5)
    x = sp.random(200, 40, density=0.15, random_state=5, format="csr", dtype=np.float32)
    y = rng.integers(0, 3, 200)
    net = train_mlp(x, y, 3, hidden=8, epochs=2, seed=0)
    stop = EarlyStop(x[:80], y[:80], patience=1)
    assert stop.observe(net) and not stop.observe(net) and stop.done()
    rows = x[:80]
    guess = net.proba((rows, rows[:, :0], np.zeros((80, 0)))).argmax(axis=1)
    want = f1_score(y[:80], guess, average="macro")
    assert stop.scores[0] == pytest.approx(want)
    with pytest.raises(ValueError, match="patience"):
        EarlyStop(x, y, patience=0)


def test_a_settled_stop_ends_once_the_predictions_stop_changing_and_keeps_the_last_weights() -> (
    None
):
    from klantreis.contacts.network import EarlyStop, Mlp

    rng, x, y, held = _toy(6)
    kw: dict[str, Any] = {"hidden": 8, "epochs": 12, "batch": 20, "min_steps": 20, "seed": 2}

    class Scripted(EarlyStop):
        """Shares of changed predictions from a script (the score falls: no best epoch)."""

        def __init__(self, script: list[float]) -> None:
            super().__init__(held, rng.integers(0, 3, 60), patience=2, settled=0.01)
            self.script = script
            self.weights: list[np.ndarray] = []

        def observe(self, net: Mlp) -> bool:
            self.weights.append(net.w1.copy())
            if self.scores:
                self.changed.append(self.script[self.ran - 1])
            self.scores.append(1.0 - self.ran / 100)
            return self.ran == 1

    # changed after epochs 2, 3, ...: settled (<= 1%) after 3 alone, then after 5 and 6:
    # 6 epochs, the 6th's weights (not the best-scored 1st's)
    stop = Scripted([0.2, 0.005, 0.3, 0.01, 0.0] + [0.5] * 10)
    net = train_mlp(x, y, 3, stop=stop, **kw)
    assert stop.ran == 6 and stop.best == 1 and not stop.keeps_best
    assert np.array_equal(net.w1, stop.weights[5].astype(np.float16).astype(np.float32))
    # predictions that never settle: every epoch, the very network trained without a stop
    busy = Scripted([0.2] * 12)
    net = train_mlp(x, y, 3, stop=busy, **kw)
    assert busy.ran == 12
    plain = train_mlp(x, y, 3, **kw)
    for a, b in zip(
        (net.w1, net.b1, net.w2, net.b2), (plain.w1, plain.b1, plain.w2, plain.b2), strict=True
    ):
        assert np.array_equal(a, b)


def test_with_a_stop_each_epoch_reports_the_fewest_epochs_it_can_still_end_at() -> None:
    from klantreis.contacts.network import EarlyStop, Mlp

    rng, x, y, held = _toy(6)
    kw: dict[str, Any] = {"hidden": 8, "epochs": 12, "batch": 20, "min_steps": 20, "seed": 2}

    class Scripted(EarlyStop):
        def __init__(self, script: list[float], settled: float | None = 0.01) -> None:
            super().__init__(held, rng.integers(0, 3, 60), patience=2, settled=settled)
            self.script = script

        def observe(self, net: Mlp) -> bool:
            if self.settled is None:  # the script is the held-out score
                improved = not self.scores or self.script[self.ran] > max(self.scores)
                self.scores.append(self.script[self.ran])
                return improved
            if self.scores:
                self.changed.append(self.script[self.ran - 1])
            self.scores.append(0.5)
            return False

    # changed after epochs 2..6: 0.2 (not settled), 0.005 (settled), 0.3, 0.01, 0.0 -> stops
    # after 6; the plan: 3 (at least 1 + patience), 4 after the 2nd epoch, 6 after the 4th
    seen: list[tuple[int, int]] = []
    stop = Scripted([0.2, 0.005, 0.3, 0.01, 0.0] + [0.5] * 10)
    train_mlp(x, y, 3, stop=stop, on_epoch=lambda d, t: seen.append((d, t)), **kw)
    assert seen == [(0, 3), (1, 3), (2, 4), (3, 4), (4, 6), (5, 6), (6, 6)]
    # predictions that never settle: the plan grows by one epoch each, up to all 12
    seen.clear()
    train_mlp(x, y, 3, stop=Scripted([0.2] * 12), on_epoch=lambda d, t: seen.append((d, t)), **kw)
    assert seen == [(0, 3), (1, 3)] + [(d, min(d + 2, 12)) for d in range(2, 12)] + [(12, 12)]
    # the best-score stop: best epoch + patience; min_steps (40: 4 epochs) is a floor
    seen.clear()
    best = Scripted([0.1, 0.3, 0.2, 0.2] + [0.1] * 8, settled=None)
    train_mlp(x, y, 3, stop=best, on_epoch=lambda d, t: seen.append((d, t)), **kw)
    assert seen == [(0, 3), (1, 3), (2, 4), (3, 4), (4, 4)]
    seen.clear()
    best = Scripted([0.1, 0.3, 0.2, 0.2] + [0.1] * 8, settled=None)
    train_mlp(
        x, y, 3, stop=best, on_epoch=lambda d, t: seen.append((d, t)), **{**kw, "min_steps": 50}
    )
    assert seen == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    # without a stop: every epoch of the plan
    seen.clear()
    train_mlp(x, y, 3, on_epoch=lambda d, t: seen.append((d, t)), **{**kw, "epochs": 3})
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_the_settled_stop_counts_the_changed_predictions() -> None:
    from klantreis.contacts.network import EarlyStop, Mlp

    rng = np.random.default_rng(8)
    x = sp.random(200, 40, density=0.15, random_state=8, format="csr", dtype=np.float32)
    y = rng.integers(0, 3, 200)
    one = train_mlp(x, y, 3, hidden=8, epochs=1, seed=0)
    two = train_mlp(x, y, 3, hidden=8, epochs=3, seed=1)
    rows = x[:80]
    stop = EarlyStop(rows, y[:80], patience=1, settled=0.0)
    stop.observe(one)
    assert stop.changed == [] and not stop.done()
    stop.observe(one)
    assert stop.changed == [0.0] and stop.done()
    stop.observe(two)

    def guess(net: Mlp) -> np.ndarray:
        return np.asarray(net.proba((rows, rows[:, :0], np.zeros((80, 0)))).argmax(axis=1))

    share = float(np.mean(guess(one) != guess(two)))
    assert share > 0 and stop.changed[-1] == pytest.approx(share) and not stop.done()
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="settled"):
            EarlyStop(rows, y[:80], patience=1, settled=bad)
