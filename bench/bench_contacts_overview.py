"""The ``/contacts`` overview's parts, timed: the kept frames (a frame of every contact of the
window, then pandas; the reference) against the sums in the store (``kept_reports``), in
alternating fresh processes (each its own peak memory), wall and CPU seconds per part.

``nice -n 10 python -m bench.bench_contacts_overview --db PREPARED.duckdb --rounds 3``

PREPARED: a store whose kept contacts and conditions are built (``bench_views``' prepare);
it is only read (both views find themselves current). Prints a Markdown table of medians and
the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.process import load_average

__all__ = ["main"]

PATHS = ("frames", "kept")


class Timer:
    """Wall and CPU seconds (all threads of the process: DuckDB's too) per named part."""

    def __init__(self) -> None:
        self.parts: dict[str, tuple[float, float]] = {}

    def __call__(self, name: str, fn: Callable[[], Any]) -> Any:
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        self.parts[name] = (time.perf_counter() - t0, time.process_time() - c0)
        return out


def _frames(app: Any, t: Timer, now: Any, events: Any) -> None:
    from klantreis.analytics.scope import Scope
    from klantreis.contacts.reports import kept_analysis, report_from, weekly_trend
    from klantreis.contacts.warroom import build_war_room

    views, conditions, window = app.contact_views(), app.condition_views(), Scope().days()
    frame = t("contacts frame", lambda: views.frame())
    a = t(
        "analysis (orders, answers, causes)",
        lambda: kept_analysis(conditions, window, frame, app.journey, app.contacts.taxonomy),
    )
    t("war room", lambda: build_war_room(a, top=5))
    t("report", lambda: report_from(a, events))
    broken = t("weekly breaks (kept conditions)", lambda: conditions.weekly_breaks(window, now))
    t("trend", lambda: weekly_trend(a, events, now, broken=broken))


def _kept(app: Any, t: Timer, now: Any, events: Any) -> None:
    from klantreis.analytics.scope import Scope
    from klantreis.contacts.kept_causes import KeptCauses
    from klantreis.contacts.kept_reports import KeptContacts
    from klantreis.contacts.reports import _KeptInputs, kept_report, kept_trend
    from klantreis.contacts.warroom import war_room_from

    views, conditions, window = app.contact_views(), app.condition_views(), Scope().days()
    taxonomy = app.contacts.taxonomy
    k = KeptContacts(app.store, app.journey, None, None, (), window)
    frame = t("contacts frame", lambda: views.cause_frame())
    causes = t(
        "analysis (orders, answers, causes)",
        lambda: KeptCauses(app.store, app.journey, window, frame),
    )
    names = {r.id: r.name("nl") for r in taxonomy.reasons()}
    t("war room", lambda: war_room_from(_KeptInputs(app.journey, taxonomy, causes), k.sums()))
    t("report", lambda: kept_report(k, None, 7, names))
    broken = t("weekly breaks (kept conditions)", lambda: conditions.weekly_breaks(window, now))
    t("trend", lambda: kept_trend(k, events, now, broken, names))


def child(db: Path, path: str) -> dict[str, Any]:
    """One path in this process: its parts and the process's peak memory."""
    from klantreis.app import App
    from klantreis.settings import Settings

    with App(
        Settings.load(env={}, db_path=str(db), secret_key="bench-secret-key-0123456789abcdef")
    ) as app:
        app.contact_views().ensure()
        app.condition_views().ensure()
        now = app.store.query("SELECT max(occurred_at) AS m FROM events").to_pylist()[0]["m"]
        events = app.events_table()  # the page has it already
        t = Timer()
        t0, c0 = time.perf_counter(), time.process_time()
        (_frames if path == "frames" else _kept)(app, t, now, events)
        t.parts["overview in all"] = (time.perf_counter() - t0, time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    return {"parts": t.parts, "peak_gib": peak}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(Path(args.db), args.child)))
        return
    before = load_average()
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in PATHS}
    for i in range(args.rounds):
        for path in PATHS if i % 2 == 0 else PATHS[::-1]:
            cmd = [sys.executable, "-m", "bench.bench_contacts_overview", "--db", args.db]
            out = subprocess.run([*cmd, "--child", path], check=True, capture_output=True)
            runs[path].append(json.loads(out.stdout.decode().strip().splitlines()[-1]))
            print(f"round {i} {path}: {runs[path][-1]} (load {load_average()})", flush=True)
    print(f"\nload average {before} -> {load_average()}; median of {args.rounds} rounds\n")
    print("| part | " + " | ".join(f"{p} wall s | {p} CPU s" for p in PATHS) + " |")
    print("|---|" + "---:|" * (2 * len(PATHS)))
    for part in runs["frames"][0]["parts"]:
        cells = [
            f"{statistics.median(r['parts'][part][j] for r in runs[p]):.3f}"
            for p in PATHS
            for j in (0, 1)
        ]
        print(f"| {part} | " + " | ".join(cells) + " |")
    peaks = [f"{statistics.median(r['peak_gib'] for r in runs[p]):.2f}" for p in PATHS]
    print("| peak memory of the process (GiB) | " + " | | ".join(peaks) + " | |")


if __name__ == "__main__":
    main()
