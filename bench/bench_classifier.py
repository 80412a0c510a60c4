"""Contact classifier benchmarks: Banking77 (official train/test split, CC BY 4.0, at
../shared/data/banking77) and the Dutch demo contacts (held-out split).

Targets (issue 5): Banking77 macro-F1 >= 0.93 (TF-IDF + logistic regression baseline: 0.914),
classification >= 20,000 texts/s on 2 cores, training time reported; demo macro-F1 >= 0.90.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_classifier --lr-weight 0 \
        [--data ../shared/data/banking77] [--baseline] [--skip-demo] [--model FILE]

``--model FILE`` times a pickled Banking77 model instead of training one (saved there when
the file does not exist yet): the same model for main's code and yours in an A/B run. CPU
seconds per 1,000 texts count the worker processes too (from /proc, Linux), which the
machine's load disturbs less than wall time.
"""

from __future__ import annotations

import argparse
import csv
import os
import pickle
import time
from pathlib import Path

from klantreis.contacts.classifier import ContactClassifier, evaluate, train_with_holdout

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77"


def read_split(path: Path) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def family_cpu() -> float:
    """CPU seconds of this process and of every process it started (the workers), from
    /proc; this process's alone where /proc is not there."""
    own = time.process_time()
    proc = Path("/proc")
    if not proc.is_dir():
        return own
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])  # utime + stime
    family, todo = set(), [os.getpid()]
    while todo:
        pid = todo.pop()
        kids = [p for p, parent in parents.items() if parent == pid and p not in family]
        family.update(kids)
        todo += kids
    return own + sum(ticks[p] for p in family) / os.sysconf("SC_CLK_TCK")


def throughput(
    model: ContactClassifier, texts: list[str], n: int = 100_000, jobs: int = 1
) -> tuple[float, float]:
    """Texts classified per second of wall time (features + model + confidence) in ``jobs``
    processes, and CPU seconds per 1,000 texts of all of them."""
    batch = (texts * (n // len(texts) + 1))[:n]
    model.predict(batch[:1000])  # warm up (builds the n-gram hash tables)
    if jobs > 1:  # start the worker processes before timing
        model.predict_many(batch[:4000], n_jobs=jobs, chunk=2000)
    t0, c0 = time.perf_counter(), family_cpu()
    preds = model.predict_many(batch, n_jobs=jobs, chunk=min(25_000, n // max(jobs, 1) + 1))
    assert len(preds) == n
    return n / (time.perf_counter() - t0), (family_cpu() - c0) / n * 1000


def load() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


def banking77(data: Path, lr_weight: float, saved: Path | None = None) -> list[tuple[str, str]]:
    x_tr, y_tr = read_split(data / "train.csv")
    x_te, y_te = read_split(data / "test.csv")
    name = "SVM + 2 networks" if lr_weight == 0 else f"SVM + 2 networks + LR ({lr_weight:g})"
    t0, c0 = time.perf_counter(), time.process_time()
    loaded = saved is not None and saved.exists()
    if saved is not None and loaded:
        with saved.open("rb") as fh:
            model = pickle.load(fh)
    else:
        model = ContactClassifier(seed=0, lr_weight=lr_weight).fit(x_tr, y_tr)
        if saved is not None:
            with saved.open("wb") as fh:
                pickle.dump(model, fh)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    report = evaluate(model, x_te, y_te)
    rate, cpu1 = throughput(model, x_te)
    rate2, cpu2 = throughput(model, x_te, n=200_000, jobs=2)
    return [
        ("load average (1/5/15 min) after training", load()),
        ("banking77 train / test", f"{len(x_tr):,} / {len(x_te):,} texts, 77 classes"),
        (f"banking77 macro-F1, {name} (target >= 0.93)", f"{report.macro_f1:.4f}"),
        (f"banking77 accuracy, {name}", f"{report.accuracy:.4f}"),
        (
            f"banking77 training time, {name}",
            f"loaded from {saved}" if loaded else f"{train_s:.1f} s wall, {train_cpu:.1f} s CPU",
        ),
        (
            "classification throughput, 1 process (wall; CPU per 1,000 texts)",
            f"{rate:,.0f} texts/s; {cpu1:.3f} CPU s",
        ),
        (
            "classification throughput, 2 processes (target >= 20,000/s on 2 cores; "
            "CPU per 1,000 texts, all processes)",
            f"{rate2:,.0f} texts/s; {cpu2:.3f} CPU s",
        ),
        ("load average (1/5/15 min) at the end", load()),
    ]


def sklearn_baseline(data: Path) -> list[tuple[str, str]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline

    x_tr, y_tr = read_split(data / "train.csv")
    x_te, y_te = read_split(data / "test.csv")
    t0 = time.perf_counter()
    pipe = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=10, max_iter=2000),
    ).fit(x_tr, y_tr)
    train_s = time.perf_counter() - t0
    f1 = f1_score(y_te, pipe.predict(x_te), average="macro")
    return [("baseline TF-IDF + LR macro-F1 / training", f"{f1:.4f} / {train_s:.1f} s")]


def demo_contacts(orders: int) -> list[tuple[str, str]]:
    from klantreis.app import App
    from klantreis.contacts.taxonomy import default_taxonomy
    from klantreis.contacts.training import labelled_from_store
    from klantreis.demo.runner import run_demo
    from klantreis.settings import Settings

    with App(Settings.load(env={}, db_path=":memory:")) as app:
        run_demo(app, orders=orders, seed=7)
        data = labelled_from_store(app.events_table(), default_taxonomy())
    _, report = train_with_holdout(data.texts, data.labels, test_size=0.25, seed=1)
    return [
        ("demo contacts (held-out 25%)", f"{report.n:,} of {len(data.texts):,} contacts"),
        ("demo macro-F1 (target >= 0.90)", f"{report.macro_f1:.4f}"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--demo-orders", type=int, default=20_000)
    parser.add_argument("--baseline", action="store_true", help="also time sklearn TF-IDF + LR")
    parser.add_argument(
        "--lr-weight",
        type=float,
        action="append",
        default=None,
        help="classifier variants to run (0 = SVM only; repeatable)",
    )
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="pickled Banking77 model to time (made if absent; use with one --lr-weight)",
    )
    args, _ = parser.parse_known_args(argv)
    rows: list[tuple[str, str]] = []
    if (args.data / "train.csv").exists():
        for weight in args.lr_weight or [0.0, 0.7]:
            rows += banking77(args.data, weight, args.model)
        if args.baseline:
            rows += sklearn_baseline(args.data)
    else:
        rows.append(("banking77", f"skipped: no data at {args.data}"))
    if not args.skip_demo:
        rows += demo_contacts(args.demo_orders)
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
