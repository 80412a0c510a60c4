"""Hostile mapping files and a store that cannot be written: ``klantreis ingest`` answers
with a clear reason (exit 2), never a traceback, and stores nothing half-way."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from tests.ingest.hostile.corpus import GOOD_CSV
from tests.ingest.hostile.test_hostile_files import ingest_cli

from klantreis.store import EventStore

_FIELDS = '[fields]\nevent_id = "event_id"\noccurred_at = "occurred_at"\nkind = "kind"\n'

HOSTILE_MAPPINGS: dict[str, tuple[bytes, str]] = {
    "unknown_encoding": (
        b'[source]\nencoding = "klingon"\n' + _FIELDS.encode(),
        "unknown encoding 'klingon'",
    ),
    "bad_strptime_format": (
        b'[source]\ntimestamp_formats = ["%Q %"]\n' + _FIELDS.encode(),
        "unknown strptime directive %Q",
    ),
    "bad_field_format": (
        _FIELDS.replace('occurred_at = "occurred_at"', "")
        .replace("[fields]", '[fields]\noccurred_at = { column = "occurred_at", formats = ["%-"] }')
        .encode(),
        "unknown strptime directive",
    ),
    "nan_constant": (
        _FIELDS.encode() + b'metric = { value = "nps" }\nscore = { value = nan }\n',
        "nan is not a usable constant",
    ),
    "inf_default": (
        _FIELDS.encode() + b'score = { column = "score", default = -inf }\n',
        "-inf is not a usable constant",
    ),
    "not_utf8": (
        _FIELDS.encode() + 'channel = { value = "caf\u00e9" }\n'.encode("cp1252"),
        "not UTF-8",
    ),
    "not_toml": (b"[fields\nkind = ", "problem"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MAPPINGS))
def test_hostile_mapping_gets_a_clear_reason(case: str, tmp_path: Path) -> None:
    text, words = HOSTILE_MAPPINGS[case]
    mapping = tmp_path / "mapping.toml"
    mapping.write_bytes(text)
    data = tmp_path / "good.csv"
    data.write_text(GOOD_CSV, "utf-8")
    code, output, _ = ingest_cli([data], tmp_path / "s.duckdb", "--mapping", str(mapping))
    assert code == 2, output
    assert words in output


def test_a_locked_store_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " time.sleep(30)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        data = tmp_path / "good.csv"
        data.write_text(GOOD_CSV, "utf-8")
        started = time.perf_counter()
        code, output, _ = ingest_cli([data], db)
        assert time.perf_counter() - started < 20
    finally:
        holder.kill()
        holder.wait()
    assert code == 2
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "in use by another process" in lines[0]


def test_a_full_disk_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self: EventStore, *args: object, **kwargs: object) -> object:
        raise duckdb.IOException("IO Error: No space left on device")

    monkeypatch.setattr(EventStore, "append", full)
    data = tmp_path / "good.csv"
    data.write_text(GOOD_CSV, "utf-8")
    code, output, _ = ingest_cli([data], tmp_path / "s.duckdb")
    assert code == 2
    assert output.strip().splitlines()[-1] == "error: IO Error: No space left on device"
