"""Every hostile file through ``klantreis ingest``: a clear per-file or per-row answer, in
bounded time, counts that add up, no traceback, and the files around it still ingested."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from tests.ingest.hostile.corpus import GOOD_CSV, HOSTILE_FILES

from klantreis.cli.main import cli

#: Rows with a reason to be quarantined, per case (the rest of the file is stored).
QUARANTINED = {
    "deep_json_array": 1,
    "deep_ndjson": 1,
    "moderately_deep_json": 1,
    "big_field_csv": 1,
    "bigint_json": 1,
    "surrogate_json": 1,
    "bad_utf8_ndjson": 1,
    "nanosecond_naive_parquet": 1,
    "many_keys_json": 1,
    "year_zero_csv": 1,
}
#: Words in the reason of the quarantined row, and its line (row, element or event number).
REASONS = {
    "deep_json_array": ("nested too deeply", 2),
    "deep_ndjson": ("nested too deeply", 2),
    "moderately_deep_json": ("setting max_json_depth", 2),
    "big_field_csv": ("setting max_field_bytes", 3),
    "bigint_json": ("digits", 2),
    "surrogate_json": ("lone surrogate", 2),
    "bad_utf8_ndjson": ("not valid UTF-8", 2),
    "nanosecond_naive_parquet": ("occurred_at", 2),
    "many_keys_json": ("setting max_record_fields", 1),
    "year_zero_csv": ("before 1990", 3),
}
#: Settings a case runs with (small limits keep the corpus fast).
ENV = {"gzip_bomb": {"KLANTREIS_MAX_DECOMPRESSED_BYTES": str(1 << 20)}}


def ingest_cli(
    paths: list[Path], db: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, str, dict[str, Any] | None]:
    """Run ``klantreis ingest --json``; (exit code, all output, the summary or None)."""
    result = CliRunner().invoke(
        cli,
        ["ingest", *map(str, paths), "--db", str(db), "--json", "--no-progress", *extra],
        env=env or {},
        catch_exceptions=True,
    )
    output = result.output  # stdout and stderr, interleaved
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}"
    )
    assert "Traceback" not in output
    start = output.find("{")
    summary = json.loads(output[start:]) if start >= 0 and result.exit_code in (0, 1) else None
    return result.exit_code, output, summary


@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_hostile_file_gets_a_clear_answer(case: str, tmp_path: Path) -> None:
    build, outcome = HOSTILE_FILES[case]
    folder = tmp_path / "in"
    folder.mkdir()
    before, after = folder / "a_good.csv", folder / "z_good.csv"
    before.write_text(GOOD_CSV, "utf-8")
    after.write_text(GOOD_CSV.replace("g1", "h1").replace("g2", "h2"), "utf-8")
    hostile = build(folder)
    started = time.perf_counter()
    code, output, summary = ingest_cli(
        [before, hostile, after], tmp_path / "s.duckdb", env=ENV.get(case)
    )
    assert time.perf_counter() - started < 60, "bounded time (hours, or never, before)"
    assert summary is not None, output
    files = {Path(f["path"]).name: f for f in summary["files"]}
    assert files["a_good.csv"]["events_stored"] == 2, "the file before it is stored"
    assert files["z_good.csv"]["events_stored"] == 2, "the file after it is stored"
    f = files[hostile.name]
    if outcome == "file":
        assert code == 1
        assert f["status"] == "failed" and f["error"], f
        assert "\n" not in f["error"] and len(f["error"]) < 500, "a one-line reason"
    else:
        assert code == 0, f
        assert f["status"] == "completed", f
        assert f["rows_read"] == f["events_stored"] + f["duplicates"] + f["quarantined"]
        assert f["quarantined"] == QUARANTINED.get(case, 0), f
        assert f["events_stored"] >= 1
        if case in REASONS:
            words, line = REASONS[case]
            with duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True) as con:
                rows = con.execute("SELECT reason, line FROM quarantine").fetchall()
            assert len(rows) == 1 and words in rows[0][0] and rows[0][1] == line, rows
