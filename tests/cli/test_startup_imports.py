"""A command imports only what it needs: ``klantreis --help`` and ``journeys dfg`` on a
stored graph must not pay for the web server, the classifier or the analytics engine
(issue 17: a dfg command within 2x of a bare DuckDB query process)."""

from __future__ import annotations

import gc
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from tests.journeys.logs import load, small_log

from klantreis.analytics import discovery
from klantreis.app import App
from klantreis.cli import options
from klantreis.cli.main import COMMAND_MODULES, COMMANDS

#: Heavy packages no start-up path below may import.
NEVER = ("fastapi", "uvicorn", "starlette", "sklearn", "scipy", "joblib")
#: Also absent when the journey index answers alone (no filter): the portable engine, the
#: live-server client (only for a store a server holds) and the other command modules.
NOT_ON_STORED_GRAPH = (
    "ibis",
    "pandas",
    "sqlglot",
    "pyarrow.compute",
    "klantreis.live",
    "urllib.request",
    "ssl",
    *(m for m in COMMAND_MODULES if m != "klantreis.cli.journeys_cmd"),
)

#: Also absent when the kept graph of a current index answers (``analytics/kept_graph.py``):
#: no App or store object, no Arrow or numpy, no pydantic (the built-in journey's names are
#: read as plain TOML).
NOT_ON_KEPT_GRAPH = (
    "klantreis.app",
    "klantreis.store",
    "klantreis.model.journey",
    "pyarrow",
    "numpy",
    "pydantic",
)

_PROBE = """
import json, sys
from klantreis.cli.main import cli
try:
    cli(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _run(*args: str) -> tuple[str, set[str]]:
    """What the command printed, and every module it had imported when it ended."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    modules = set(json.loads(done.stderr.strip().splitlines()[-1]))
    return done.stdout, modules | {m.split(".")[0] for m in modules}


@pytest.mark.parametrize(
    "args", [["--help"], ["journeys", "--help"], ["journeys", "dfg", "--help"]]
)
def test_help_imports_no_server_classifier_or_store(args: list[str]) -> None:
    out, loaded = _run(*args)
    assert "Usage:" in out
    heavy = {*NEVER, *NOT_ON_STORED_GRAPH, "duckdb", "pydantic", "pyarrow", "numpy"}
    if args != ["--help"]:  # the top-level help imports every command module for its list
        assert not loaded & heavy
    else:
        assert not loaded & (heavy - set(COMMAND_MODULES))
        assert all(f"  {name} " in out for name in COMMANDS)


@pytest.mark.parametrize("module", COMMAND_MODULES)
def test_commands_name_what_each_module_registers(module: str) -> None:
    """The lazy table is right: each module adds exactly the commands listed for it."""
    group = click.Group()
    importlib.import_module(module).register(group)
    assert set(group.commands) == {name for name, m in COMMANDS.items() if m == module}


def test_dfg_on_a_stored_graph_imports_no_engine(file_app: App) -> None:
    load(file_app, small_log())
    reference = discovery.discover(file_app.events_table(), file_app.journey, top=20)
    index = file_app.journey_index()
    assert index is not None
    index.discover()  # builds the index and stores the graph
    db = str(file_app.settings.db_path)
    file_app.close()

    out, loaded = _run("journeys", "dfg", "--db", db, "--json")
    assert "duckdb" in loaded  # it did open the store
    assert not loaded & {*NEVER, *NOT_ON_STORED_GRAPH, *NOT_ON_KEPT_GRAPH, "klantreis.wording"}
    table, loaded = _run("journeys", "dfg", "--db", db)  # worded: the built-in journey's names
    assert "klantreis.wording" in loaded and len(table.splitlines()) > 8
    assert not loaded & {*NEVER, *NOT_ON_STORED_GRAPH, *NOT_ON_KEPT_GRAPH}
    body = json.loads(out)
    assert body["journeys"] == reference.journeys
    assert body["start"] == reference.start.to_pylist()
    assert body["end"] == reference.end.to_pylist()
    _same_graph(body["rows"], reference.dfg.to_pylist())

    out, loaded = _run("journeys", "variants", "--db", db, "--json")
    assert not loaded & {*NEVER, *NOT_ON_STORED_GRAPH}
    assert json.loads(out)["rows"] == reference.variants.to_pylist()


def test_dfg_with_a_filter_still_answers(file_app: App) -> None:
    """A filter needs the portable engine; the answer is still the index's filtered one."""
    load(file_app, small_log())
    db = str(file_app.settings.db_path)
    file_app.close()
    out, loaded = _run("journeys", "dfg", "--db", db, "--json", "--owner", "carrier:snelpost")
    assert "ibis" in loaded
    assert not loaded & set(NEVER)
    assert json.loads(out)["journeys"] == 3  # o1, o3 and o5


def _same_graph(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    """The stored graph of all journeys: edges, counts and means exact, median and p90 from
    the kept wait histogram within its relative error (docs/journeys.md)."""
    from klantreis.analytics.derived_totals import ALPHA

    assert [(r["source"], r["target"], r["count"]) for r in got] == [
        (r["source"], r["target"], r["count"]) for r in want
    ]
    for g, w in zip(got, want, strict=True):
        assert g["mean_s"] == pytest.approx(w["mean_s"], rel=1e-9)
        for q in ("median_s", "p90_s"):
            assert g[q] == pytest.approx(w[q], rel=ALPHA, abs=1e-9)


def test_a_server_collects_with_pythons_thresholds() -> None:
    """One command collects seldom; a command that goes on to serve gets Python's own
    thresholds back (its memory and pauses were measured with them)."""
    before = gc.get_threshold()
    try:
        options.tune_collector_for_one_command()
        assert gc.get_threshold()[0] == options.GC_YOUNG_THRESHOLD
        options.collector_for_a_server()
        assert gc.get_threshold() == before
    finally:
        gc.set_threshold(*before)
