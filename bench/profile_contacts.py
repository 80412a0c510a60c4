"""Fresh ``/contacts`` after an ingest, part by part: on a copy of a prepared store, view
every page once (restart), run the kept-views job's first turn (when the code has it),
ingest ``--events`` events as ``bench_views`` does (``--batch newest``: the newest ones),
view ``/journeys`` and ``/scores`` fresh, then view ``/contacts`` fresh with CPU timers (the process's CPU, DuckDB's threads
included) around its parts and, with ``--statements N``, around every statement the
contacts modules run (the N costliest statement shapes).

``nice -n 10 env PYTHONPATH=src:. python -m bench.profile_contacts --db STORE``

Run it with ``PYTHONPATH=/work/main/src:.`` for another checkout's code (interleave). A part
that the code does not have is left out; the parts nest (the conditions' refresh runs
inside the held counts' view when the page reaches them first), so they do not add up.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.bench_views import BATCH, _ingest, _kept_views_job, _settings
from bench.process import load_average
from bench.profile_refresh import print_spent

__all__ = ["main"]

#: The modules whose statement helpers run the page's SQL, and the helpers' names.
_STATEMENT_HELPERS = (
    ("klantreis.contacts.conditions", "_rows"),
    ("klantreis.contacts.cause_totals", "_run"),
    ("klantreis.contacts.held_counts", "_run"),
    ("klantreis.contacts.derived", "_rows"),
    ("klantreis.analytics.touched_events", "_rows"),
)
#: The page's parts: (label, module, class or None, function).
_PARTS = (
    ("kept contacts' refresh", "klantreis.contacts.derived", "ContactViews", "ensure"),
    ("conditions' refresh", "klantreis.contacts.conditions", "ConditionViews", "_refresh"),
    ("- its rows (_replace)", "klantreis.contacts.conditions", "ConditionViews", "_replace"),
    ("- the breaks' rows", "klantreis.contacts.kept_breaks", "KeptBreaks", "replace"),
    ("- root causes' windows", "klantreis.contacts.cause_totals", "CauseTotals", "window"),
    ("held counts (HeldCounts.window)", "klantreis.contacts.held_counts", "HeldCounts", "window"),
    ("- its slot (_slot)", "klantreis.contacts.held_counts", "HeldCounts", "_slot"),
    (
        "- contact ids to read (_touched_ids)",
        "klantreis.contacts.held_counts",
        None,
        "_touched_ids",
    ),
    ("- frame loaded (_load_frame)", "klantreis.contacts.held_counts", None, "_load_frame"),
    ("- its update (_update)", "klantreis.contacts.held_counts", "HeldCounts", "_update"),
    ("- its recount (_recount)", "klantreis.contacts.held_counts", "HeldCounts", "_recount"),
    ("war room (_kept_room)", "klantreis.contacts.reports", None, "_kept_room"),
    (
        "- its contact sums (KeptContacts.sums)",
        "klantreis.contacts.kept_reports",
        "KeptContacts",
        "sums",
    ),
    (
        "- its cause frame (cause_frame_with_id)",
        "klantreis.contacts.derived",
        "ContactViews",
        "cause_frame_with_id",
    ),
    ("report (kept_report)", "klantreis.contacts.reports", None, "kept_report"),
    ("trend (kept_trend)", "klantreis.contacts.reports", None, "kept_trend"),
    ("weekly breaks", "klantreis.contacts.conditions", "ConditionViews", "weekly_breaks"),
)


def _owner(module: str, cls: str | None) -> Any:
    mod = importlib.import_module(module)
    return mod if cls is None else getattr(mod, cls, None)


@contextmanager
def _patched(owner: Any, name: str, wrap: Callable[[Any], Any]) -> Iterator[bool]:
    original = None if owner is None else owner.__dict__.get(name)
    if original is None:
        yield False
        return
    setattr(owner, name, wrap(original))
    try:
        yield True
    finally:
        setattr(owner, name, original)


def _timer(label: str, spent: dict[str, list[float]]) -> Callable[[Any], Any]:
    def wrap(inner: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                row = spent[label]
                row[0] += time.perf_counter() - t0
                row[1] += time.process_time() - c0
                row[2] += 1

        return run

    return wrap


def _shape(sql: str) -> str:
    return re.sub(r"'[^']*'|\b\d+\b", "?", " ".join(sql.split()))[:120]


def _statement_timer(module: str, spent: dict[str, list[float]]) -> Callable[[Any], Any]:
    short = module.rsplit(".", 1)[-1]

    def wrap(inner: Any) -> Any:
        def run(con: Any, sql: str, params: Any = None) -> Any:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return inner(con, sql, params)
            finally:
                row = spent[f"{short}: {_shape(sql)}"]
                row[0] += time.perf_counter() - t0
                row[1] += time.process_time() - c0
                row[2] += 1

        return run

    return wrap


def timers(
    stack: ExitStack,
    parts: Any,
    spent: dict[str, list[float]],
    statements: dict[str, list[float]] | None,
) -> None:
    """Time each of ``parts`` ((label, module, class or None, function)) into ``spent`` and,
    with ``statements``, every statement of the contacts modules into it, until ``stack``
    closes."""
    for label, module, cls, name in parts:
        stack.enter_context(_patched(_owner(module, cls), name, _timer(label, spent)))
    for module, name in _STATEMENT_HELPERS if statements is not None else ():
        timer = _statement_timer(module, statements)
        stack.enter_context(_patched(importlib.import_module(module), name, timer))


def print_timers(
    title: str, spent: dict[str, list[float]], statements: dict[str, list[float]], top: int
) -> None:
    """Print the parts timed (``title``) and, with ``top``, the ``top`` costliest statements."""
    print_spent(title, spent)
    if top:
        print_spent("statements", statements, top)


def common_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options of this profile and ``bench.profile_next_day``: the store, the batch's
    size and kind, the costliest statements to print, where the copy goes."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--db", default="/work/bench-data/p.duckdb")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--statements", type=int, default=0, help="print the N costliest")
    parser.add_argument("--tmp", default="/tmp", help="where the copy goes")
    parser.add_argument(
        "--batch",
        choices=("first-ids", "newest"),
        default="first-ids",
        help="which events the batch copies (bench_views' --batch): with --events 1 and"
        " newest, the first event of a new day (it moves the default period)",
    )
    return parser


@contextmanager
def served_copy(args: argparse.Namespace, prefix: str) -> Iterator[tuple[Any, Any, Any, Any]]:
    """A copy of ``args.db`` in a temporary folder under ``args.tmp`` (gone afterwards), an
    App on it, its web app and an in-process client, with a reader's headers: (app, api,
    client, headers). Sets the batch's kind (``args.batch``)."""
    from fastapi.testclient import TestClient

    from klantreis.access import accounts
    from klantreis.app import App
    from klantreis.web import create_app

    BATCH[0] = args.batch
    with tempfile.TemporaryDirectory(prefix=prefix, dir=args.tmp) as tmp:
        db = Path(tmp) / "store.duckdb"
        shutil.copy(args.db, db)
        with App(_settings(db)) as app:
            token, _ = accounts.create_token(app.store, ["read"], user="ana")
            headers = {"Authorization": f"Bearer {token}"}
            api = create_app(app)
            with TestClient(api) as client:
                yield app, api, client, headers


def first_event_turn(
    app: Any, job: Any, view: Callable[..., None], checkpoint: bool = False
) -> None:
    """What ``bench_views`` runs before its batch of 100,000: one event, every page fresh,
    another event, the kept-views job's turn (with the write-ahead log's size after it);
    ``checkpoint``: then a checkpoint (what the turn did before decision 95)."""
    print(f"ingest of 1: {_ingest(app, 1, 'pf1'):.3f} s")
    for name in ("journeys", "scores", "contacts", "index"):
        view(name, True)
    _ingest(app, 1, "pf2")
    if job is not None:
        c0 = time.process_time()
        job.run()
        print(f"job's turn after 1: CPU {time.process_time() - c0:.3f} s, {wal_mib(app)}")
    if checkpoint:
        app.store.con.execute("CHECKPOINT").fetchall()
        print(f"checkpoint after the turn: {wal_mib(app)}")


def wal_mib(app: Any) -> str:
    """The store's write-ahead log size, as text."""
    wal = Path(app.store.path + ".wal")
    return f"WAL {wal.stat().st_size / 2**20:.1f} MiB" if wal.exists() else "no WAL"


def main(argv: list[str] | None = None) -> None:
    parser = common_parser(__doc__)
    parser.add_argument(
        "--first-event",
        action="store_true",
        help="before the batch, as bench_views: one event, the pages fresh, another event"
        " and the job's turn",
    )
    parser.add_argument(
        "--checkpoint",
        action="store_true",
        help="with --first-event: a checkpoint after the job's turn",
    )
    args = parser.parse_args(argv)
    with served_copy(args, "klantreis-contacts-") as (app, api, client, headers):

        def view(name: str, fresh: bool = False) -> None:
            t0, c0 = time.perf_counter(), time.process_time()
            url = f"/api/v1/{name}" + ("?fresh=1" if fresh else "")
            client.get(url, headers=headers).raise_for_status()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"{name}{' fresh' if fresh else ''}: {wall:.3f} s, CPU {cpu:.3f} s")

        for name in ("journeys", "scores", "contacts", "index"):
            view(name)
        job = _kept_views_job(app, api)
        if job is not None:
            c0 = time.process_time()
            job.run()
            print(f"job's first turn: CPU {time.process_time() - c0:.3f} s")
        if args.first_event:
            first_event_turn(app, job, view, args.checkpoint)
        print(f"ingest of {args.events:,}: {_ingest(app, args.events, 'pc'):.3f} s")
        view("journeys", True)
        view("scores", True)
        parts: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        statements: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        with ExitStack() as stack:
            timers(stack, _PARTS, parts, statements if args.statements else None)
            print(f"load before /contacts: {load_average()}, {wal_mib(app)}")
            view("contacts", True)
            print(f"after /contacts: {wal_mib(app)}")
        print_timers("parts of fresh /contacts", parts, statements, args.statements)
        print(f"load after: {load_average()}")


if __name__ == "__main__":
    main(sys.argv[1:])
