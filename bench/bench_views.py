"""Pages at every size: seconds of the JSON of ``/journeys``, ``/scores``, ``/contacts`` and
``/`` (``/api/v1/<name>``, in-process client, page cache on as a user gets it) on a copy of a
large store: the first view after a restart, the first view after an ingest of 1 and of
100,000 events, and a warm view.

``nice python -m bench.bench_views --db /work/bench-data/demo10m.duckdb --rounds 3``

Made with ``klantreis demo --no-serve --orders 1000000`` (9.7M events). The copy is prepared
once (journey index and derived views built, timed); each round copies it, opens a new App
("restart"), views every page, appends events through the ingest pipeline (new ids on
existing journeys, one day later) and views every page again. Prints medians and the load
average before and after.

With the kept-views job, one turn of it runs after the warm views (a server's job has run
before an ingest: the viewer's default pages are kept too). Two kinds of "after ingest"
rows, said apart in their names:

- "first view after ingest of N": the views right after the ingest, so the first view pays
  the kept tables' refresh and the page's computation itself (no server job ran); asked
  with ``?fresh=1``, so that a server which answers with a kept page after a large batch
  (``stale_page_events``) computes as before;
- "first view after ingest of N, before the job (kept page shown)": only for N over
  ``stale_page_events`` and code that serves kept pages: another batch of N (other ids),
  then the views as a visitor asks for them, before the job's turn: the page cache answers
  with the page kept from the previous row (its figures lack the N events; how old they are
  is the job's turn time below);
- "first view after ingest of N, once the kept-views job ran": another batch of N (other
  ids), then one turn of the server's kept-views job (``App.kept_views_job`` with the web
  app's ``default_views``; in a server it runs in the next pause of ingest, at most
  ``kept_views_seconds`` later), then the views. The job's own wall and CPU seconds are
  separate rows: that work is moved off the request path, not removed. Code without the job
  (a baseline run) prints only the first kind.

``--counts 1`` appends only batches of one event, ``--one-kind invoice.paid`` of that kind
(default: the first event by id, a survey answer on the 10M demo store).

``--prepared PATH`` skips the preparation and copies PATH (prepared once, e.g. by the same
code) per round: for A/B pairs of two code versions on one prepared store.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.process import load_average

__all__ = ["main"]

PAGES = {"/journeys": "journeys", "/scores": "scores", "/contacts": "contacts", "/": "index"}
SECRET = "bench-secret-key-0123456789abcdef"


def _settings(db: Path) -> Any:
    from klantreis.settings import Settings

    return Settings.load(env={}, db_path=str(db), secret_key=SECRET)


def prepare(source: Path, target: Path) -> dict[str, float]:
    """Copy the store and build what a running server keeps (timed)."""
    from klantreis.access import accounts
    from klantreis.app import App

    shutil.copy(source, target)
    out = {}
    with App(_settings(target)) as app:
        accounts.add_user(app.store, "ana", "analyst", "analyst-pass-1")
        steps = {
            "journey index (build or refresh)": ("/journeys", "journey_index"),
            "derived views (full build, or nothing when the source has them)": (
                "/journeys",
                "derived_views",
            ),
            "score cells (full build, or nothing when the source has them)": (
                "/scores / /contacts",
                "score_cells",
            ),
            "kept contacts (full build incl. classification)": ("/contacts", "contact_views"),
            "kept conditions (full build)": ("/contacts", "condition_views"),
        }
        for step, (pages, name) in steps.items():
            build = getattr(app, name, None)  # None: code without it (a baseline run)
            if build is not None and any(p in PAGES for p in pages.split()):
                t0 = time.perf_counter()
                build()
                out[step] = time.perf_counter() - t0
        # A server that restarts has shown its pages before: what a first view keeps (the
        # root causes' window counts and held-before counts of the default period) is in the
        # store. Without this, "after a restart" would be "the first view ever".
        from fastapi.testclient import TestClient

        from klantreis.web import create_app

        token, _ = accounts.create_token(app.store, ["read"], user="ana")
        t0 = time.perf_counter()
        with TestClient(create_app(app)) as client:
            for name in PAGES.values():
                client.get(f"/api/v1/{name}", headers={"Authorization": f"Bearer {token}"})
        out["every page viewed once (what a server keeps before its restart)"] = (
            time.perf_counter() - t0
        )
    return out


#: The kind the batches of one event copy (``--one-kind``; None: the first event by id of
#: any kind, a survey answer on the 10M demo store).
ONE_KIND: list[str | None] = [None]
#: Which events a batch copies: "first-ids" (the first by id: journeys across the whole key
#: range, the worst case for the refreshes' key look-ups) or "newest" (the newest by time:
#: the recent journeys a day's feed adds to).
BATCH: list[str] = ["first-ids"]


def _new_events(app: Any, n: int, tag: str) -> Any:
    """``n`` events copied from existing journeys with new ids, one day later (a batch of
    one: of the kind ``--one-kind`` when given; which events: ``--batch``)."""
    kind = ONE_KIND[0] if n == 1 else None
    where = "" if kind is None else " AND kind = ?"
    order = "occurred_at DESC, event_id" if BATCH[0] == "newest" else "event_id"
    return app.store.query(
        "SELECT * EXCLUDE (event_id, occurred_at, ingested_at),"
        f" '{tag}-' || event_id AS event_id, occurred_at + INTERVAL 1 DAY AS occurred_at"
        f" FROM events WHERE journey_id IS NOT NULL{where} ORDER BY {order} LIMIT {int(n)}",
        None if kind is None else [kind],
    )


#: CPU seconds of the last views (all threads of this process: DuckDB's too), by page: on a
#: shared machine the wall time grows with the load, the CPU time much less.
CPU: dict[str, float] = {}


def _views(client: Any, headers: dict[str, str], fresh: bool = False) -> dict[str, float]:
    """Seconds of one view of every page, printed as they come (a round is long), with
    whether the answer was fresh (``meta.fresh``; code without it: always). ``fresh``: ask
    for fresh figures (``?fresh=1``; code without kept pages ignores it)."""
    out = {}
    for page, name in PAGES.items():
        t0, c0 = time.perf_counter(), time.process_time()
        resp = client.get(f"/api/v1/{name}" + ("?fresh=1" if fresh else ""), headers=headers)
        resp.raise_for_status()
        out[page], CPU[page] = time.perf_counter() - t0, time.process_time() - c0
        answered = "fresh" if resp.json()["meta"].get("fresh", True) else "kept page"
        print(
            f"  {page}: {out[page]:.3f} s, CPU {CPU[page]:.3f} s, {answered}"
            f" (load {load_average()})",
            flush=True,
        )
    return out


def one_round(
    base: Path, tmp: Path, n: int, counts: tuple[int, ...] = (1, 100_000)
) -> dict[str, dict[str, float]]:
    from fastapi.testclient import TestClient

    from klantreis.access import accounts
    from klantreis.app import App
    from klantreis.web import create_app

    db = tmp / f"round{n}.duckdb"
    shutil.copy(base, db)
    out: dict[str, dict[str, float]] = {}
    with App(_settings(db)) as app:
        token, _ = accounts.create_token(app.store, ["read"], user="ana")
        headers = {"Authorization": f"Bearer {token}"}
        api = create_app(app)
        with TestClient(api) as client:
            out["first view after restart"] = _views(client, headers)
            out["(CPU of the first view after restart)"] = dict(CPU)
            warm = [_views(client, headers) for _ in range(3)]
            out["warm (median of 3)"] = {p: statistics.median(w[p] for w in warm) for p in PAGES}
            job = _kept_views_job(app, api)
            if job is not None:  # a server's job has run before: the viewer's pages are kept
                t0, c0 = time.perf_counter(), time.process_time()
                job.run()
                out["(kept-views job's first turn: wall)"] = {"/": time.perf_counter() - t0}
                out["(kept-views job's first turn: CPU)"] = {"/": time.process_time() - c0}
            kept_after = _serve_kept_pages(app, api, job)
            for count in counts:
                out[f"(ingest of {count:,} itself)"] = {"/": _ingest(app, count, f"b{n}x{count}")}
                views = _views(client, headers, fresh=True)
                out[f"first view after ingest of {count:,}"] = views
                out[f"(CPU of the first view after ingest of {count:,})"] = dict(CPU)
                if job is None:  # code without the kept-views job (a baseline run)
                    continue
                # another batch of the same size (other ids), then the server's job, then views
                _ingest(app, count, f"j{n}x{count}")
                if kept_after is not None and count > kept_after:
                    views = _views(client, headers)
                    out[f"first view after ingest of {count:,}, before the job (kept page)"] = views
                    out[f"(CPU of the first view after ingest of {count:,}, kept page)"] = dict(CPU)
                t0, c0 = time.perf_counter(), time.process_time()
                job.run()
                parts = getattr(job.run, "timings", {}).items()
                print(
                    f"  job after {count:,}, wall/CPU s per part: "
                    + ", ".join(f"{k} {w:.2f}/{c:.2f}" for k, (w, c) in parts),
                    flush=True,
                )
                out[f"(kept-views job after ingest of {count:,}: wall)"] = {
                    "/": time.perf_counter() - t0
                }
                out[f"(kept-views job after ingest of {count:,}: CPU)"] = {
                    "/": time.process_time() - c0
                }
                views = _views(client, headers)
                out[f"first view after ingest of {count:,}, once the kept-views job ran"] = views
                out[f"(CPU of the first view after ingest of {count:,}, once the job ran)"] = dict(
                    CPU
                )
    db.unlink()
    return out


def _ingest(app: Any, count: int, tag: str) -> float:
    """Seconds to ingest ``count`` new events (see :func:`_new_events`) tagged ``tag``."""
    from klantreis.ingest.pipeline import ingest_table
    from klantreis.model.events import events_from_records

    rows = _new_events(app, count, tag).to_pylist()
    table = events_from_records(rows, source="bench")
    t0 = time.perf_counter()
    ingest_table(app.store, table, app.journey, source="bench")
    return time.perf_counter() - t0


def _kept_views_job(app: Any, api: Any) -> Any:
    """The server's kept-views job on this App and web app (None: code without it)."""
    from klantreis.web import app as web_app

    views = getattr(web_app, "default_views", None)
    return None if views is None else app.kept_views_job(views(api))


def _serve_kept_pages(app: Any, api: Any, job: Any) -> int | None:
    """Let the page cache answer with kept pages as a server does (its job woken is a no-op:
    the round runs the job itself); the setting's number of events (None: code without it)."""
    from klantreis.web import app as web_app

    serve = getattr(web_app, "serve_kept_pages", None)
    if serve is None or job is None or app.settings.stale_page_events <= 0:
        return None
    serve(api, job, lambda: None)
    return int(app.settings.stale_page_events)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default="/work/bench-data/demo10m.duckdb")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated paths")
    parser.add_argument(
        "--prepared",
        help="a store prepared before (by `prepare`, e.g. with the same code): copied per"
        " round, not prepared again",
    )
    parser.add_argument(
        "--counts",
        "--sizes",
        default="1,100000",
        help="comma-separated sizes of the batches appended, in this order",
    )
    parser.add_argument(
        "--one-kind",
        help="the kind of the batches of one event (e.g. invoice.paid; default: the first"
        " event by id)",
    )
    parser.add_argument(
        "--batch",
        choices=("first-ids", "newest"),
        default="first-ids",
        help="which events a batch copies (new ids, one day later): the first by id (journeys"
        " across the whole key range: the default, the worst case) or the newest by time"
        " (recent journeys, as a day's feed)",
    )
    args = parser.parse_args(argv)
    counts = tuple(int(c) for c in args.counts.split(","))
    ONE_KIND[0], BATCH[0] = args.one_kind, args.batch
    for page in [p for p in PAGES if p not in args.pages.split(",")]:
        del PAGES[page]
    before = load_average()
    with tempfile.TemporaryDirectory(prefix="klantreis-views-", dir="/tmp") as tmp_name:
        tmp = Path(tmp_name)
        base = tmp / "base.duckdb"
        if args.prepared:
            base, prepared = Path(args.prepared), {}
        else:
            prepared = prepare(Path(args.db), base)
        print(f"prepared: {prepared}", flush=True)
        rounds = []
        for i in range(args.rounds):
            rounds.append(one_round(base, tmp, i, counts))
            print(f"round {i}: {rounds[-1]} (load {load_average()})", flush=True)
    print(f"load average {before} -> {load_average()}; median of {args.rounds} rounds\n")
    for step, seconds in prepared.items():
        print(f"- {step}: {seconds:.2f} s")
    print("\n| step | " + " | ".join(f"`{p}` (s)" for p in PAGES) + " |")
    print("|---|" + "---:|" * len(PAGES))
    for step in rounds[0]:
        cells = [
            f"{statistics.median(r[step][p] for r in rounds):.3f}" if p in rounds[0][step] else ""
            for p in PAGES
        ]
        print(f"| {step} | " + " | ".join(cells) + " |")
    print("\nper round (s):")
    for i, r in enumerate(rounds):
        print(i, {s: {p: round(v, 3) for p, v in d.items()} for s, d in r.items()})


if __name__ == "__main__":
    main(sys.argv[1:])
