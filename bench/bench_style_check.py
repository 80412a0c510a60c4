"""The cross-style check in the product (issue 16): what it costs at training and what it
shows on three labelled sets.

``train_staged`` trains as ``klantreis contacts train`` does, with the check
(``klantreis.contacts.style_check.check_styles``) on the last stage's held-out texts (with
``--stage quick`` the quick stage's); the check
is wrapped to time it alone (it runs while nothing else of the training runs, so its
process CPU is its own). Prints the training's wall and CPU seconds, the check's per stage,
macro-F1 per style per stage, and the full model's weakest reasons.

Sets: ``contacts20k`` (the 20k labelled contacts of ``bench_text --staged``: the four
styles of ``klantreis.contacts.styles``), ``demo`` (the demo's contact texts,
``klantreis.demo.texts.render_contacts``, reasons drawn uniformly, a quarter English),
``banking77`` (the public Banking77 training split, English, 77 reasons; needs
``/work/shared/data/banking77`` or ``--banking77 DIR``).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m bench.bench_style_check --data demo
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python -m bench.bench_style_check --evaluate-cost
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from klantreis.contacts.classifier import train_staged
from klantreis.contacts.style_check import check_styles, weakest_first

BANKING77 = Path("/work/shared/data/banking77")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def demo_set(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` demo contact texts with their reasons (uniform), a quarter in English."""
    import numpy as np

    from klantreis.demo.texts import REASONS, render_contacts

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, len(REASONS), size=n)
    english = rng.random(n) < 0.25
    orders = [f"O{100000 + i}" for i in range(n)]
    carriers = [["VlotBezorgd", "PakketPost"][i % 2] for i in range(n)]
    texts = render_contacts(codes, english, orders, carriers, rng)
    return texts, [REASONS[c] for c in codes.tolist()]


def banking77_set(folder: Path) -> tuple[list[str], list[str]]:
    with (folder / "train.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def labelled(name: str, n: int, folder: Path) -> tuple[list[str], list[str]]:
    if name == "demo":
        return demo_set(n)
    if name == "banking77":
        return banking77_set(folder)
    from bench.bench_text import contact_set

    return contact_set(n)


def timed_check(times: list[tuple[float, float]]) -> Callable[..., dict[str, Any]]:
    def check(predict: Callable[[Sequence[str]], list[str]], texts: Any, labels: Any) -> Any:
        t0, c0 = time.perf_counter(), _cpu()
        result = check_styles(predict, texts, labels)
        times.append((time.perf_counter() - t0, _cpu() - c0))
        return result

    return check


def evaluate_cost(rounds: int = 3) -> None:
    """``contacts evaluate`` with and without ``--styles``: a quick model trained on 8,000
    demo contacts, 4,000 others evaluated, interleaved; CPU of the process."""
    from klantreis.contacts.classifier import evaluate

    texts, labels = demo_set(12_000, seed=3)
    model, _ = train_staged(texts[:8000], labels[:8000], stop_after="quick")
    x, y = texts[8000:], labels[8000:]
    print(f"load {' / '.join(f'{v:.1f}' for v in os.getloadavg())}")
    for r in range(rounds):
        for styles in (False, True):
            t0, c0 = time.perf_counter(), _cpu()
            report = evaluate(model, x, y)
            if styles:
                report.styles = check_styles(model.predict_labels, x, y)
            took = f"{time.perf_counter() - t0:.2f} s wall, {_cpu() - c0:.2f} s CPU"
            print(f"round {r}, --styles {styles}: {took}", flush=True)
    print(f"load {' / '.join(f'{v:.1f}' for v in os.getloadavg())}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", choices=("contacts20k", "demo", "banking77"), default="demo")
    parser.add_argument("--n", type=int, default=20_000, help="texts (contacts20k, demo)")
    parser.add_argument("--banking77", type=Path, default=BANKING77)
    parser.add_argument("--stage", choices=("quick", "full"), default="full")
    parser.add_argument(
        "--evaluate-cost", action="store_true", help="only contacts evaluate with/without --styles"
    )
    args = parser.parse_args(argv)
    if args.evaluate_cost:
        evaluate_cost()
        return
    texts, labels = labelled(args.data, args.n, args.banking77)
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{args.data}: {len(texts):,} texts, {len(set(labels))} reasons; load {load}")
    times: list[tuple[float, float]] = []
    reports = []
    t0, c0 = time.perf_counter(), _cpu()
    _, report = train_staged(
        texts,
        labels,
        stop_after=args.stage,
        on_quick=lambda m, r: reports.append(r),
        held_out_check=timed_check(times),
    )
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    if args.stage == "full":
        reports.append(report)
    print(f"training with the check: {wall:.1f} s wall, {cpu:.1f} s CPU")
    checked = [(name, r) for name, r in zip(("quick", "full"), reports, strict=False) if r.styles]
    for (w, c), (name, r) in zip(times, checked, strict=True):
        s = r.styles or {}
        cells = ", ".join(f"{k} {v:.4f}" for k, v in s["macro_f1"].items())
        changed = ", ".join(f"{k} {v:.0%}" for k, v in s["changed"].items() if k != "written")
        print(f"{name}: report macro-F1 {r.macro_f1:.4f}; check {w:.2f} s wall, {c:.2f} s CPU")
        print(f"  macro-F1 per style: {cells}\n  texts changed: {changed}")
    final = reports[-1].styles or {}
    print("weakest reasons (full model): reason | n | " + " | ".join(final["styles"]))
    for row in weakest_first(final)[:8]:
        cells = " | ".join(f"{row['f1'][s]:.2f}" for s in row["f1"])
        print(f"  {row['reason']} | {row['n']} | {cells} | gap {row['gap']:.2f}")
    print(f"load at the end {' / '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
