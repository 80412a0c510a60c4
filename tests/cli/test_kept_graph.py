"""``journeys dfg`` on a current journey index reads the kept graph on a read-only connection
(``analytics/kept_graph.py``, issue 17); whenever that could differ from what the index
gives, the command takes the usual way. Either way it prints the same."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from tests.journeys.logs import load, small_log

from klantreis.analytics import kept_graph
from klantreis.analytics.kept_graph import read_kept_graph
from klantreis.app import App
from klantreis.cli import journeys_cmd
from klantreis.cli.main import cli
from klantreis.settings import Settings
from klantreis.store import EventStore

DEMO_JOURNEY = Path(__file__).resolve().parents[2] / "src/klantreis/demo/journey.toml"


def _stored(app: App) -> str:
    """The app's store with a current index and its kept graphs (kind and touchpoint)."""
    load(app, small_log())
    index = app.journey_index()
    assert index is not None
    for activity in ("kind", "touchpoint"):
        index.discover(activity=activity)
    db = str(app.settings.db_path)
    app.close()
    return db


def _dfg(*args: str) -> str:
    result = CliRunner().invoke(cli, ["journeys", "dfg", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--lang", "en"],
        ["--activity", "touchpoint"],
        ["--activity", "touchpoint", "--lang", "en"],
        ["--json"],
        ["--csv", "--activity", "touchpoint"],
        ["--config", str(DEMO_JOURNEY), "--lang", "en"],  # a journey file given: validated
    ],
)
def test_prints_what_the_index_prints(
    file_app: App, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    db = _stored(file_app)
    with monkeypatch.context() as m:  # the kept graph alone: no App is opened
        m.setattr(journeys_cmd, "open_app", _no_app)
        fast = _dfg("--db", db, *args)
    with monkeypatch.context() as m:  # the usual way: App, index, Arrow
        m.setattr(kept_graph, "read_kept_graph", lambda *a: None)
        usual = _dfg("--db", db, *args)
    assert fast == usual
    assert len(fast.splitlines()) > 8  # the edges are there


def _no_app(*args: object, **kw: object) -> None:
    raise AssertionError("the kept graph was not read")


def test_reads_only_a_current_index(file_app: App) -> None:
    db = _stored(file_app)
    kept = read_kept_graph(db)
    assert kept is not None and kept.journeys == 6 and kept.edges
    assert read_kept_graph(db, "touchpoint") is not None
    assert read_kept_graph(db, "stage") is None  # not an activity

    con = duckdb.connect(db)  # another version of the index
    con.execute("UPDATE journey_index_state SET version = version + 1")
    con.close()
    assert read_kept_graph(db) is None
    con = duckdb.connect(db)
    con.execute("UPDATE journey_index_state SET version = version - 1")
    con.execute("DELETE FROM journey_dfg WHERE activity = 'kind'")  # not kept yet
    con.close()
    assert read_kept_graph(db) is None
    assert read_kept_graph(db, "touchpoint") is not None


def test_an_index_behind_the_log_is_refreshed_by_the_usual_way(file_app: App) -> None:
    db = _stored(file_app)
    more = [
        {**r, "event_id": f"{r['event_id']}-b", "journey_id": f"{r['journey_id']}-b"}
        for r in small_log()
        if r["journey_id"]
    ]
    with App(Settings.load(env={}, db_path=db, index_on_ingest=False)) as app:
        load(app, more)
    assert read_kept_graph(db) is None  # the log holds events the index has not seen
    assert '"journeys": 12' in _dfg("--db", db, "--json")  # refreshed, then read
    kept = read_kept_graph(db)
    assert kept is not None and kept.journeys == 12


def test_no_store_or_a_held_one_takes_the_usual_way(tmp_path: Path, file_app: App) -> None:
    assert read_kept_graph(":memory:") is None
    assert read_kept_graph(str(tmp_path / "none.duckdb")) is None
    assert not (tmp_path / "none.duckdb").exists()  # nothing created
    db = _stored(file_app)
    with EventStore(db):  # held by a writer (here: this process, read-write)
        assert read_kept_graph(db) is None


@pytest.mark.parametrize("args", [["--json"], [], ["--no-index"]])
def test_a_journey_file_that_cannot_be_used_is_one_line(
    file_app: App, tmp_path: Path, args: list[str]
) -> None:
    """Validated as opening the App validates it, also when the output names nothing."""
    db = _stored(file_app)
    result = CliRunner().invoke(
        cli, ["journeys", "dfg", "--db", db, "--config", str(tmp_path / "none.toml"), *args]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path / 'none.toml'}: file not found"
    ]
