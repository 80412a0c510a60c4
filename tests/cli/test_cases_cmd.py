"""``klantreis cases``: list (mine, an owner's queue, by status), show one case, outcomes
with Wilson intervals — worded tables, ``--json`` keeps the ids (click's CliRunner)."""

from __future__ import annotations

import getpass
import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from tests.act.helpers import T0, ev, late_parcel, story

from klantreis.act import cases
from klantreis.act.rules import default_case_rules
from klantreis.act.runner import evaluate_cases
from klantreis.app import App
from klantreis.cli.main import cli
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.settings import Settings


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == code, result.output
    return result.output


def _store(tmp_path: Path) -> str:
    db = str(tmp_path / "c.duckdb")
    with App(Settings.load(env={}, db_path=db)) as app:
        records = [*story(), *late_parcel("J9", "C9", score=1)]
        ingest_table(app.store, events_from_records(records), app.journey)
        rules = default_case_rules(app.journey)
        evaluate_cases(app, rules)
        for case in cases.list_cases(app.store):
            if case.journey_id == "J1":
                cases.set_status(
                    app,
                    rules,
                    case.case_id,
                    "closed",
                    "anna",
                    at=T0 + timedelta(days=4),
                    root_cause="te_laat_bezorgd",
                )
            if case.journey_id == "J9":
                cases.assign(
                    app, rules, case.case_id, getpass.getuser(), "anna", at=T0 + timedelta(days=1)
                )
        ingest_table(
            app.store,
            events_from_records(
                [ev("J1-rs", 24 * 6, "survey.response", "J1", "C1", metric="nps", score=9)]
            ),
            app.journey,
        )
    return db


def test_list_show_and_outcomes(tmp_path: Path) -> None:
    db = _store(tmp_path)
    team = json.loads(_run("cases", "list", "--db", db, "--owner", "carrier:vlotbezorgd", "--json"))
    ids = [r["case_id"] for r in team["rows"]]
    assert team["total"] == len(ids) >= 3  # J2, J9 (criticus + belofte) open
    assert all(r["owner"] == "carrier:vlotbezorgd" for r in team["rows"])
    assert cases.case_id_for("criticus", "J1") not in ids  # closed: not active
    closed = json.loads(_run("cases", "list", "--db", db, "--status", "closed", "--json"))
    assert {r["case_id"] for r in closed["rows"]} == {
        cases.case_id_for("criticus", "J1"),
        cases.case_id_for("belofte_gebroken", "J1"),
    }
    mine = json.loads(_run("cases", "list", "--db", db, "--mine", "--json"))
    assert {r["rule_id"] for r in mine["rows"]} == {"criticus", "belofte_gebroken"}
    table = _run("cases", "list", "--db", db, "--owner", "carrier:vlotbezorgd")
    assert "VlotBezorgd" in table and "Criticus (NPS 0-6)" in table and "Eigenaar" in table
    assert "carrier:vlotbezorgd" not in table  # worded: names, not ids
    english = _run("cases", "list", "--db", db, "--owner", "carrier:vlotbezorgd", "--lang", "en")
    assert "Detractor (NPS 0-6)" in english and "Owner" in english

    cid = cases.case_id_for("criticus", "J1")
    shown = json.loads(_run("cases", "show", cid, "--db", db, "--json"))
    assert shown["case"]["case_id"] == cid and shown["case"]["root_cause"] == "te_laat_bezorgd"
    assert [e["action"] for e in shown["rows"]][:1] == ["opened"]
    text = _run("cases", "show", cid, "--db", db)
    assert "Te laat bezorgd" in text and "Gesloten" in text
    assert "no case 'nope'" in _run("cases", "show", "nope", "--db", db, code=1)

    out = json.loads(_run("cases", "outcomes", "--db", db, "--json"))
    vlot = next(r for r in out["rows"] if r["group"] == "carrier:vlotbezorgd")
    assert vlot["recovered_7"]["n"] == 2 and vlot["recovered_7"]["successes"] == 2
    assert 0 < vlot["recovered_7"]["ci_low"] < 100
    worded = _run("cases", "outcomes", "--db", db)
    assert "Hersteld (7+)" in worded and "VlotBezorgd" in worded and "n=2" in worded
    by_rule = json.loads(_run("cases", "outcomes", "--db", db, "--by", "rule", "--json"))
    assert {r["group"] for r in by_rule["rows"]} >= {"criticus", "belofte_gebroken"}
    assert "--mine or --assignee" in _run(
        "cases", "list", "--db", db, "--mine", "--assignee", "x", code=2
    )
