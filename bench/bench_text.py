"""Text benchmarks (issue 16): the cross-style evaluation of contact-reason classifiers,
sentiment on held-out scored comments, and multi-label themes.

Twelve webshop reasons, Dutch and English, four styles (klantreis.contacts.styles): each model
is trained on one style and scored (macro-F1) on all four. In-style is the mean of the
diagonal, cross-style the mean of the other cells; the gap is what new phrasing costs.

Sentiment and themes use the labelled comment set of klantreis.text.comments: trained on
comments written with one half of each theme's clauses, tested on the other half (wording
never seen in training), and on the demo's survey comments (written separately).

Training speed and throughput (``--speed``, ``--speed-only``): 20,000 labelled contacts of the
four styles train the contact-reason classifier (with and without its networks), 20,000
comments train the theme tagger and the sentiment model; then classification rates (texts/s)
in one and two processes. The load average is printed beside them: on a shared machine the
times are inflated.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_text [--train-per-reason 100] [--skip-styles]
    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_text --speed-only [--speed-n 20000]
    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_text --fit-only   # the 20k fit alone
    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_text --staged     # contacts train, per stage
    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_text --staged-banking77  # same, Banking77
    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_text --cross-style-staged  # its cross-style

The networks' compiled step (numba) is compiled on its first use and cached on disk; the
default fit's row includes loading it, or compiling it when the cache is empty (for a cold
figure: ``NUMBA_CACHE_DIR=$(mktemp -d)`` in front of the command).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from typing import Any

from klantreis.contacts.classifier import ContactClassifier
from klantreis.contacts.features import NgramTfidf
from klantreis.contacts.styles import CrossStyleReport, cross_style

Predict = Callable[[list[str]], list[str]]


def fit_plain(texts: list[str], labels: list[str]) -> Predict:
    """The classifier as it was before issue 16: surface n-grams only, no augmentation."""
    features = NgramTfidf(embed_dims=150, embed_weight=1.5)
    return ContactClassifier(seed=0, features=features).fit(texts, labels).predict_labels


def fit_current(texts: list[str], labels: list[str]) -> Predict:
    """Stems + webshop concepts (the default features), no augmentation."""
    return ContactClassifier(seed=0).fit(texts, labels).predict_labels


def fit_augmented(texts: list[str], labels: list[str]) -> Predict:
    """As trained by ``klantreis contacts train``: concepts and augmentation (share 0.5)."""
    return ContactClassifier(seed=0, augment_share=0.5).fit(texts, labels).predict_labels


def fit_staged(texts: list[str], labels: list[str]) -> Predict:
    """What ``klantreis contacts train`` trains: ``train_staged``'s final model."""
    from klantreis.contacts.classifier import train_staged

    return train_staged(texts, labels)[0].predict_labels


def fit_baseline(texts: list[str], labels: list[str]) -> Predict:
    """scikit-learn TF-IDF (word 1-2-grams) + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=10, max_iter=2000),
    ).fit(texts, labels)
    return lambda xs: [str(p) for p in pipe.predict(xs)]


MODELS: dict[str, Callable[[list[str], list[str]], Predict]] = {
    "TF-IDF + LR baseline": fit_baseline,
    "ContactClassifier, surface n-grams (before)": fit_plain,
    "ContactClassifier + stems/concepts": fit_current,
    "ContactClassifier + stems/concepts + augmentation": fit_augmented,
}


def run_cross_style(per_reason: int) -> list[tuple[str, CrossStyleReport, float]]:
    out = []
    for name, fit in MODELS.items():
        t0 = time.perf_counter()
        report = cross_style(fit, train_per_reason=per_reason)
        out.append((name, report, time.perf_counter() - t0))
    return out


def sentiment_rows(n_train: int = 3000, n_test: int = 1000) -> list[tuple[str, str]]:
    import numpy as np

    from klantreis.demo.templates import COMMENTS
    from klantreis.text.comments import generate_comments
    from klantreis.text.sentiment import LexiconSentiment, ScoreSentiment, polarity_from_score

    train = generate_comments(n_train, seed=0)
    test = generate_comments(n_test, seed=1, part="test")
    polar = [(c.text, polarity_from_score("nps", c.score)) for c in test]
    polar = [(t, p) for t, p in polar if p != "neutral"]
    truth = np.array([p == "positive" for _, p in polar])
    lex = LexiconSentiment()
    t0 = time.perf_counter()
    lex_scores = np.array([lex.comment(t) for t, _ in polar])
    lex_rate = len(polar) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    y = [polarity_from_score("nps", c.score) for c in train]
    model = ScoreSentiment().fit([c.text for c in train], y)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model_scores = model.score([t for t, _ in polar])
    model_rate = len(polar) / (time.perf_counter() - t0)
    demo = [
        (t, not topic.endswith("_goed"))
        for topics in COMMENTS.values()
        for topic, texts in topics.items()
        for t in texts
    ]
    demo_acc = np.mean([(lex.comment(t) < 0) == negative for t, negative in demo])
    demo_model = np.mean(
        (model.score([t for t, _ in demo]) < 0) == np.array([neg for _, neg in demo])
    )
    return [
        (
            "scored comments: train / held-out polar (NPS <= 6 or >= 9)",
            f"{len(train)} / {len(polar)}",
        ),
        ("sentiment accuracy, lexicon (no training)", f"{np.mean((lex_scores > 0) == truth):.4f}"),
        (
            "sentiment accuracy, weak model (score as label)",
            f"{np.mean((model_scores > 0) == truth):.4f}",
        ),
        (
            "sentiment accuracy on the demo's comments (n, lexicon / model)",
            f"{len(demo)}, {demo_acc:.4f} / {demo_model:.4f}",
        ),
        ("weak model training time", f"{train_s:.1f} s"),
        (
            "sentiment throughput, lexicon / model",
            f"{lex_rate:,.0f} / {model_rate:,.0f} comments/s",
        ),
    ]


def theme_rows(n_train: int = 2000, n_test: int = 1000) -> tuple[list[tuple[str, str]], str]:
    from klantreis.text.comments import generate_comments
    from klantreis.text.themes import ThemeTagger, default_themes, evaluate_themes

    tax = default_themes()
    train = generate_comments(n_train, seed=0)
    test = generate_comments(n_test, seed=1, part="test")
    same = generate_comments(n_test, seed=1, part="train")
    x, y = [c.text for c in test], [c.themes for c in test]
    seeded = evaluate_themes(ThemeTagger(tax).fit(), x, y)
    t0 = time.perf_counter()
    tagger = ThemeTagger(tax).fit([c.text for c in train], [c.themes for c in train])
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = evaluate_themes(tagger, x, y)
    rate = len(x) / (time.perf_counter() - t0)
    in_style = evaluate_themes(tagger, [c.text for c in same], [c.themes for c in same])
    rows = [
        ("themes: comments train / test, themes", f"{n_train} / {n_test}, {len(tax.ids())}"),
        (
            "theme micro / macro F1, example phrases only",
            f"{seeded.micro_f1:.4f} / {seeded.macro_f1:.4f}",
        ),
        (
            "theme micro / macro F1, trained, new wording",
            f"{report.micro_f1:.4f} / {report.macro_f1:.4f}",
        ),
        (
            "theme micro / macro F1, trained, seen wording",
            f"{in_style.micro_f1:.4f} / {in_style.macro_f1:.4f}",
        ),
        ("theme tagger training / tagging", f"{train_s:.1f} s / {rate:,.0f} comments/s"),
    ]
    return rows, report.table()


def _timed_fit(fit: Callable[[Callable[[str, float], None]], object]) -> str:
    """Wall and CPU seconds of one fit and how many progress reports it made. On a shared
    machine the CPU time (this process) is the closer estimate of a quiet machine's wall
    time (one training uses one core)."""
    calls = [0]

    def progress(stage: str, done: float) -> None:
        calls[0] += 1

    t0, c0 = time.perf_counter(), time.process_time()
    fit(progress)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return f"{wall:.1f} s wall, {cpu:.1f} s CPU ({calls[0]} progress reports)"


class _StageClock:
    """Wall and CPU seconds (this process, all threads) of each progress stage of a staged
    training: a stage runs from its first report until the next stage's first report."""

    def __init__(self) -> None:
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        self.starts: list[tuple[str, float, float]] = []

    def __call__(self, stage: str, done: float) -> None:
        if stage not in (s for s, _, _ in self.starts):
            self.starts.append((stage, *self.now()))

    def now(self) -> tuple[float, float]:
        return time.perf_counter() - self.t0, time.process_time() - self.c0

    def rows(self) -> Iterator[tuple[str, str]]:
        """One row per stage (its wall and CPU seconds), up to now."""
        ends = [(w, c) for _, w, c in self.starts[1:]] + [self.now()]
        for (stage, w0, c0), (w1, c1) in zip(self.starts, ends, strict=True):
            yield f"  stage {stage}", f"{w1 - w0:.1f} s wall, {c1 - c0:.1f} s CPU"


def _rate(predict: Callable[[list[str]], object], texts: list[str]) -> str:
    """Texts per second of wall time and of CPU time (this process), best of two runs."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        predict(texts)
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return f"{len(texts) / wall:,.0f} /s wall, {len(texts) / max(cpu, 1e-9):,.0f} /s CPU"


def contact_set(n: int = 20_000) -> tuple[list[str], list[str]]:
    """About ``n`` labelled contacts, the four styles alike (19,968 for 20,000)."""
    from klantreis.contacts.styles import LANGS, REASONS, generate

    per = max(1, n // (4 * len(REASONS) * len(LANGS)))
    texts, labels = [], []
    for style in ("short", "long", "chat", "typo"):
        x, y = generate(style, per, seed=0)
        texts += x
        labels += y
    return texts, labels


def fit_rows(n: int = 20_000) -> Iterator[tuple[str, str]]:
    """Only the default contact-reason fit (``--fit-only``): the training-time figure."""
    import os

    texts, labels = contact_set(n)
    yield "load average (1/5/15 min) at the start", " / ".join(f"{v:.1f}" for v in os.getloadavg())
    model = ContactClassifier(seed=0)
    yield (
        f"contact reasons: train {len(texts):,} texts, SVM + 2 networks (the default, 2 threads)",
        _timed_fit(lambda p: model.fit(texts, labels, progress=p)),
    )
    yield "load average (1/5/15 min) at the end", " / ".join(f"{v:.1f}" for v in os.getloadavg())


def _epochs(model: object) -> str:
    """The epochs the held-out networks of a staged training ran (early stopping), their
    held-out macro-F1 after each epoch and the share of held-out predictions that changed."""
    runs = getattr(model, "epochs_run_", [])
    if not runs:
        return "no early stopping"

    def each(name: str) -> str:
        return "; ".join(" ".join(f"{v:.4f}" for v in net) for net in getattr(model, name, []))

    final = (
        "the held-out ones kept"
        if getattr(model, "networks_kept_", False)
        else getattr(model, "mlp_epochs", "?")
    )
    return (
        f"held-out networks ran {' / '.join(map(str, runs))} epochs, final networks"
        f" {final}; held-out macro-F1 per epoch:"
        f" {each('epoch_scores_')}; share of held-out predictions changed per epoch:"
        f" {each('epoch_changes_')}"
    )


def _stop(stop_early: bool, all_epochs: bool) -> dict[str, Any]:
    """``train_staged``'s stop arguments, only those asked for (main's code, measured with
    this bench for A/B pairs, may not know ``all_epochs``)."""
    asked = {"stop_early": stop_early, "all_epochs": all_epochs}
    return {k: v for k, v in asked.items() if v}


def staged_rows(
    n: int = 20_000,
    compare: bool = True,
    seed: int = 0,
    stop_early: bool = False,
    all_epochs: bool = False,
) -> Iterator[tuple[str, str]]:
    """``--staged``: what ``contacts train`` does (``train_staged``: the 80/20 held-out fit,
    its evaluation, the fit on all) stage by stage, wall and CPU; with ``compare`` then the
    one-stage ``train_with_holdout`` on the same data (the same full model)."""
    import os

    from klantreis.contacts.classifier import train_staged, train_with_holdout

    def load() -> str:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())

    texts, labels = contact_set(n)
    yield "load average (1/5/15 min) at the start", load()
    marks: list[tuple[float, float, float]] = []
    clock = _StageClock()
    final, report = train_staged(
        texts,
        labels,
        seed=seed,
        progress=clock,
        on_quick=lambda m, r: marks.append((*clock.now(), r.macro_f1)),
        **_stop(stop_early, all_epochs),
    )
    wall, cpu = clock.now()
    qw, qc, qf1 = marks[0]
    yield (
        f"staged training of {len(texts):,} texts: quick stage (2 fits of features +"
        " calibrated SVM, held-out evaluation), until the quick model is usable",
        f"{qw:.1f} s wall, {qc:.1f} s CPU (held-out macro-F1 {qf1:.4f}; load {load()})",
    )
    yield (
        "staged training: full stage (the networks of both fits, evaluation)",
        f"{wall - qw:.1f} s wall, {cpu - qc:.1f} s CPU (held-out macro-F1 {report.macro_f1:.4f})",
    )
    yield "staged training: both stages", f"{wall:.1f} s wall, {cpu:.1f} s CPU (load {load()})"
    yield "staged training: network epochs", _epochs(final)
    yield from clock.rows()
    if compare:
        yield (
            f"one-stage train_with_holdout of {len(texts):,} texts (before this change)",
            _timed_fit(lambda p: train_with_holdout(texts, labels, progress=p)),
        )
    yield "load average (1/5/15 min) at the end", load()


def staged_banking77_rows(
    seed: int = 0, stop_early: bool = False, all_epochs: bool = False
) -> Iterator[tuple[str, str]]:
    """``--staged-banking77``: what ``contacts train`` makes of Banking77's train split
    (``train_staged``: 80/20 held out, augmentation 0.5), its quick and full models scored
    on the official test split (macro-F1), with wall and CPU seconds. The quick model is
    the one ``on_quick`` is handed, copied then: the held-out model object gets the
    networks afterwards."""
    import copy
    import os

    from bench.bench_classifier import DEFAULT_DATA, read_split
    from klantreis.contacts.classifier import evaluate, train_staged

    def load() -> str:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())

    x_tr, y_tr = read_split(DEFAULT_DATA / "train.csv")
    x_te, y_te = read_split(DEFAULT_DATA / "test.csv")
    yield "load average (1/5/15 min) at the start", load()
    marks: list[tuple[float, float, object, float]] = []
    clock = _StageClock()
    final, report = train_staged(
        x_tr,
        y_tr,
        seed=seed,
        progress=clock,
        on_quick=lambda m, r: marks.append((*clock.now(), copy.copy(m), r.macro_f1)),
        **_stop(stop_early, all_epochs),
    )
    wall, cpu = clock.now()
    qw, qc, quick, qf1 = marks[0]
    assert getattr(quick, "mlp_", None) is None, "the quick model has no networks"
    test_quick = evaluate(quick, x_te, y_te).macro_f1  # type: ignore[arg-type]
    yield (
        f"Banking77 staged training ({len(x_tr):,} texts): quick model usable after",
        f"{qw:.1f} s wall, {qc:.1f} s CPU; held-out macro-F1 {qf1:.4f}, test {test_quick:.4f}",
    )
    yield (
        "Banking77 staged training: full model",
        f"{wall:.1f} s wall, {cpu:.1f} s CPU in all; held-out macro-F1 {report.macro_f1:.4f},"
        f" test {evaluate(final, x_te, y_te).macro_f1:.4f}; networks' weight"
        f" {final.mlp_weight}",
    )
    yield "Banking77 staged training: network epochs", _epochs(final)
    yield from clock.rows()
    yield "load average (1/5/15 min) at the end", load()


def speed_rows(n: int = 20_000) -> Iterator[tuple[str, str]]:
    """The speed table, row by row (printed as it goes: the slow rows come last)."""
    import os

    from klantreis.text.comments import generate_comments
    from klantreis.text.sentiment import ScoreSentiment, polarity_from_score
    from klantreis.text.themes import ThemeTagger, default_themes

    def load() -> str:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())

    yield "load average (1/5/15 min) at the start", load()
    comments = generate_comments(n, seed=0)
    ctexts = [c.text for c in comments]
    tagger = ThemeTagger(default_themes())
    themes = [c.themes for c in comments]
    yield (
        f"themes: train {n:,} comments",
        _timed_fit(lambda p: tagger.fit(ctexts, themes, progress=p)),
    )
    yield "themes: tag, 1 process", _rate(tagger.predict_proba, ctexts)
    sentiment = ScoreSentiment()
    polar = [polarity_from_score("nps", c.score) for c in comments]
    yield (
        f"sentiment: train {n:,} comments",
        _timed_fit(lambda p: sentiment.fit(ctexts, polar, progress=p)),
    )
    yield "sentiment (trained model): score, 1 process", _rate(sentiment.score, ctexts)
    texts, labels = contact_set(n)
    big = (texts * (40_000 // len(texts) + 1))[:40_000]
    linear = ContactClassifier(seed=0, mlp_models=0)
    yield (
        f"contact reasons: train {len(texts):,} texts of 4 styles, SVM only",
        _timed_fit(lambda p: linear.fit(texts, labels, progress=p)),
    )
    yield "contact reasons, SVM only: classify, 1 process", _rate(linear.predict, big)
    full = ContactClassifier(seed=0)
    yield (
        f"contact reasons: train {len(texts):,} texts, SVM + 2 networks (the default)",
        _timed_fit(lambda p: full.fit(texts, labels, progress=p)),
    )
    yield "contact reasons (default): classify, 1 process", _rate(full.predict, big)
    yield (
        "contact reasons (default): classify, 2 processes",
        _rate(lambda xs: full.predict_many(xs, n_jobs=2, chunk=10_000), big)
        + " (CPU: parent only)",
    )
    yield "load average (1/5/15 min) at the end", load()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-per-reason", type=int, default=100)
    parser.add_argument("--skip-styles", action="store_true", help="only sentiment and themes")
    parser.add_argument("--speed", action="store_true", help="also training speed and texts/s")
    parser.add_argument("--speed-only", action="store_true", help="only training speed and texts/s")
    parser.add_argument("--speed-n", type=int, default=20_000)
    parser.add_argument("--fit-only", action="store_true", help="only the default contacts fit")
    parser.add_argument(
        "--staged", action="store_true", help="only the staged training, stage by stage"
    )
    parser.add_argument(
        "--staged-banking77", action="store_true", help="the staged training on Banking77"
    )
    parser.add_argument("--no-compare", action="store_true", help="--staged without the one-stage")
    parser.add_argument("--seed", type=int, default=0, help="--staged(-banking77)'s seed")
    parser.add_argument(
        "--stop-early",
        action="store_true",
        help="--staged(-banking77) as `contacts train --stop-early`",
    )
    parser.add_argument(
        "--all-epochs",
        action="store_true",
        help="--staged(-banking77) as `contacts train --all-epochs`",
    )
    parser.add_argument(
        "--cross-style-staged",
        action="store_true",
        help="only the cross-style table of the model contacts train trains (train_staged)",
    )
    args, _ = parser.parse_known_args(argv)
    if args.cross_style_staged:
        t0, c0 = time.perf_counter(), time.process_time()
        r = cross_style(fit_staged, train_per_reason=args.train_per_reason)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"train_staged: in-style {r.in_style:.4f}, cross-style {r.cross_style:.4f},"
            f" gap {r.gap:.4f} ({wall:.1f} s wall, {cpu:.1f} s CPU)\n\n{r.table()}"
        )
        return
    if args.staged_banking77:
        print("| measure | value |\n|---|---|")
        for name, value in staged_banking77_rows(args.seed, args.stop_early, args.all_epochs):
            print(f"| {name} | {value} |", flush=True)
        return
    if args.staged:
        print("| measure | value |\n|---|---|")
        for name, value in staged_rows(
            args.speed_n, not args.no_compare, args.seed, args.stop_early, args.all_epochs
        ):
            print(f"| {name} | {value} |", flush=True)
        return
    if args.fit_only:
        print("| measure | value |\n|---|---|")
        for name, value in fit_rows(args.speed_n):
            print(f"| {name} | {value} |", flush=True)
        return
    if args.speed or args.speed_only:
        print("| measure | value |\n|---|---|")
        for name, value in speed_rows(args.speed_n):
            print(f"| {name} | {value} |", flush=True)
        if args.speed_only:
            return
    rows = sentiment_rows()
    theme, per_theme = theme_rows()
    print("| measure | value |\n|---|---|")
    for name, value in rows + theme:
        print(f"| {name} | {value} |")
    print(f"\nper theme (trained, new wording)\n\n{per_theme}\n")
    if args.skip_styles:
        return
    results = run_cross_style(args.train_per_reason)
    print(
        "| model | in-style macro-F1 | cross-style macro-F1 | gap | time |\n|---|---|---|---|---|"
    )
    for name, r, secs in results:
        print(f"| {name} | {r.in_style:.4f} | {r.cross_style:.4f} | {r.gap:.4f} | {secs:.1f} s |")
    for name, r, _ in results:
        print(f"\n{name} (rows: training style, columns: test style)\n\n{r.table()}")


if __name__ == "__main__":
    main()
