"""``klantreis ingest`` and ``klantreis quarantine`` wrap the library functions."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from ingest_helpers import HEADER

from klantreis.cli.main import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "x.csv"
    path.write_text(
        HEADER + "a,2024-03-01 10:00,web.visit,web,,,\n"
        "b,2024-02-31 10:00,web.visit,web,,,\n"
        "c,2024-03-01 10:00,web.visit\n",
        encoding="utf-8",
    )
    return path


def test_ingest_json_summary_and_exit_code_zero_with_quarantine(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    result = CliRunner().invoke(cli, ["ingest", str(_csv(tmp_path)), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["totals"]["events_stored"] == 1
    assert data["totals"]["quarantined"] == 2
    assert data["files"][0]["encoding"] == "utf-8"


def test_ingest_table_names_top_reasons_and_quarantine_lists_them(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", str(_csv(tmp_path)), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "2 quarantined" in result.output
    assert "unparseable time stamp" in result.output
    listing = runner.invoke(cli, ["quarantine", "--db", str(db), "--json"])
    rows = json.loads(listing.output)
    assert rows["total"] == 2
    assert sorted(r["line"] for r in rows["rows"]) == [3, 4]


def test_ingest_with_mapping_and_a_broken_mapping(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    ok = runner.invoke(
        cli,
        [
            "ingest",
            str(EXAMPLES / "data" / "olist_orders.csv"),
            "--mapping",
            str(EXAMPLES / "mappings" / "olist_orders.toml"),
            "--db",
            str(db),
            "--json",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["totals"]["events_stored"] > 16
    bad = tmp_path / "bad.toml"
    bad.write_text("[fields]\nkind = 'k'\n", encoding="utf-8")
    broken = runner.invoke(cli, ["ingest", "x.csv", "--mapping", str(bad), "--db", str(db)])
    assert broken.exit_code == 2
    assert "no 'occurred_at'" in broken.output


def test_a_file_that_fails_gives_exit_code_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["ingest", str(tmp_path / "nope.csv"), "--db", str(tmp_path / "s.duckdb")]
    )
    assert result.exit_code == 1
    assert "no such file" in result.output
