"""Quarantine entries give both the record number and the physical line (issue 11, defect 7):
a CSV record whose quoted text holds line breaks spans several physical lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from klantreis.app import App
from klantreis.cli.main import cli

HEADER = "event_id,occurred_at,kind,text\n"


def _multiline_csv() -> str:
    """Records 2-4 hold texts of 3, 1 and 2 lines; record 5 has a bad time stamp, record 6
    a wrong column count, record 7 (after one more two-line text) a bad time stamp."""
    return (
        HEADER
        + 'e1,2026-03-01T10:00:00Z,web.visit,"one\ntwo\nthree"\n'  # lines 2-4
        + "e2,2026-03-01T10:01:00Z,web.visit,plain\n"  # line 5
        + 'e3,2026-03-01T10:02:00Z,web.visit,"a\nb"\n'  # lines 6-7
        + "e4,not a time,web.visit,x\n"  # record 5, line 8
        + "e5,2026-03-01T10:03:00Z,web.visit\n"  # record 6, line 9: two few columns
        + 'e6,2026-03-01T10:04:00Z,web.visit,"c\nd"\n'  # record 7, lines 10-11
        + "e7,later,web.visit,y\n"  # record 8, line 12
    )


def test_quarantine_gives_record_and_physical_line(app: App, write: Callable[..., Path]) -> None:
    path = write("multi.csv", _multiline_csv())
    summary = app.ingest_paths([path], progress=False)
    assert summary.files[0].events_stored == 4
    rows = app.store.query(
        "SELECT record, line, reason FROM quarantine ORDER BY record"
    ).to_pylist()
    assert [(r["record"], r["line"]) for r in rows] == [(5, 8), (6, 9), (8, 12)]
    assert "unparseable time stamp" in rows[0]["reason"]
    assert "column count" in rows[1]["reason"]


def test_quarantine_command_shows_record_and_line(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text(_multiline_csv(), encoding="utf-8", newline="")
    db = str(tmp_path / "q.duckdb")
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(path), "--db", db]).exit_code in (0, 1)
    listing = runner.invoke(cli, ["quarantine", "--db", db, "--json"])
    assert listing.exit_code == 0, listing.output
    rows = json.loads(listing.output)["rows"]
    assert sorted((r["record"], r["line"]) for r in rows) == [(5, 8), (6, 9), (8, 12)]
    table = runner.invoke(cli, ["quarantine", "--db", db])
    assert "record" in table.output and "line" in table.output


def test_records_without_line_breaks_have_equal_record_and_line(
    app: App, write: Callable[..., Path]
) -> None:
    path = write("plain.csv", HEADER + "e1,2026-03-01T10:00:00Z,web.visit,a\ne2,nope,web.visit,b\n")
    app.ingest_paths([path], progress=False)
    rows = app.store.query("SELECT record, line FROM quarantine").to_pylist()
    assert rows == [{"record": 3, "line": 3}]
