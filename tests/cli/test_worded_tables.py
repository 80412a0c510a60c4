"""The CLI's read commands print tables in the reader's language (``--lang``): worded
headers, configured names instead of ids, locale numbers, and a significant change coloured
by whether it is better (CES: lower is better); JSON keeps ids and raw numbers."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from tests.web.conftest import fill_store, make_settings

from klantreis.app import App, default_journey_config
from klantreis.cli.main import cli
from klantreis.wording import Names, Wording
from klantreis.wording.table import change_colour, worded_table


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("cli-worded") / "store.duckdb")
    with App(make_settings(path)) as app:
        fill_store(app, days=40)
    return path


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


def test_dutch_table_has_dutch_headers_names_and_numbers(db: str) -> None:
    out = run("metrics", "--metric", "nps", "--by", "owner", "--db", db, "--lang", "nl")
    assert "Eigenaar" in out and "Ondergrens" in out and "Waarde" in out
    assert "Klantenservice" in out and "Financiën" in out and "SnelPost" in out
    assert "customer_service" not in out and "carrier:snelpost" not in out
    assert "ci_low" not in out
    assert "," in out and "betrouwbaarheidsinterval" in out


def test_english_table_and_json_keeps_ids(db: str) -> None:
    out = run("metrics", "--metric", "ces", "--by", "channel", "--db", db, "--lang", "en")
    assert "Channel" in out and "Email" in out and "Lower bound" in out
    data = json.loads(run("metrics", "--metric", "ces", "--by", "channel", "--db", db, "--json"))
    assert {r["channel"] for r in data["rows"]} >= {"email", "web"}


def test_changes_use_test_names_in_the_language(db: str) -> None:
    out = run(
        "metrics", "--view", "changes", "--metric", "nps", "--by", "touchpoint",
        "--period", "week", "--db", db, "--lang", "nl",
    )  # fmt: skip
    assert "Toets" in out and "p-waarde" in out and "Bezorging" in out
    assert "ja" in out or "nee" in out


def test_change_colour_ces_lower_is_better() -> None:
    assert change_colour({"metric": "ces", "diff": 0.8, "significant": True}) == "red"
    assert change_colour({"metric": "ces", "diff": -0.8, "significant": True}) == "green"
    assert change_colour({"metric": "nps", "diff": -4.0, "significant": True}) == "red"
    assert change_colour({"metric": "nps", "diff": 4.0, "significant": True}) == "green"
    assert change_colour({"metric": "nps", "diff": -1.1, "significant": False}) is None


def test_too_few_and_missing_values() -> None:
    names = Names(default_journey_config(), Wording("nl"))
    headers, rows = worded_table(
        [{"stage": "orientatie", "value": None, "too_few": True, "significant": False}], names
    )
    assert headers == ["Fase", "Waarde", "Significant"]
    assert rows == [["Oriëntatie", "te weinig antwoorden", "nee"]]


@pytest.mark.parametrize(
    ("lang", "none", "few"),
    [("nl", "geen antwoorden", "te weinig antwoorden"), ("en", "no answers", "too few answers")],
)
def test_a_group_without_answers_says_there_are_none(lang: str, none: str, few: str) -> None:
    """n = 0 is not "too few": the cell says there are no answers (walk 8)."""
    names = Names(default_journey_config(), Wording(lang))
    rows = [
        {"touchpoint": "bezorging", "value": None, "too_few": True, "n": 0},
        {"touchpoint": "betalen", "value": None, "too_few": True, "n": 3},
    ]
    _, cells = worded_table(rows, names, columns=["touchpoint", "value"])
    assert [c[1] for c in cells] == [none, few]
    matrix = [
        {"nps": None, "nps_too_few": True, "nps_n": 0, "ces": None, "ces_too_few": True, "ces_n": 4}
    ]
    _, cells = worded_table(matrix, names, columns=["nps", "ces"])
    assert cells == [[none, few]]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from klantreis.demo.runner import run_demo

    path = str(tmp_path_factory.mktemp("cli-demo") / "demo.duckdb")
    with App(make_settings(path)) as app:
        run_demo(app, orders=400, seed=2, days=30)
    return path


def test_journeys_tables_speak_the_language(demo_db: str) -> None:
    out = run("journeys", "handovers", "--db", demo_db, "--lang", "nl")
    assert "Van" in out and "Naar" in out and "Magazijn" in out
    assert "carrier:" not in out and "warehouse" not in out
    english = run("journeys", "promises", "--by", "owner", "--db", demo_db, "--lang", "en")
    assert "Promise" in english and "VlotBezorgd" in english and "carrier:" not in english
    raw = json.loads(run("journeys", "handovers", "--db", demo_db, "--json"))
    assert any(r["from_owner"].startswith("carrier:") or r["to_owner"].startswith("carrier:")
               for r in raw["rows"])  # fmt: skip


def test_journey_impact_names_conditions(demo_db: str) -> None:
    out = run("journeys", "impact", "--db", demo_db, "--lang", "nl")
    assert "Belofte gebroken: Op tijd bezorgd (VlotBezorgd)" in out
    assert "Gebeurtenis: Retour aangemeld" in out
    assert re.search(r"\b(broken|kind):", out) is None
