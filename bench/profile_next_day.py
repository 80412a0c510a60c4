"""The kept-views job's part "contacts' next day" (``App.keep_next_day``), part by part: on
a copy of a prepared store, view every page once (restart), run the job's first turn,
ingest ``--events`` events as ``bench_views`` does (``--batch newest``: the newest ones, a
day later: each such batch starts a new day), then run the job's next turn with CPU timers
(the process's CPU, DuckDB's threads included) around the next-day part's pieces and, with
``--statements N``, around every statement the contacts modules run (the N costliest).
``--turns K`` repeats the ingest and the timed turn K times.

``nice -n 10 env PYTHONPATH=src:. python -m bench.profile_next_day --db STORE``

Run it with another checkout's ``PYTHONPATH`` for an A/B pair. A piece the code does not
have is left out; the pieces nest, so they do not add up.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from contextlib import ExitStack
from typing import Any

from bench.bench_views import _ingest, _kept_views_job
from bench.process import load_average
from bench.profile_contacts import (
    _patched,
    _timer,
    common_parser,
    print_timers,
    served_copy,
    timers,
)

__all__ = ["main"]

#: The next-day part's pieces: (label, module, class or None, function).
_PARTS = (
    ("- hand_moved (the moved days read once)", "klantreis.contacts.next_day", None, "hand_moved"),
    ("- root causes' window", "klantreis.contacts.conditions", "ConditionViews", "cause_totals"),
    ("  - shifted (CauseTotals._shifted)", "klantreis.contacts.cause_totals", "CauseTotals", "_shifted"),
    ("- cause frame", "klantreis.contacts.derived", "ContactViews", "cause_frame_with_id"),
    ("- held counts (HeldCounts.window)", "klantreis.contacts.held_counts", "HeldCounts", "window"),
    ("  - _slot", "klantreis.contacts.held_counts", "HeldCounts", "_slot"),
    ("  - _copy", "klantreis.contacts.held_counts", "HeldCounts", "_copy"),
    ("  - _update", "klantreis.contacts.held_counts", "HeldCounts", "_update"),
    ("  - _recount", "klantreis.contacts.held_counts", "HeldCounts", "_recount"),
    ("  - _held_rows", "klantreis.contacts.held_counts", "HeldCounts", "_held_rows"),
    ("moved_journeys (held counts)", "klantreis.contacts.held_counts", None, "moved_journeys"),
    ("moved_journeys (root causes)", "klantreis.contacts.cause_totals", None, "moved_journeys"),
)  # fmt: skip


class _Mark:
    """A call to time as a whole."""

    def run(self, inner: Any, *args: Any) -> Any:
        return inner(*args)


def _timed(parts: Any, statements: Any, args: Any) -> Any:
    """A wrapper of ``next_day.keep_next_day`` that times it, its pieces and statements
    (only there: the job's other parts run the same functions)."""

    def wrap(inner: Any) -> Any:
        def run(*a: Any) -> Any:
            with ExitStack() as stack:
                stack.enter_context(_patched(_Mark, "run", _timer("keep_next_day", parts)))
                timers(stack, _PARTS, parts, statements if args.statements else None)
                return _Mark().run(inner, *a)

        return run

    return wrap


def main(argv: list[str] | None = None) -> None:
    from klantreis.contacts import next_day

    parser = common_parser(__doc__)
    parser.add_argument("--turns", type=int, default=1)
    parser.add_argument(
        "--per-turn", default="", help="events per turn, comma-separated (default: --events)"
    )
    args = parser.parse_args(argv)
    with served_copy(args, "klantreis-nextday-") as (app, api, client, headers):
        for name in ("journeys", "scores", "contacts", "index"):
            client.get(f"/api/v1/{name}", headers=headers).raise_for_status()
        job = _kept_views_job(app, api)
        if job is None:
            raise SystemExit("this code has no kept-views job")
        c0 = time.process_time()
        job.run()
        print(f"job's first turn: CPU {time.process_time() - c0:.3f} s")
        sizes = [int(n) for n in args.per_turn.split(",") if n] or [args.events] * args.turns
        for turn, size in enumerate(sizes):
            tag = f"pn{turn}"
            print(f"ingest of {size:,}: {_ingest(app, size, tag):.3f} s")
            parts: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
            statements: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
            with _patched(next_day, "keep_next_day", _timed(parts, statements, args)):
                print(f"turn {turn + 1}, load before: {load_average()}")
                c0 = time.process_time()
                job.run()
                print(f"job's turn: CPU {time.process_time() - c0:.3f} s")
            timings = getattr(job.run, "timings", {}).items()
            print(
                "  wall/CPU s per part: "
                + ", ".join(f"{k} {w:.2f}/{c:.2f}" for k, (w, c) in timings)
            )
            print_timers("pieces of the next-day part", parts, statements, args.statements)
        print(f"load after: {load_average()}")


if __name__ == "__main__":
    main(sys.argv[1:])
