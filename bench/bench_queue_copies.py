"""What one theme verdict costs when it labels every copy of its text (issue 16).

Opens a store read-only, reads the theme queue's window (the newest comments), and times
:func:`klantreis.text.labels.theme_label_records` for its newest comment: wall and CPU
seconds (process; DuckDB's threads are in the process's rusage).

    python -m bench.bench_queue_copies --db /work/bench-data/demo10m.duckdb
"""

from __future__ import annotations

import argparse
import resource
import time

import ibis

from klantreis.text.labels import comments_frame, same_text_key, theme_label_records


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    events = ibis.duckdb.connect(args.db, read_only=True).table("events")
    window = comments_frame(events, newest=2000)
    keys = {same_text_key(t) for t in window["text"]}
    print(f"window {len(window)} comments, {len(keys)} distinct texts")
    cid = str(window["event_id"].iloc[-1])
    attrs = {"comment_id": cid, "theme": "t", "verdict": "yes", "labeller": "bench"}
    first = {"event_id": "bench", "attrs": attrs}
    for _ in range(args.rounds):
        c0, t0 = _cpu(), time.perf_counter()
        records = theme_label_records(events, first)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        print(f"copies {len(records)}  wall {wall:.2f} s  cpu {cpu:.2f} s")


if __name__ == "__main__":
    main()
