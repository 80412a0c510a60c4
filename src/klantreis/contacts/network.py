"""The contact classifier's small neural networks: one hidden ReLU layer over the sparse
TF-IDF features, trained with a compiled step (numba, BSD-2-Clause; compiled on first use
and cached on disk when a cache folder is writable).

A training step works column by column over the batch: every feature row present in the
batch is read once for the forward pass, and once more to compute its gradient and apply
the (lazy) Adam update in the same pass. NumPy needed a dozen array operations and
temporaries per step for the same; the compiled step is several times cheaper and releases
the GIL, so the two networks and the SVM train in parallel threads.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import scipy.sparse as sp

__all__ = ["EarlyStop", "Mlp", "compiled", "compiled_step", "linear_compiled", "train_mlp"]

FIRST_LAYER_UPDATES = ("adam", "rowwise", "rowwise_momentum")

log = logging.getLogger(__name__)


@dataclass
class Mlp:
    """One or more one-hidden-layer networks over the same input, stacked for prediction:
    the first layers side by side (one sparse product for all), the second layers apart.
    Shapes: ``w1`` (features, k * hidden), ``b1`` (k * hidden,), ``w2`` (k, hidden,
    classes), ``b2`` (k, classes). Pickled with ``w1`` in float16 (half the file)."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    @classmethod
    def stack(cls, nets: Sequence[Mlp]) -> Mlp:
        return cls(
            np.hstack([n.w1 for n in nets]),
            np.concatenate([n.b1 for n in nets]),
            np.concatenate([n.w2 for n in nets]),
            np.concatenate([n.b2 for n in nets]),
        )

    def unstack(self) -> list[Mlp]:
        """The stacked networks one by one (``stack``'s inverse)."""
        hidden = self.w2.shape[1]
        return [
            Mlp(
                self.w1[:, i * hidden : (i + 1) * hidden],
                self.b1[i * hidden : (i + 1) * hidden],
                self.w2[i : i + 1],
                self.b2[i : i + 1],
            )
            for i in range(self.w2.shape[0])
        ]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "w1": self.w1.astype(np.float16)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.w1 = np.asarray(self.w1, dtype=np.float32)

    def proba(self, blocks: tuple[Any, Any, np.ndarray]) -> np.ndarray:
        """Mean softmax of the networks."""
        return self.output(linear(float32_blocks(blocks), self.w1, self.b1))

    def output(self, z1: np.ndarray) -> np.ndarray:
        """Mean softmax of the networks from the first layers' outputs (before the ReLU)."""
        h = np.maximum(z1, 0.0)
        k, hidden = self.w2.shape[0], self.w2.shape[1]
        out = np.zeros((h.shape[0], self.w2.shape[2]))
        for i in range(k):
            out += softmax(h[:, i * hidden : (i + 1) * hidden] @ self.w2[i] + self.b2[i])
        mean: np.ndarray = out / k
        return mean


class EarlyStop:
    """Early stopping of one network on held-out rows (``rows``: float32 CSR feature rows
    the network is not trained on, ``labels``: their class indices): after every epoch the
    network's macro-F1 there is recorded (``scores``; the first layer's product by the
    compiled kernel, ~5x less CPU than SciPy's), and the share of the rows whose predicted
    class changed since the epoch before (``changed``).

    Without ``settled`` training stops once the score has not improved (strictly) for
    ``patience`` epochs, and the network keeps its best epoch's weights (``keeps_best``).
    With ``settled`` (a share, e.g. 0.002) it stops once the predictions changed on at most
    that share of the rows in each of the last ``patience`` epochs, and keeps the weights
    it has: a network whose predictions never settle trains every epoch, exactly as
    without a stop. ``ran`` is the number of epochs trained, ``best`` the best one
    (1-based)."""

    def __init__(
        self, rows: Any, labels: np.ndarray, patience: int, settled: float | None = None
    ) -> None:
        if patience < 1:
            raise ValueError("patience must be at least 1 epoch")
        if settled is not None and not 0 <= settled < 1:
            raise ValueError("settled must be a share from 0 to below 1")
        self.rows = rows
        self.labels = np.asarray(labels)
        self.classes = np.unique(self.labels)
        self.patience = patience
        self.settled = settled
        self.scores: list[float] = []
        self.changed: list[float] = []
        self._last: np.ndarray | None = None

    @property
    def keeps_best(self) -> bool:
        """Whether the network returns its best epoch's weights (else its last ones)."""
        return self.settled is None

    @property
    def ran(self) -> int:
        return len(self.scores)

    @property
    def best(self) -> int:
        return int(np.argmax(self.scores)) + 1 if self.scores else 0

    def observe(self, net: Mlp) -> bool:
        """Score ``net`` after one more epoch; True when it is the best so far."""
        from sklearn.metrics import f1_score

        rows = self.rows
        z = linear_compiled((rows, rows[:, :0], np.zeros((rows.shape[0], 0))), net.w1, net.b1)
        guess = net.output(z).argmax(axis=1)
        if self._last is not None:
            self.changed.append(float(np.mean(guess != self._last)))
        self._last = guess
        score = float(
            f1_score(self.labels, guess, labels=self.classes, average="macro", zero_division=0)
        )
        improved = not self.scores or score > max(self.scores)
        self.scores.append(score)
        return improved

    def done(self) -> bool:
        """No improvement in the last ``patience`` epochs; with ``settled``: at most that
        share of the predictions changed in each of the last ``patience`` epochs."""
        return self._quiet() >= self.patience

    def _quiet(self) -> int:
        """The epochs in a row, up to the last, that count towards the stop: without an
        improvement, or with ``settled`` with at most that share of predictions changed."""
        if self.settled is None:
            return self.ran - self.best
        run = 0
        for share in reversed(self.changed):
            if share > self.settled:
                break
            run += 1
        return run

    def earliest(self) -> int:
        """The fewest epochs in all that the network can train from here: the epoch at which
        the stop ends it if every epoch from now on counts towards the stop (the first
        epoch is never compared, so at least ``patience + 1``). A progress plan: it only
        grows when an epoch does not count towards the stop."""
        return max(self.ran, 1) + self.patience - min(self._quiet(), self.patience)


def float32_blocks(blocks: tuple[Any, Any, np.ndarray]) -> tuple[Any, Any, np.ndarray]:
    words, chars, dense = blocks
    return words.astype(np.float32), chars.astype(np.float32), dense.astype(np.float32)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def linear(
    blocks: tuple[Any, Any, np.ndarray], coef: np.ndarray, intercept: np.ndarray
) -> np.ndarray:
    """Decision values: each feature block times its rows of the weights."""
    words, chars, dense = blocks
    nw, nc = words.shape[1], chars.shape[1]
    out: np.ndarray = (
        np.asarray(words @ coef[:nw]) + np.asarray(chars @ coef[nw : nw + nc]) + intercept
    )
    if dense.shape[1]:
        out += dense @ coef[nw + nc :]
    return out


#: texts per slice of the compiled product: its output rows (589 float32 each for the
#: default model) stay in the CPU's cache while every feature row is read once per slice
_SLICE = 2000


def linear_compiled(
    blocks: tuple[Any, Any, np.ndarray], coef: np.ndarray, intercept: np.ndarray
) -> np.ndarray:
    """``linear`` for float32 blocks and weights with a compiled sparse product: per slice of
    texts, each feature row of the weights present in the slice is read once and added to
    the texts that have it. Equal to ``linear`` up to float32 rounding (another order of
    the sums); about 1.5x faster on the classifier's fused weights."""
    words, chars, dense = blocks
    nw, nc = words.shape[1], chars.shape[1]
    out = np.empty((words.shape[0], coef.shape[1]), dtype=np.float32)
    out[:] = intercept
    kernel = compiled(_add_columns)
    for start in range(0, out.shape[0], _SLICE):
        part = out[start : start + _SLICE]
        for block, weights in ((words, coef[:nw]), (chars, coef[nw : nw + nc])):
            by_feature = sp.csc_matrix(block[start : start + _SLICE])
            kernel(by_feature.indptr, by_feature.indices, by_feature.data, weights, part)
    if dense.shape[1]:
        out += dense @ coef[nw + nc :]
    return out


def _add_columns(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, w: np.ndarray, out: np.ndarray
) -> None:
    """``out += x @ w`` for ``x`` in CSC form (compiled by numba)."""
    k = out.shape[1]
    for c in range(indptr.shape[0] - 1):
        if indptr[c] == indptr[c + 1]:
            continue
        row = w[c]
        for p in range(indptr[c], indptr[c + 1]):
            value = data[p]
            target = out[indices[p]]
            for j in range(k):
                target[j] += value * row[j]


def train_mlp(
    x: Any,
    y: np.ndarray,
    n_classes: int,
    hidden: int = 256,
    epochs: int = 10,
    lr: float = 3e-3,
    batch: int = 64,
    drop_in: float = 0.2,
    drop_hidden: float = 0.5,
    min_steps: int = 200,
    seed: int = 0,
    on_epoch: Callable[[int, int], None] | None = None,
    first_layer: str = "adam",
    init: Mlp | None = None,
    skip_dropped: bool = False,
    stop: EarlyStop | None = None,
) -> Mlp:
    """A ReLU network with one hidden layer on sparse features (float32).

    Adam with a learning rate decaying linearly to 0, softmax cross-entropy, dropout of the
    input's non-zeros (``drop_in``) and of the hidden units. The first layer is updated only
    in the rows of the features present in a batch (lazy Adam), so a step costs the batch's
    non-zeros times ``hidden``, not the whole vocabulary. Small training sets get at least
    ``min_steps`` steps. ``on_epoch(done, total)`` is called before each epoch and at the end
    (``total``: the epochs planned; with ``stop`` the fewest it can still end at).
    The step is compiled (``compiled_step``): the first call in a process without a disk
    cache compiles it (a few seconds, once).

    With ``skip_dropped`` a feature row none of whose entries in a batch survived the input
    dropout gets no update in that step (its gradient is zero; lazy Adam would still move it
    by its momentum): about 11% fewer row updates on Banking77 (batches of 64, dropout 0.2),
    the first layer's row updates being most of a step's cost.

    With ``init`` (one trained network of the same shape, e.g. the held-out fit's) training
    starts from its weights instead of random ones (fresh Adam moments): a warm start that
    needs far fewer epochs than a fit from scratch.

    With ``stop`` (an ``EarlyStop`` on held-out rows) the network is scored after each
    epoch and stops early once the score has not improved for ``stop.patience`` epochs
    (returning its best epoch's weights), or with ``stop.settled`` once its held-out
    predictions have stopped changing (returning the weights it has); never before
    ``min_steps`` steps. The learning rate still decays over ``epochs``.
    """
    rng = np.random.default_rng(seed)
    x = sp.csr_matrix(x, dtype=np.float32)
    x.sort_indices()
    n, n_features = x.shape
    # the feature blocks have unit norm: hidden pre-activations start with variance ~0.05
    w1 = (rng.standard_normal((n_features, hidden)) * np.sqrt(2.0 / 150)).astype(np.float32)
    b1 = np.zeros(hidden, np.float32)
    w2 = (rng.standard_normal((hidden, n_classes)) / np.sqrt(hidden)).astype(np.float32)
    b2 = np.zeros(n_classes, np.float32)
    if init is not None:
        if init.w1.shape != (n_features, hidden) or init.w2.shape != (1, hidden, n_classes):
            raise ValueError("the warm start network has another shape")
        w1 = np.array(init.w1, dtype=np.float32)
        b1, w2, b2 = (np.array(a, dtype=np.float32) for a in (init.b1, init.w2[0], init.b2[0]))
    params = (w1, b1, w2, b2)
    moments = [np.zeros_like(p) for q in params for p in (q, q)]
    rowwise = FIRST_LAYER_UPDATES.index(first_layer) if first_layer in FIRST_LAYER_UPDATES else -1
    if rowwise > 0:  # one mean square and one update count per feature row
        moments[1] = np.zeros((n_features, 2), np.float32)
        if rowwise == 1:  # no momentum
            moments[0] = np.zeros((1, 1), np.float32)
    if rowwise < 0:
        raise ValueError(f"unknown first-layer update {first_layer!r}")
    per_epoch = (n + batch - 1) // batch
    epochs = max(epochs, -(-min_steps // per_epoch))
    schedule = np.array([lr, epochs * per_epoch, 1.0 / (1 - drop_in), 1.0 / (1 - drop_hidden)])
    most = min(n_features, int(np.diff(x.indptr).max(initial=0)) * batch + 1)
    scratch = (
        np.full(n_features, -1, np.int64),  # step that last saw each feature
        np.zeros(n_features, np.int64),  # its slot in the batch
        np.zeros(most, np.int64),  # feature of each slot
        np.zeros(most + 1, np.int64),  # start of each slot's entries
        np.zeros(x.nnz if n else 0, np.int64),  # entries: batch row
        np.zeros(x.nnz if n else 0, np.float32),  # entries: value after dropout
    )
    labels = np.asarray(y, dtype=np.int64)
    step = compiled_step()
    t = 0
    best: tuple[np.ndarray, ...] = ()
    # with a stop the progress counts the epochs it can still end at (``EarlyStop.earliest``),
    # never fewer than min_steps needs: the epochs that will run when it ends there
    fewest = -(-min_steps // max(per_epoch, 1))
    trained = epochs
    for epoch in range(epochs):
        if on_epoch is not None:
            plan = epochs if stop is None else max(stop.earliest(), fewest, epoch + 1)
            on_epoch(epoch, min(plan, epochs))
        order = rng.permutation(n).astype(np.int64)
        keep_in = rng.random(x.nnz) > drop_in
        keep_hidden = rng.random((n, hidden), dtype=np.float32) > drop_hidden
        t = step(
            x.indptr.astype(np.int64),
            x.indices.astype(np.int64),
            x.data,
            labels,
            order,
            keep_in,
            keep_hidden,
            *params,
            *moments,
            *scratch,
            schedule,
            batch,
            t,
            rowwise,
            skip_dropped,
        )
        if stop is not None:
            if stop.observe(Mlp(w1, b1, w2[None], b2[None])) and stop.keeps_best:
                best = tuple(p.copy() for p in params)
            elif stop.done() and t >= min_steps:
                trained = epoch + 1
                break
    if stop is not None and best:
        w1, b1, w2, b2 = best
    if on_epoch is not None:
        on_epoch(trained, trained)
    w1 = w1.astype(np.float16).astype(np.float32)  # as saved: loading changes nothing
    return Mlp(w1, b1, w2[None], b2[None])


@functools.cache
def compiled(kernel: Callable[..., Any]) -> Callable[..., Any]:
    """A prediction kernel compiled by numba (cached on disk when a cache folder is
    writable, else compiled in memory once per process)."""
    import numba

    def compile_with(cache: bool) -> Callable[..., Any]:
        jit = numba.njit(cache=cache, nogil=True, fastmath=True, boundscheck=False)
        return cast("Callable[..., Any]", jit(kernel))

    try:
        return compile_with(cache=True)
    except RuntimeError as error:  # no writable cache folder
        log.info("numba cache not available (%s): compiling in memory", error)
        return compile_with(cache=False)


@functools.cache
def compiled_step() -> Callable[..., int]:
    """The epoch kernel compiled by numba (imported here, not when the module loads), with
    an on-disk cache when numba finds a writable place for it (next to this file, else the
    user's cache folder or ``NUMBA_CACHE_DIR``); otherwise compiled in memory each process."""
    import numba

    def compile_with(cache: bool) -> Callable[..., int]:
        kernel = numba.njit(cache=cache, nogil=True, fastmath=True, boundscheck=False)(_epoch)
        return cast("Callable[..., int]", kernel)

    try:
        return compile_with(cache=True)
    except RuntimeError as error:  # no writable cache folder
        log.info("numba cache not available (%s): compiling in memory", error)
        return compile_with(cache=False)


def _epoch(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    y: np.ndarray,
    order: np.ndarray,
    keep_in: np.ndarray,
    keep_hidden: np.ndarray,
    w1: np.ndarray,
    b1: np.ndarray,
    w2: np.ndarray,
    b2: np.ndarray,
    m_w1: np.ndarray,
    v_w1: np.ndarray,
    m_b1: np.ndarray,
    v_b1: np.ndarray,
    m_w2: np.ndarray,
    v_w2: np.ndarray,
    m_b2: np.ndarray,
    v_b2: np.ndarray,
    seen: np.ndarray,
    slot: np.ndarray,
    feature: np.ndarray,
    start_of: np.ndarray,
    entry_row: np.ndarray,
    entry_value: np.ndarray,
    schedule: np.ndarray,
    batch: int,
    t: int,
    rowwise: int,
    skip_dropped: bool,
) -> int:
    """One epoch of mini-batch steps (see ``train_mlp``); returns the step counter. Written
    for numba: plain loops over float32 arrays, updated in place."""
    n, hidden, n_classes = order.shape[0], w1.shape[1], w2.shape[1]
    lr, total, scale_in, scale_hidden = schedule[0], schedule[1], schedule[2], schedule[3]
    beta1, beta2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-8)
    rest1, rest2 = np.float32(1 - 0.9), np.float32(1 - 0.999)
    z1 = np.zeros((batch, hidden), np.float32)
    h = np.zeros((batch, hidden), np.float32)
    d2 = np.zeros((batch, n_classes), np.float32)
    grad = np.zeros(hidden, np.float32)
    for first in range(0, n, batch):
        size = min(batch, n - first)
        t += 1
        rate = lr * (1 - (t - 1) / total) * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        step = np.float32(rate)
        plain = np.float32(lr * (1 - (t - 1) / total))
        # the batch by feature (column): slots, then each slot's (row, value) entries
        used = 0
        for b in range(size):
            r = order[first + b]
            for p in range(indptr[r], indptr[r + 1]):
                c = indices[p]
                if seen[c] != t:
                    seen[c] = t
                    slot[c] = used
                    feature[used] = c
                    start_of[used + 1] = 0
                    used += 1
                start_of[slot[c] + 1] += 1
        start_of[0] = 0
        for q in range(used):
            start_of[q + 1] += start_of[q]
        filled = start_of[:used].copy()
        for b in range(size):
            r = order[first + b]
            for p in range(indptr[r], indptr[r + 1]):
                q = slot[indices[p]]
                entry_row[filled[q]] = b
                entry_value[filled[q]] = data[p] * scale_in if keep_in[p] else 0.0
                filled[q] += 1
        # forward: each feature row once, added to the rows of the batch that have it
        for b in range(size):
            z1[b, :] = b1
        for q in range(used):
            w = w1[feature[q]]
            for e in range(start_of[q], start_of[q + 1]):
                value = entry_value[e]
                if value != 0.0:
                    zb = z1[entry_row[e]]
                    for k in range(hidden):
                        zb[k] += value * w[k]
        for b in range(size):
            r = order[first + b]
            for k in range(hidden):
                on = z1[b, k] > 0 and keep_hidden[r, k]
                h[b, k] = z1[b, k] * scale_hidden if on else 0.0
        logits = h[:size] @ w2
        inv = np.float32(1.0 / size)
        for b in range(size):
            logits[b] += b2
            top = logits[b].max()
            total_e = np.float32(0.0)
            for j in range(n_classes):
                d2[b, j] = np.exp(logits[b, j] - top)
                total_e += d2[b, j]
            for j in range(n_classes):
                d2[b, j] *= inv / total_e
            d2[b, y[order[first + b]]] -= inv
        dh = d2[:size] @ w2.T
        for b in range(size):
            for k in range(hidden):
                dh[b, k] = dh[b, k] * scale_hidden if h[b, k] > 0 else 0.0
        g_w2 = h[:size].T @ d2[:size]
        # Adam on the dense parameters
        for k in range(hidden):
            for j in range(n_classes):
                g = g_w2[k, j]
                m_w2[k, j] = beta1 * m_w2[k, j] + rest1 * g
                v_w2[k, j] = beta2 * v_w2[k, j] + rest2 * g * g
                w2[k, j] -= step * m_w2[k, j] / (np.sqrt(v_w2[k, j]) + eps)
        for j in range(n_classes):
            g = d2[:size, j].sum()
            m_b2[j] = beta1 * m_b2[j] + rest1 * g
            v_b2[j] = beta2 * v_b2[j] + rest2 * g * g
            b2[j] -= step * m_b2[j] / (np.sqrt(v_b2[j]) + eps)
        for k in range(hidden):
            g = dh[:size, k].sum()
            m_b1[k] = beta1 * m_b1[k] + rest1 * g
            v_b1[k] = beta2 * v_b1[k] + rest2 * g * g
            b1[k] -= step * m_b1[k] / (np.sqrt(v_b1[k]) + eps)
        # backward + lazy Adam: each feature row of the batch once
        for q in range(used):
            c = feature[q]
            grad[:] = 0.0
            touched = False
            for e in range(start_of[q], start_of[q + 1]):
                value = entry_value[e]
                if value != 0.0:
                    touched = True
                    db = dh[entry_row[e]]
                    for k in range(hidden):
                        grad[k] += value * db[k]
            if skip_dropped and not touched:  # every entry of the row dropped out: no update
                continue
            if rowwise > 0:  # RMSprop on the row's mean square gradient, bias-corrected per row
                square = np.float32(0.0)
                for k in range(hidden):
                    square += grad[k] * grad[k]
                r = v_w1[c]
                r[0] = beta2 * r[0] + rest2 * square / hidden
                r[1] += 1
                scale = plain / (np.sqrt(r[0] / (1 - beta2 ** r[1])) + eps)
                w = w1[c]
                if rowwise == 1:
                    for k in range(hidden):
                        w[k] -= scale * grad[k]
                else:
                    m = m_w1[c]
                    scale /= 1 - beta1 ** r[1]
                    for k in range(hidden):
                        m[k] = beta1 * m[k] + rest1 * grad[k]
                        w[k] -= scale * m[k]
                continue
            w, m, v = w1[c], m_w1[c], v_w1[c]
            for k in range(hidden):
                g = grad[k]
                m[k] = beta1 * m[k] + rest1 * g
                v[k] = beta2 * v[k] + rest2 * g * g
                w[k] -= step * m[k] / (np.sqrt(v[k]) + eps)
    return t
