"""Shared CLI options: one ``--format table|json|csv`` on every read command, with ``--json``
and ``--csv`` still working as shorthands."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from tests.journeys.logs import load, small_log

from klantreis.app import App
from klantreis.cli.main import cli
from klantreis.cli.options import emit, output_options, resolve_output
from klantreis.settings import Settings


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("cli-options") / "store.duckdb")
    with App(Settings.load(env={}, db_path=path)) as app:
        load(app, small_log())
    return path


def run(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ((None, False, False), "table"),
        (("json", False, False), "json"),
        ((None, True, False), "json"),
        ((None, False, True), "csv"),
        (("csv", False, True), "csv"),
    ],
)
def test_resolve_output(given: tuple[str | None, bool, bool], expected: str) -> None:
    assert resolve_output(*given) == expected


def test_contradicting_formats_are_a_usage_error() -> None:
    with pytest.raises(click.UsageError, match="csv and json"):
        resolve_output("csv", True, False)


def test_output_options_hand_one_argument_to_the_command() -> None:
    seen: list[str] = []

    @click.command()
    @output_options
    def show(output: str) -> None:
        seen.append(output)

    runner = CliRunner()
    for args in ([], ["--json"], ["--csv"], ["--format", "csv"], ["--format", "table"]):
        assert runner.invoke(show, args).exit_code == 0
    assert seen == ["table", "json", "csv", "csv", "table"]
    assert runner.invoke(show, ["--json", "--csv"]).exit_code == 2


def test_emit_csv_is_one_rectangle_with_lists_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    emit(
        [{"a": 1, "path": ["x", "y"], "b": None}, {"a": 2, "path": [], "b": "t,u"}],
        "csv",
        extra={"total": 2},
    )
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [["a", "path", "b"], ["1", '["x", "y"]', ""], ["2", "[]", "t,u"]]


def test_emit_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    emit([{"a": 1.25, "path": ["x", "y"]}], "table", extra={"total": 1})
    assert capsys.readouterr().out.splitlines() == ["total: 1", "a    path ", "1.2  x > y"]
    emit([{"a": 1}], "json", extra={"total": 1})
    assert json.loads(capsys.readouterr().out) == {"total": 1, "rows": [{"a": 1}]}


def test_journeys_format_json_equals_the_json_flag(db: str) -> None:
    by_flag = json.loads(run("journeys", "handovers", "--db", db, "--json"))
    by_format = json.loads(run("journeys", "handovers", "--db", db, "--format", "json"))
    assert by_flag == by_format and by_flag["rows"]


def test_journeys_timeline_as_csv(db: str) -> None:
    journey = json.loads(run("journeys", "timeline", "--db", db, "--customer", "c-o2", "--json"))
    out = run("journeys", "timeline", "--db", db, "--customer", "c-o2", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["kind"] for r in rows] == [r["kind"] for r in journey["rows"]]
    assert list(rows[0])[:3] == ["occurred_at", "journey_id", "kind"]


def test_metrics_keeps_json_and_csv_flags(db: str) -> None:
    by_flag = json.loads(
        run("metrics", "--metric", "csat", "--db", db, "--json", "--by", "channel")
    )
    by_format = json.loads(
        run("metrics", "--metric", "csat", "--db", db, "--format", "json", "--by", "channel")
    )
    assert by_flag == by_format
    out = run("metrics", "--metric", "csat", "--db", db, "--csv", "--by", "channel")
    assert out == run(
        "metrics", "--metric", "csat", "--db", db, "--format", "csv", "--by", "channel"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["channel"] for r in rows] == [r["channel"] for r in by_flag["rows"]] != []


def test_user_and_token_lists_in_every_format(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    run("user", "add", "els", "--role", "analyst", "--password", "lang-genoeg-1", "--db", db)
    run("token", "create", "--scope", "read", "--name", "bi", "--db", db)
    assert run("user", "list", "--db", db) == "els\tanalyst\tactive\n"
    users = json.loads(run("user", "list", "--db", db, "--format", "json"))["rows"]
    assert users == [{"name": "els", "role": "analyst", "state": "active"}]
    tokens = list(csv.DictReader(io.StringIO(run("token", "list", "--db", db, "--csv"))))
    assert [(t["name"], t["scopes"], t["state"]) for t in tokens] == [("bi", "read", "active")]
    table = run("token", "list", "--db", db).splitlines()
    assert table[0].split("\t") == list(tokens[0])


def test_a_table_without_rows_prints_its_headers(capsys: pytest.CaptureFixture[str]) -> None:
    """``klantreis cases outcomes`` on a store without cases (100M demo log) crashed here."""
    from klantreis.cli.options import echo_aligned

    echo_aligned(["owner", "cases"], [])
    assert capsys.readouterr().out.split() == ["owner", "cases"]
