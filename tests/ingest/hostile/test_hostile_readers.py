"""The readers' limits, one at a time, with small limits (fast), below the CLI."""

from __future__ import annotations

import codecs
import gzip
from pathlib import Path

import pytest

from klantreis.ingest import readers
from klantreis.ingest.limits import LimitExceeded, Limits, too_deep
from klantreis.ingest.readers import SourceFile, detect_encoding

LINE = '{"event_id": "%s", "occurred_at": "2026-03-01T10:00:00Z", "kind": "web.visit"}'


def _read(path: Path, limits: Limits | None = None) -> tuple[int, list[tuple[int, str]]]:
    rows, rejects = 0, []
    for batch in SourceFile(path, limits=limits).batches(100):
        rows += batch.table.num_rows
        rejects += [(r.line, r.reason) for r in batch.rejects]
    return rows, rejects


@pytest.mark.parametrize(
    ("encoding", "bom", "expected"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16"),
        ("utf-16-be", codecs.BOM_UTF16_BE, "utf-16"),
        ("utf-32-le", codecs.BOM_UTF32_LE, "utf-32"),
        ("utf-8", codecs.BOM_UTF8, "utf-8-sig"),
    ],
)
def test_byte_order_marks_name_the_encoding(
    tmp_path: Path, encoding: str, bom: bytes, expected: str
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(bom + "event_id,kind\nü,web.visit\n".encode(encoding))
    assert detect_encoding(path) == expected
    (rows, rejects), src = _read(path), SourceFile(path)
    list(src.batches(10))
    assert (rows, rejects) == (1, []) and src.columns == ["event_id", "kind"]


def test_an_overlong_ndjson_line_is_quarantined_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "MAX_JSON_ELEMENT_CHARS", 1_000)
    path = tmp_path / "x.ndjson"
    long = LINE.replace("web.visit", "x" * 5_000) % "n2"
    path.write_text("\n".join([LINE % "n1", long, LINE % "n3"]) + "\n", "utf-8")
    rows, rejects = _read(path)
    assert rows == 2 and rejects == [(2, "line longer than 1,000 bytes")]


def test_too_many_keys_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson"
    extra = [LINE.replace("}", f', "k{i}": 1}}') % f"e{i}" for i in range(10)]
    path.write_text("\n".join(extra) + "\n", "utf-8")
    rows, rejects = _read(path, Limits(max_record_fields=6))
    assert rows == 3, "three records bring the file to six keys"
    assert [line for line, _ in rejects] == list(range(4, 11))
    assert all("distinct keys" in reason for _, reason in rejects)


def test_a_csv_header_past_the_column_limit_fails_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(",".join(f"c{i}" for i in range(50)) + "\n" + "1," * 49 + "1\n", "utf-8")
    with pytest.raises(LimitExceeded, match="max_record_fields"):
        _read(path, Limits(max_record_fields=20))


def test_gzip_past_the_decompressed_limit_fails(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson.gz"
    path.write_bytes(gzip.compress(("\n".join(LINE % i for i in range(5_000)) + "\n").encode()))
    path = path.rename(tmp_path / "x.csv.gz")
    with pytest.raises(LimitExceeded, match="max_decompressed_bytes"):
        _read(path, Limits(max_decompressed_bytes=10_000))


def test_an_xml_element_past_the_field_limit_fails_quickly(tmp_path: Path) -> None:
    path = tmp_path / "x.xes"
    path.write_text('<log><trace><string key="a" value="' + "x" * 400_000 + '"/></trace></log>')
    with pytest.raises(LimitExceeded, match="max_field_bytes"):
        _read(path, Limits(max_field_bytes=100_000))


def test_too_deep_without_recursion() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert too_deep(deep, 64) and not too_deep({"a": [[1]]}, 3) and too_deep({"a": [[1]]}, 2)
