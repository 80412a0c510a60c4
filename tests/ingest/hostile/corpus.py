"""The hostile-input corpus: every hostile file is made by a builder here, in the test's
temporary folder (nothing is checked in; big ones are generated on the fly).

``HOSTILE_FILES`` maps a case name to (builder, expected outcome): ``"rows"`` (read, bad
records quarantined with a reason) or ``"file"`` (the file fails with a one-line reason).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

GOOD_CSV = (
    "event_id,occurred_at,kind\n"
    "g1,2026-03-01T10:00:00Z,web.visit\n"
    "g2,2026-03-01T11:00:00Z,web.visit\n"
)
LINE = '{"event_id": "%s", "occurred_at": "2026-03-01T10:00:00Z", "kind": "web.visit"}'

Builder = Callable[[Path], Path]


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def row_column(d: Path) -> Path:
    path = d / "row_column.csv"
    path.write_text(
        "event_id,occurred_at,kind,__row\nr1,2026-03-01T10:00:00Z,web.visit,7\n", "utf-8"
    )
    return path


def deep_json_array(d: Path) -> Path:
    path = d / "deep_array.json"
    deep = '{"event_id": "d1", "occurred_at": "2026-03-01T10:00:00Z", "kind": "web.visit",'
    deep += ' "attrs": ' + _deep(50_000) + "}"
    path.write_text(f"[{LINE % 'a1'}, {deep}, {LINE % 'a2'}]", "utf-8")
    return path


def deep_ndjson(d: Path) -> Path:
    path = d / "deep.ndjson"
    path.write_text(f"{LINE % 'n1'}\n{_deep(50_000)}\n{LINE % 'n2'}\n", "utf-8")
    return path


def moderately_deep_json(d: Path) -> Path:
    """Deeper than max_json_depth but within the parser's recursion limit."""
    path = d / "deep_attrs.ndjson"
    rec = json.loads(LINE % "m2")
    rec["attrs"] = json.loads(_deep(200))
    path.write_text(f"{LINE % 'm1'}\n{json.dumps(rec)}\n", "utf-8")
    return path


def truncated_gzip(d: Path) -> Path:
    path = d / "truncated.csv.gz"
    data = gzip.compress((GOOD_CSV + "g3,2026-03-01T12:00:00Z,web.visit\n" * 2000).encode())
    path.write_bytes(data[: len(data) // 2])
    return path


def corrupt_gzip(d: Path) -> Path:
    path = d / "corrupt.csv.gz"
    path.write_bytes(gzip.compress(GOOD_CSV.encode())[:10] + b"\x00garbage" * 50)
    return path


def malformed_xes(d: Path) -> Path:
    path = d / "malformed.xes"
    path.write_text(
        '<?xml version="1.0"?><log><trace><string key="concept:name" value="c1"/>'
        '<event><string key="concept:name" value="A"/><date key="time:timestamp"'
        ' value="2026-03-01T10:00:00Z"/></event><event><string key=',
        "utf-8",
    )
    return path


def entity_xes(d: Path) -> Path:
    """An XML entity bomb ("billion laughs", kept small)."""
    ents = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    path = d / "entities.xes"
    path.write_text(
        f'<?xml version="1.0"?><!DOCTYPE log [{ents}]><log><trace>'
        '<string key="concept:name" value="&i;"/></trace></log>',
        "utf-8",
    )
    return path


def huge_attribute_xes(d: Path) -> Path:
    """0.5 MB of gzip holding one 64 MB attribute value: old expat re-scans it per chunk."""
    path = d / "huge_attribute.xes.gz"
    with gzip.open(path, "wb", compresslevel=9) as fh:
        fh.write(b'<?xml version="1.0"?><log><trace><string key="concept:name" value="')
        block = b"x" * (1 << 20)
        for _ in range(64):
            fh.write(block)
        fh.write(b'"/></trace></log>')
    return path


def utf16_csv(d: Path) -> Path:
    path = d / "utf16.csv"
    path.write_bytes(
        ("\ufeff" + GOOD_CSV.replace("g1", "ü1").replace("g2", "u2")).encode("utf-16-le")
    )
    return path


def big_field_csv(d: Path) -> Path:
    path = d / "big_field.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("event_id,occurred_at,kind,text\n")
        fh.write("b1,2026-03-01T10:00:00Z,web.visit,small\n")
        fh.write('b2,2026-03-01T10:00:00Z,web.visit,"' + "x" * (8 << 20) + '"\n')
        fh.write("b3,2026-03-01T10:00:00Z,web.visit,small\n")
    return path


def bigint_json(d: Path) -> Path:
    path = d / "bigint.json"
    big = '{"event_id": "i2", "occurred_at": "2026-03-01T10:00:00Z", "kind": "web.visit",'
    big += ' "score": ' + "9" * 5_000 + "}"
    path.write_text(f"[{LINE % 'i1'}, {big}, {LINE % 'i3'}]", "utf-8")
    return path


def surrogate_json(d: Path) -> Path:
    path = d / "surrogate.json"
    bad = '{"event_id": "s2", "occurred_at": "2026-03-01T10:00:00Z", "kind": "web.visit",'
    bad += ' "text": "\\ud800 alone"}'
    path.write_text(f"[{LINE % 's1'}, {bad}, {LINE % 's3'}]", "utf-8")
    return path


def bad_utf8_ndjson(d: Path) -> Path:
    path = d / "bad_utf8.ndjson"
    path.write_bytes(
        (LINE % "u1").encode()
        + b"\n"
        + (LINE % "u2").encode()[:-3]
        + b'\xff\xfe"}\n'
        + (LINE % "u3").encode()
        + b"\n"
    )
    return path


def nanosecond_parquet(d: Path) -> Path:
    path = d / "nanos.parquet"
    base = int(datetime(2026, 3, 1, 10, tzinfo=UTC).timestamp()) * 10**9
    pq.write_table(
        pa.table(
            {
                "event_id": ["p1", "p2"],
                "occurred_at": pa.array([base + 123, base + 456], pa.timestamp("ns", "UTC")),
                "kind": ["web.visit", "web.visit"],
            }
        ),
        path,
    )
    return path


def nanosecond_naive_parquet(d: Path) -> Path:
    path = d / "nanos_naive.parquet"
    base = int(datetime(2026, 3, 1, 10, tzinfo=UTC).timestamp()) * 10**9
    pq.write_table(
        pa.table(
            {
                "id": ["q1", "q2"],
                "occurred_at": pa.array([base + 1, 2**63 - 1], pa.timestamp("ns")),
                "kind": ["web.visit", "web.visit"],
            }
        ),
        path,
    )
    return path


def many_keys_json(d: Path) -> Path:
    """About 18 MB: one record with a million keys."""
    path = d / "many_keys.json"
    buf = io.StringIO()
    buf.write('[{"event_id": "k1", "occurred_at": "2026-03-01T10:00:00Z", "kind": "web.visit"')
    for i in range(1_000_000):
        buf.write(f', "k{i}": {i % 10}')
    buf.write("}, " + LINE % "k2" + "]")
    path.write_text(buf.getvalue(), "utf-8")
    return path


def many_columns_csv(d: Path) -> Path:
    """About 8 MB: a header of a million columns."""
    path = d / "many_columns.csv"
    cols = ["event_id", "occurred_at", "kind"] + [f"c{i}" for i in range(1_000_000)]
    with path.open("w", encoding="utf-8") as fh:
        fh.write(",".join(cols) + "\n")
        fh.write("w1,2026-03-01T10:00:00Z,web.visit" + ",1" * 1_000_000 + "\n")
    return path


def year_zero_csv(d: Path) -> Path:
    path = d / "year_zero.csv"
    path.write_text(
        "event_id,occurred_at,kind\nz1,2026-03-01T10:00:00Z,web.visit\n"
        "z2,0001-01-01T00:30:00+01:00,web.visit\n",
        "utf-8",
    )
    return path


def gzip_bomb(d: Path) -> Path:
    """Past max_decompressed_bytes (the test sets it to 1 MiB)."""
    path = d / "bomb.csv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(GOOD_CSV.encode())
        for i in range(3000):
            fh.write(f"b{i},2026-03-01T10:00:00Z,web.visit\n".encode() * 20)
    return path


HOSTILE_FILES: dict[str, tuple[Builder, str]] = {
    "row_column": (row_column, "rows"),
    "deep_json_array": (deep_json_array, "rows"),
    "deep_ndjson": (deep_ndjson, "rows"),
    "moderately_deep_json": (moderately_deep_json, "rows"),
    "truncated_gzip": (truncated_gzip, "file"),
    "corrupt_gzip": (corrupt_gzip, "file"),
    "malformed_xes": (malformed_xes, "file"),
    "entity_xes": (entity_xes, "file"),
    "huge_attribute_xes": (huge_attribute_xes, "file"),
    "utf16_csv": (utf16_csv, "rows"),
    "big_field_csv": (big_field_csv, "rows"),
    "bigint_json": (bigint_json, "rows"),
    "surrogate_json": (surrogate_json, "rows"),
    "bad_utf8_ndjson": (bad_utf8_ndjson, "rows"),
    "nanosecond_parquet": (nanosecond_parquet, "rows"),
    "nanosecond_naive_parquet": (nanosecond_naive_parquet, "rows"),
    "many_keys_json": (many_keys_json, "rows"),
    "many_columns_csv": (many_columns_csv, "file"),
    "year_zero_csv": (year_zero_csv, "rows"),
    "gzip_bomb": (gzip_bomb, "file"),
}
