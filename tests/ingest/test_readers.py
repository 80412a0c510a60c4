"""Readers: encodings, delimiters, empty files, broken rows, huge fields, JSON, NDJSON."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from ingest_helpers import HEADER, Writer, assert_counts_add_up

from klantreis.app import App
from klantreis.ingest.readers import detect_encoding, sniff_delimiter
from klantreis.settings import Settings

ROWS = (
    "e1,2024-03-01 10:00,order.placed,web,,,Één bestelling café\n"
    "e2,2024-03-01T10:05:00Z,survey.response,email,nps,9,Prima geholpen\n"
)


def quarantine(app: App) -> list[dict]:
    return app.store.query("SELECT line, reason, raw FROM quarantine ORDER BY line").to_pylist()


def texts(app: App) -> list[str]:
    return [
        r["text"] for r in app.store.query("SELECT text FROM events ORDER BY event_id").to_pylist()
    ]


@pytest.mark.parametrize(
    ("encoding", "reported"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("cp1252", "cp1252"),
        ("latin-1", "cp1252"),
    ],
)
def test_csv_encodings_are_detected_and_text_survives(
    app: App, write: Writer, encoding: str, reported: str
) -> None:
    path = write("export.csv", HEADER + ROWS, encoding=encoding)
    summary = app.ingest_paths([path], progress=False)
    f = summary.files[0]
    assert f.encoding == reported
    assert_counts_add_up(f)
    assert f.events_stored == 2
    assert texts(app)[0] == "Één bestelling café"


def test_latin1_bytes_outside_cp1252_fall_back_to_latin1(write: Writer) -> None:
    path = write("odd.csv", "a,b\n\x81é,1\n".encode("latin-1"))
    assert detect_encoding(path) == "latin-1"


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_sniffed(app: App, write: Writer, delimiter: str) -> None:
    text = (HEADER + ROWS).replace(",", delimiter)
    summary = app.ingest_paths([write("semi.csv", text)], progress=False)
    assert summary.files[0].delimiter == delimiter
    assert summary.events_stored == 2


def test_sniffer_prefers_the_real_delimiter_with_commas_in_text() -> None:
    sample = 'a;b;c\n1;"x, y, z";3\n2;"p, q";4\n'
    assert sniff_delimiter(sample) == ";"


def test_explicit_delimiter_wins(app: App, write: Writer) -> None:
    path = write("x.csv", "event_id|occurred_at|kind\ne1|2024-01-01 10:00|web.visit\n")
    summary = app.ingest_paths([path], progress=False, delimiter="|")
    assert summary.events_stored == 1


@pytest.mark.parametrize("text", ["", HEADER, "\n"])
def test_empty_and_header_only_files_store_nothing_and_do_not_fail(
    app: App, write: Writer, text: str
) -> None:
    summary = app.ingest_paths([write("empty.csv", text)], progress=False)
    f = summary.files[0]
    assert (f.error, f.rows_read, f.events_stored, f.quarantined) == (None, 0, 0, 0)
    assert app.store.count() == 0


def test_wrong_column_count_is_quarantined_with_its_line(app: App, write: Writer) -> None:
    text = (
        HEADER
        + ROWS
        + "e3,2024-03-01 11:00,order.placed\n"
        + "e4,2024-03-01 12:00,order.placed,web,,,,extra\n"
        + "e5,2024-03-01 13:00,web.visit,web,,,\n"
    )
    summary = app.ingest_paths([write("bad.csv", text)], progress=False)
    f = summary.files[0]
    assert_counts_add_up(f)
    assert (f.rows_read, f.events_stored, f.rows_rejected) == (5, 3, 2)
    q = quarantine(app)
    assert [r["line"] for r in q] == [4, 5]
    assert all(r["reason"].startswith("wrong column count") for r in q)
    assert "e3" in q[0]["raw"]


def test_bad_values_are_quarantined_with_line_and_reason(app: App, write: Writer) -> None:
    text = HEADER + (
        "g1,2024-03-01 10:00,order.placed,web,,,\n"
        "b1,2024-02-30 10:00,order.placed,web,,,\n"  # impossible date
        "b2,1890-01-01 10:00,order.placed,web,,,\n"  # impossible (before 1990)
        "b3,gisteren,order.placed,web,,,\n"  # not a time stamp
        "b4,2024-03-01 10:00,survey.response,web,nps,negen,\n"  # wrong type
        "b5,2024-03-01 10:00,survey.response,web,nps,11,\n"  # out of range
        "b6,,order.placed,web,,,\n"  # missing required field
        "b7,2024-03-01 10:00,,web,,,\n"  # missing kind
        "b8,2024-03-01 10:00,Order Placed,web,,,\n"
    )  # not a dotted kind
    summary = app.ingest_paths([write("bad.csv", text)], progress=False)
    f = summary.files[0]
    assert_counts_add_up(f)
    assert (f.events_stored, f.quarantined) == (1, 8)
    reasons = {r["line"]: r["reason"] for r in quarantine(app)}
    assert reasons[3].startswith("unparseable time stamp") and "2024-02-30" in reasons[3]
    assert "before 1990" in reasons[4]
    assert reasons[5].startswith("unparseable time stamp")
    assert reasons[6].startswith("score is not a number")
    assert reasons[7] == "nps score outside 0-10"
    assert "occurred_at" in reasons[8]
    assert reasons[9] == "missing kind"
    assert reasons[10].startswith("kind must be dotted")


def test_huge_fields_are_quarantined_not_crashing(app: App, write: Writer) -> None:
    big_text = "x" * 150_000
    big_channel = "y" * 5_000
    text = (
        HEADER
        + f"h1,2024-03-01 10:00,contact.inbound,email,,,{big_text}\n"
        + f"h2,2024-03-01 10:00,contact.inbound,{big_channel},,,ok\n"
        + "h3,2024-03-01 10:00,contact.inbound,email,,,ok\n"
    )
    summary = app.ingest_paths([write("huge.csv", text)], progress=False)
    f = summary.files[0]
    assert_counts_add_up(f)
    assert f.events_stored == 1
    q = quarantine(app)
    assert sorted(r["reason"] for r in q) == [
        "channel longer than 1000 characters",
        "text longer than 100000 characters",
    ]
    assert all(len(r["raw"]) < 25_000 for r in q)


def test_ndjson_with_a_broken_line(app: App, write: Writer) -> None:
    lines = [
        '{"event_id": "n1", "occurred_at": "2024-03-01T10:00:00+01:00", "kind": "web.visit",'
        ' "attrs": {"page": "/", "n": 3}}',
        '{"event_id": "n2", "occurred_at": "2024-03-01T10:00:00Z", "kind": "web.visit"',
        "",
        "[1, 2]",
        '{"event_id": "n3", "occurred_at": "2024-03-01T11:00:00Z", "kind": "order.placed"}',
    ]
    summary = app.ingest_paths([write("x.ndjson", "\n".join(lines) + "\n")], progress=False)
    f = summary.files[0]
    assert_counts_add_up(f)
    assert (f.rows_read, f.events_stored, f.rows_rejected) == (4, 2, 2)
    q = quarantine(app)
    assert [(r["line"], r["reason"].split(":")[0]) for r in q] == [
        (2, "invalid JSON"),
        (4, "record is not a JSON object"),
    ]
    stored = app.store.query("SELECT occurred_at, attrs FROM events WHERE event_id = 'n1'")
    assert stored.to_pylist()[0]["attrs"] in ('{"page": "/", "n": 3}',)
    assert stored.column("occurred_at")[0].as_py().hour == 9


def test_json_array(app: App, write: Writer) -> None:
    text = (
        '[{"event_id": "j1", "occurred_at": "2024-03-01 10:00", "kind": "web.visit",'
        ' "score": null}, {"event_id": "j2", "occurred_at": "2024-03-01 10:00",'
        ' "kind": "survey.response", "metric": "nps", "score": 8}]'
    )
    summary = app.ingest_paths([write("x.json", text)], progress=False)
    assert summary.events_stored == 2
    score = app.store.query("SELECT score FROM events WHERE event_id = 'j2'").to_pylist()
    assert score == [{"score": 8.0}]


def test_folders_and_globs(app: App, tmp_path: Path, write: Writer) -> None:
    write("a.csv", HEADER + ROWS)
    (tmp_path / "sub").mkdir()
    write("sub/b.csv", HEADER + ROWS.replace("e1", "f1").replace("e2", "f2"))
    write("notes.md", "not data")
    by_folder = app.ingest_paths([tmp_path], progress=False)
    assert [Path(f.path).name for f in by_folder.files] == ["a.csv", "b.csv"]
    by_glob = app.ingest_paths([str(tmp_path / "**" / "*.csv")], progress=False)
    assert len(by_glob.files) == 2
    assert by_glob.events_stored == 0 and by_glob.duplicates == 4


def test_unknown_type_and_missing_file_are_reported_per_file(app: App, write: Writer) -> None:
    good = write("ok.csv", HEADER + ROWS)
    summary = app.ingest_paths(
        [write("x.xlsx", b"PK"), good, good.with_name("nope.csv")], progress=False
    )
    errors = [f.error for f in summary.files]
    assert errors[0] and "unknown file type" in errors[0]
    assert errors[1] is None
    assert errors[2] and "no such file" in errors[2]
    assert summary.events_stored == 2


def test_line_numbers_stay_right_across_batches(tmp_path: Path, write: Writer) -> None:
    lines = [HEADER.strip()]
    for n in range(2, 32):
        if n in (5, 14, 15):
            lines.append(f"w{n},2024-03-01 10:00,web.visit")  # wrong column count
        elif n in (9, 17, 31):
            lines.append(f"t{n},not a date,web.visit,web,,,")  # bad time stamp
        else:
            lines.append(f"g{n},2024-03-01 10:00,web.visit,web,,,")
    path = write("lines.csv", "\n".join(lines) + "\n")
    with App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"), ingest_batch_rows=4)) as app:
        f = app.ingest_paths([path], progress=False).files[0]
        assert_counts_add_up(f)
        q = quarantine(app)
    assert [r["line"] for r in q] == [5, 9, 14, 15, 17, 31]
    for r in q:
        assert f"{'wt'[r['line'] in (9, 17, 31)]}{r['line']}" in r["raw"]


def test_parquet_canonical_naive_and_foreign(app: App, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from klantreis.ingest import parse_mapping
    from klantreis.model.events import events_from_records

    typed = events_from_records(
        [
            {"event_id": "p1", "occurred_at": "2024-03-01T10:00:00Z", "kind": "order.placed"},
            {"event_id": "p2", "occurred_at": "2024-03-01T10:00:00Z", "kind": "Bad Kind"},
        ]
    )
    pq.write_table(typed, tmp_path / "typed.parquet")
    naive = pa.table(
        {
            "event_id": ["n1"],
            "kind": ["web.visit"],
            "occurred_at": pa.array([datetime(2024, 7, 1, 12, 0)], pa.timestamp("us")),
        }
    )
    pq.write_table(naive, tmp_path / "naive.parquet")
    foreign = pa.table({"order": ["o1", "o2"], "paid": ["2024-03-01 10:00", ""]})
    pq.write_table(foreign, tmp_path / "foreign.parquet")
    s = app.ingest_paths([tmp_path / "typed.parquet", tmp_path / "naive.parquet"], progress=False)
    for f in s.files:
        assert_counts_add_up(f)
    assert [f.events_stored for f in s.files] == [1, 1]
    assert [f.quarantined for f in s.files] == [1, 0]
    when = app.store.query("SELECT occurred_at FROM events WHERE event_id = 'n1'")
    assert when.column(0)[0].as_py() == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)  # CEST
    mapping = parse_mapping(
        "[fields]\njourney_id = 'order'\nkind = { value = 'payment.completed' }"
        "\noccurred_at = 'paid'\n[[events]]\n"
    )
    f = app.ingest_paths([tmp_path / "foreign.parquet"], mapping=mapping, progress=False).files[0]
    assert (f.events_stored, f.quarantined) == (1, 1)


def _array_items(text: str, chunk: int) -> list[tuple[int, object]]:
    import io

    from klantreis.ingest.readers import json_array_items

    return list(json_array_items(io.StringIO(text), chunk=chunk))


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_json_array_items_stream_across_any_chunk_size(chunk: int) -> None:
    import json

    from klantreis.ingest.readers import JsonArrayError

    values = [{"a": 1, "t": 'é ] , [ " x'}, 12345, -0.5e3, "s", [1, [2]], None, True, {}]
    got = _array_items(" \n" + json.dumps(values, indent=1) + "\n ", chunk)
    assert not any(isinstance(v, JsonArrayError) for _, v in got)
    assert [n for n, _ in got] == list(range(1, len(values) + 1))
    assert [v for _, v in got] == values
    assert _array_items("[]", chunk) == [] and _array_items(" [ ] ", chunk) == []


@pytest.mark.parametrize(
    ("text", "number", "what"),
    [
        ('[{"a": 1}, {"a": 2', 2, "Expecting"),
        ('[{"a": 1} {"a": 2}]', 2, "expected ','"),
        ('[{"a": 1}] trailing', 2, "text after the closing"),
        ('{"a": 1}', 1, "does not start with '['"),
        ('[{"a": 1},', 2, "Expecting value"),
    ],
)
def test_json_array_items_name_the_broken_element(text: str, number: int, what: str) -> None:
    from klantreis.ingest.readers import JsonArrayError

    for chunk in (3, 1 << 20):
        got = _array_items(text, chunk)
        last_number, last = got[-1]
        assert isinstance(last, JsonArrayError), got
        assert last_number == number and what in last.reason
        assert "the rest of the file was not read" in last.reason
        assert all(not isinstance(v, JsonArrayError) for _, v in got[:-1])


def test_a_truncated_json_array_stores_what_came_before_and_quarantines_the_rest(
    app: App, write: Writer
) -> None:
    good = [
        f'{{"event_id": "t{i}", "occurred_at": "2024-03-01T10:00:00Z", "kind": "web.visit"}}'
        for i in range(5)
    ]
    text = "[" + ", ".join(good) + ', {"event_id": "t5", "occurred_at": "2024-0'
    summary = app.ingest_paths([write("cut.json", text)], progress=False)
    f = summary.files[0]
    assert_counts_add_up(f)
    assert (f.rows_read, f.events_stored, f.rows_rejected) == (6, 5, 1)
    (q,) = quarantine(app)
    assert q["line"] == 6
    assert q["reason"].startswith("invalid JSON in element 6")
    assert q["raw"].startswith('{"event_id": "t5"')
