"""``klantreis surveys``: check a surveys file, plan from the log, why-not, rates, and
send-due refusing clearly while the outbox/directory/links are not installed."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from tests.listen.kit import SURVEYS, T0, delivery_records

from klantreis.cli.main import cli
from klantreis.model.events import events_from_records
from klantreis.store.duckdb_store import EventStore


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})
    assert result.exit_code == code, result.output
    return result.output


def test_check_lists_every_problem(tmp_path: Path) -> None:
    assert "ok (3 surveys, 3 active)" in _run("surveys", "check")
    bad = tmp_path / "bad.toml"
    bad.write_text(SURVEYS.format(sample=2), encoding="utf-8")
    out = _run("surveys", "check", str(bad), code=1)
    assert "sample: Input should be less than or equal to 1" in out and "Traceback" not in out
    unknown = SURVEYS.format(sample=1).replace('touchpoint = "bezorging"', 'touchpoint = "nergens"')
    bad.write_text(unknown, encoding="utf-8")
    assert "unknown touchpoint 'nergens'" in _run("surveys", "check", str(bad), code=1)


def test_plan_why_not_and_rates(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    with EventStore(db) as store:
        store.append(events_from_records(delivery_records(10, 5)))
    surveys = tmp_path / "surveys.toml"
    surveys.write_text(SURVEYS.format(sample=1.0), encoding="utf-8")
    now = (T0 + timedelta(days=3)).isoformat()
    args = ["--db", db, "--surveys", str(surveys)]
    planned = json.loads(_run("surveys", "plan", *args, "--now", now, "--json"))
    assert planned["rows"][0]["planned"] == 10
    again = json.loads(_run("surveys", "plan", *args, "--now", now, "--json"))
    assert again["rows"][0]["new"] == 0
    why = json.loads(_run("surveys", "why-not", "c1", "--db", db, "--json"))
    assert [r["status"] for r in why["rows"]] == ["planned", "planned"]
    assert "no invitation was planned" in _run("surveys", "why-not", "nobody", "--db", db)
    assert json.loads(_run("surveys", "rates", "--db", db, "--json"))["rows"] == []
    out = _run("surveys", "send-due", *args, "--now", now, code=1)
    assert "send-due needs the outbox" in out and "Traceback" not in out


def test_bad_time_is_a_usage_error(tmp_path: Path) -> None:
    out = _run("surveys", "plan", "--db", str(tmp_path / "s.duckdb"), "--now", "gisteren", code=2)
    assert "is not a date/time" in out
