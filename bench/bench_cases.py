"""SLA clocks for many open cases (issue 15): business hours with split shifts and Dutch
holidays, pauses; the vectorised ``clock_arrays`` against the per-case ``clock_state``.

    .venv/bin/python -m bench.bench_cases [--cases 100000] [--check 2000]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime

import numpy as np

from klantreis.act.sla import BusinessCalendar, Pause, clock_arrays, clock_state

NOW = datetime(2026, 11, 20, 14, tzinfo=UTC)


def make_cases(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    """``n`` open cases opened in the last 30 days; 30% waited once (half still waiting)."""
    rng = np.random.default_rng(seed)
    started = NOW.timestamp() - rng.uniform(3600, 30 * 86400, n)
    with_pause = np.flatnonzero(rng.random(n) < 0.3)
    p_start = started[with_pause] + rng.uniform(600, 86400, len(with_pause))
    p_end = p_start + rng.uniform(3600, 3 * 86400, len(with_pause))
    p_end = np.where(
        (rng.random(len(with_pause)) < 0.5) | (p_end >= NOW.timestamp()), np.nan, p_end
    )
    p_start = np.minimum(p_start, NOW.timestamp() - 1)
    return {
        "started": started,
        "pause_case": with_pause,
        "pause_start": p_start,
        "pause_end": p_end,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--check", type=int, default=2_000, help="cases also timed one by one")
    args = ap.parse_args(argv)
    cal = BusinessCalendar.office()
    c = make_cases(args.cases)
    targets = np.full(args.cases, 40.0)
    clock_arrays(cal, targets[:10], c["started"][:10], NOW.timestamp())  # build the calendar
    t = time.perf_counter()
    out = clock_arrays(
        cal,
        targets,
        c["started"],
        NOW.timestamp(),
        None,
        c["pause_case"],
        c["pause_start"],
        c["pause_end"],
    )
    vector_s = time.perf_counter() - t
    pauses: dict[int, list[Pause]] = {}
    for i, a, b in zip(c["pause_case"], c["pause_start"], c["pause_end"], strict=True):
        end = None if np.isnan(b) else datetime.fromtimestamp(b, UTC)
        pauses.setdefault(int(i), []).append(Pause(datetime.fromtimestamp(a, UTC), end))
    t = time.perf_counter()
    worst = 0.0
    for i in range(min(args.check, args.cases)):
        st = clock_state(
            cal, 40.0, datetime.fromtimestamp(c["started"][i], UTC), NOW, None, pauses.get(i, [])
        )
        worst = max(worst, abs(st.elapsed - out.elapsed[i]))
    scalar_us = (time.perf_counter() - t) / max(1, min(args.check, args.cases)) * 1e6
    load = os.getloadavg()
    print("| what | value |")
    print("|---|---|")
    print(f"| open cases | {args.cases:,} ({len(c['pause_case']):,} with a pause) |")
    print(f"| `clock_arrays` (all cases, one call) | {vector_s:.3f} s |")
    print(
        f"| `clock_state` per case | {scalar_us:.0f} µs (x {args.cases:,} = {scalar_us * args.cases / 1e6:.1f} s) |"
    )
    print(f"| largest difference (first {args.check:,} cases) | {worst:.6f} s |")
    print(f"| breached | {int((out.elapsed > 40 * 3600).sum()):,} |")
    print(f"| load average (1, 5, 15 min) | {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} |")


if __name__ == "__main__":
    main()
