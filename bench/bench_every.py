"""Every page and every read-only command on one (large) store, each a fresh process with its
wall time, CPU time and peak memory (issue 17: "every page and command working at 100M").

``nice -n 10 env PYTHONPATH=src:. python -m bench.bench_every --db COPY.duckdb``

**It writes to the store** (users, tokens, the kept tables): give it a copy. In order:

1. *setup* (not timed as a row): an analyst and an admin with read tokens, and the ids the
   parameterised routes and commands need (a journey, a customer, a case, an owner);
2. *kept tables*, each in its own process: the journey index (brought up to date), the
   derived views, the score cells and the kept contacts: what a first page view would build;
3. *pages*: ``GET /api/v1/<page>`` of every page a user reads, each in a fresh process
   (open the App, start the web app, one request: the first view after a restart);
4. *commands*: every read-only CLI command, each as ``klantreis ...`` with ``--db``.

Each run has a time limit (``--timeout``, default 900 s) and a floor on the machine's
available memory (``--min-free-mb``, default 4,096: the machine is shared); a run past either
is killed (its own process group) and recorded as such, and the next one starts. Every run prints one line as it
ends (with the load average), and a Markdown table closes the run: rerun a single row with
``--only 'journeys dfg'`` (a substring of its name).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.process import klantreis_command, load_average

__all__ = ["main"]

SECRET = "bench-secret-key-0123456789abcdef"

_SETUP = """
import json, sys
from klantreis.access import accounts
from klantreis.app import App
from klantreis.settings import Settings
s = Settings.load(env={}, db_path=sys.argv[1], secret_key=sys.argv[2])
with App(s) as app:
    accounts.ensure_schema(app.store)
    out = {}
    for name, role in (("bench-analyst", "analyst"), ("bench-admin", "admin")):
        if accounts.get_user(app.store, name) is None:
            accounts.add_user(app.store, name, role, "bench-pass-0123456789")
        out[role], _ = accounts.create_token(app.store, ["read"], user=name)
    q = lambda sql: (app.store.con.execute(sql).fetchone() or [None])[0]
    out["journey"] = q("SELECT journey_id FROM events WHERE journey_id IS NOT NULL LIMIT 1")
    out["customer"] = q("SELECT customer_id FROM events WHERE customer_id IS NOT NULL LIMIT 1")
    try:
        out["case"] = q("SELECT case_id FROM cases LIMIT 1")
    except Exception:
        out["case"] = None
    out["owner"] = q("SELECT owner FROM events WHERE owner IS NOT NULL LIMIT 1")
print(json.dumps(out))
"""

_KEPT = """
import json, resource, sys, time
from klantreis.app import App
from klantreis.settings import Settings
s = Settings.load(env={}, db_path=sys.argv[1], secret_key=sys.argv[2])
with App(s) as app:
    t0, c0 = time.perf_counter(), time.process_time()
    kept = getattr(app, sys.argv[3])()
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": secs, "cpu_s": cpu, "peak_before_close_mib": peak,
                  "note": "None (unavailable)" if kept is None else ""}))
"""

_PAGE = """
import json, resource, sys, time
from fastapi.testclient import TestClient
from klantreis.app import App
from klantreis.settings import Settings
from klantreis.web import create_app
s = Settings.load(env={}, db_path=sys.argv[1], secret_key=sys.argv[2])
with App(s) as app:
    with TestClient(create_app(app)) as client:
        t0, c0 = time.perf_counter(), time.process_time()
        r = client.get(sys.argv[3], headers={"Authorization": f"Bearer {sys.argv[4]}"})
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
print(json.dumps({"seconds": secs, "cpu_s": cpu, "peak_before_close_mib": peak,
                  "status": r.status_code, "bytes": len(r.content),
                  "note": "" if r.status_code == 200 else str(body.get("error", r.text[:200]))}))
"""


@dataclass(frozen=True)
class Row:
    group: str
    name: str
    wall_s: float
    cpu_s: float
    peak_mib: float
    inner: dict[str, object]
    outcome: str
    load: str


#: Exit codes :func:`_run` gives a run it stopped: past its time, or the machine low on memory.
KILLED_TIME, KILLED_MEMORY = -999, -998


def available_mib() -> float:
    """The machine's available memory (``MemAvailable`` of ``/proc/meminfo``), MiB."""
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def _run(
    argv: Sequence[str], timeout: float, min_free_mib: float = 0.0
) -> tuple[float, float, float, int, str, str]:
    """Run ``argv`` to its exit, or stop it (kill its own process group) past ``timeout``
    or when the machine's available memory falls below ``min_free_mib`` (the machine is
    shared): wall s, CPU s and peak MiB (``os.wait4``: this child's own), exit code
    (:data:`KILLED_TIME`, :data:`KILLED_MEMORY` for a stopped run), stdout, stderr tail."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
        stopped: list[int] = []
        done = threading.Event()

        def watch() -> None:
            while not done.wait(1.0):
                if time.perf_counter() - t0 > timeout:
                    stopped.append(KILLED_TIME)
                elif available_mib() < min_free_mib:
                    stopped.append(KILLED_MEMORY)
                else:
                    continue
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        watcher.join()
        wall = time.perf_counter() - t0
        code = stopped[0] if stopped else os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read()[-2000:].decode("utf-8", "replace")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code, stdout, stderr


def _python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def _measure(
    group: str, name: str, argv: Sequence[str], timeout: float, min_free_mib: float = 0.0
) -> Row:
    wall, cpu, peak, code, stdout, stderr = _run(argv, timeout, min_free_mib)
    inner: dict[str, object] = {}
    lines = stdout.strip().splitlines()
    if group != "command" and lines:
        try:
            inner = json.loads(lines[-1])
        except json.JSONDecodeError:
            inner = {}
    if code == KILLED_TIME:
        outcome = f"killed after {timeout:.0f} s (time limit)"
    elif code == KILLED_MEMORY:
        outcome = f"stopped at {peak:,.0f} MiB: the machine fell below {min_free_mib:,.0f} MiB free"
    elif code != 0:
        last = (stderr.strip().splitlines() or ["?"])[-1]
        outcome = f"exit {code}: {last[:300]}"
    elif inner.get("status", 200) != 200:
        outcome = f"HTTP {inner['status']}: {inner.get('note', '')}"
    else:
        outcome = "ok" + (f" ({inner['note']})" if inner.get("note") else "")
        if group == "command":
            outcome += f", {len(lines)} lines"
    row = Row(group, name, wall, cpu, peak, inner, outcome, load_average())
    extra = {k: round(v, 2) if isinstance(v, float) else v for k, v in inner.items()}
    print(
        f"  {group} {name}: {wall:.2f} s, CPU {cpu:.2f} s, {peak:,.0f} MiB; {outcome}"
        f" {extra if extra else ''} (load {row.load})",
        file=sys.stderr,
        flush=True,
    )
    return row


KEPT = {
    "journey index (up to date)": "journey_index",
    "derived views (journeys page)": "derived_views",
    "score cells (scores, overview)": "score_cells",
    "kept contacts (contacts page, incl. classification)": "contact_views",
    "kept conditions (contacts page's root causes)": "condition_views",
}

#: ``(route, role)``: every page's JSON a user reads (``/api/v1``, GET, no write).
PAGES = [
    ("/api/v1/journeys", "analyst"),
    ("/api/v1/journeys?period=30d", "analyst"),  # a window that cuts: journeys one by one
    ("/api/v1/scores", "analyst"),
    ("/api/v1/index", "analyst"),
    ("/api/v1/contacts", "analyst"),
    ("/api/v1/contacts?period=all&reason=waar_is_mijn_pakket", "analyst"),  # one page listed
    ("/api/v1/cases", "analyst"),
    ("/api/v1/proactive", "analyst"),
    ("/api/v1/comments/themes", "analyst"),
    ("/api/v1/alerts", "analyst"),
    ("/api/v1/verbatims", "analyst"),
    ("/api/v1/surveys", "analyst"),
    ("/api/v1/surveys/invitations", "analyst"),
    ("/api/v1/contacts_queue", "analyst"),
    ("/api/v1/comments/themes/queue", "analyst"),
    ("/api/v1/cases/team?owner={owner}", "analyst"),
    ("/api/v1/cases/{case}", "analyst"),
    ("/api/v1/contacts/models", "analyst"),
    ("/api/v1/contacts/train", "analyst"),
    ("/api/v1/comments/themes/train", "analyst"),
    ("/api/v1/health", "analyst"),
    ("/api/v1/users", "admin"),
    ("/api/v1/tokens", "admin"),
]

#: Read-only commands (``--db`` is added); ``{journey}`` etc. come from the setup.
COMMANDS = [
    ["metrics"],
    ["metrics", "--metric", "all", "--by", "touchpoint"],
    ["metrics", "--view", "changes", "--period", "week"],
    ["metrics", "--view", "matrix"],
    ["metrics", "--view", "contacts"],
    ["journeys", "dfg"],
    ["journeys", "variants"],
    ["journeys", "handovers"],
    ["journeys", "promises"],
    ["journeys", "promises", "--at-risk"],
    ["journeys", "impact"],
    ["journeys", "timeline", "--journey", "{journey}"],
    ["journeys", "timeline", "--customer", "{customer}"],
    ["contacts", "reasons"],
    ["contacts", "warroom"],
    ["contacts", "rootcause"],
    ["contacts", "clusters"],
    ["contacts", "queue"],
    ["contacts", "models"],
    ["cases", "list"],
    ["cases", "outcomes"],
    ["cases", "show", "{case}"],
    ["surveys", "rates"],
    ["outbox", "status"],
    ["quarantine"],
    ["text", "models"],
]


def _fill(text: str, ids: dict[str, str | None]) -> str | None:
    for key, value in ids.items():
        if "{" + key + "}" in text:
            if value is None:
                return None
            text = text.replace("{" + key + "}", value)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True, help="a COPY of the store (written)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    parser.add_argument("--kept-timeout", type=float, default=3600.0, help="per kept build")
    parser.add_argument("--groups", default="kept,page,command")
    parser.add_argument("--only", default="", help="only rows whose name contains this")
    parser.add_argument(
        "--min-free-mb",
        type=float,
        default=4096.0,
        help="stop a run when the machine's available memory falls below this (shared machine)",
    )
    args = parser.parse_args(argv)
    db, groups = str(args.db), args.groups.split(",")
    print(f"store {db}; load average at start {load_average()}", flush=True)
    setup = _run(_python(_SETUP, db, SECRET), args.timeout)
    if setup[3] != 0:
        raise SystemExit(f"setup failed: {setup[5]}")
    ids = json.loads(setup[4].strip().splitlines()[-1])
    print(
        f"setup {setup[0]:.1f} s, {setup[2]:,.0f} MiB: {ids.get('journey')=} "
        f"{ids.get('case')=} {ids.get('owner')=}",
        flush=True,
    )
    rows: list[Row] = []

    def wanted(name: str) -> bool:
        return args.only in name

    if "kept" in groups:
        for name, method in KEPT.items():
            if wanted(name):
                rows.append(
                    _measure(
                        "kept",
                        name,
                        _python(_KEPT, db, SECRET, method),
                        args.kept_timeout,
                        args.min_free_mb,
                    )
                )
    if "page" in groups:
        for route, role in PAGES:
            path = _fill(route, ids)
            token = ids["admin"] if role == "admin" else ids["analyst"]
            if path is None:
                print(f"  page {route}: skipped (no id in this store)", file=sys.stderr)
                continue
            if wanted(route):
                argv_ = _python(_PAGE, db, SECRET, path, token)
                rows.append(
                    _measure("page", f"GET {route} ({role})", argv_, args.timeout, args.min_free_mb)
                )
    if "command" in groups:
        for command in COMMANDS:
            filled = [_fill(c, ids) for c in command]
            name = " ".join(command)
            if None in filled:
                print(f"  command {name}: skipped (no id in this store)", file=sys.stderr)
                continue
            if wanted(name):
                argv_ = klantreis_command(*[c for c in filled if c is not None], "--db", db)
                rows.append(
                    _measure("command", f"klantreis {name}", argv_, args.timeout, args.min_free_mb)
                )
    print(f"\nload average at the end {load_average()}\n")
    print("| step | whole process s | CPU s | peak MiB | in-process s (CPU s) | load | outcome |")
    print("|---|---:|---:|---:|---:|---|---|")
    for r in rows:
        inner = (
            f"{r.inner['seconds']:.2f} ({r.inner.get('cpu_s', 0):.2f})"
            if "seconds" in r.inner
            else "-"
        )
        print(
            f"| {r.group}: `{r.name}` | {r.wall_s:.2f} | {r.cpu_s:.2f} | {r.peak_mib:,.0f}"
            f" | {inner} | {r.load.split()[0]} | {r.outcome} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
