"""Text benchmarks (issue 16): the cross-style evaluation of contact-reason classifiers.

Twelve webshop reasons, Dutch and English, four styles (klantreis.contacts.styles): each model
is trained on one style and scored (macro-F1) on all four. In-style is the mean of the
diagonal, cross-style the mean of the other cells; the gap is what new phrasing costs.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_text [--train-per-reason 100]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-per-reason", type=int, default=100)
    args, _ = parser.parse_known_args(argv)
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
