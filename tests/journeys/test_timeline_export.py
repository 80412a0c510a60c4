"""Timeline of one journey or customer; XES and CSV export (and pm4py reading our XES)."""

from __future__ import annotations

import csv
import io
import json
import random
import struct
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pytest
from tests.journeys.logs import T0, ev, load, small_log

from klantreis.analytics.timeline import timeline
from klantreis.app import App
from klantreis.export import (
    ExportResult,
    _portable_csv,
    _portable_xes,
    export_csv,
    export_log,
    export_xes,
    xes_escape,
)
from klantreis.model.events import conform, events_from_records

XES = "{http://www.xes-standard.org/}"
NASTY = 'Pakket "kapot" & <script>alert(1)</script>\x00\x07 ünïcødé 😀\r\nnieuwe regel'


def test_timeline_of_a_journey_is_in_time_order(small_app: App) -> None:
    table = timeline(small_app.events_table(), journey_id="o2")
    times = table.column("occurred_at").to_pylist()
    assert times == sorted(times) and table.num_rows == 8
    texts = [t for t in table.column("text").to_pylist() if t]
    assert texts == ["Waar is <b>o2</b>?"] * 2  # stored as is; the page escapes
    assert 2.0 in table.column("score").to_pylist()


def test_timeline_of_a_customer_spans_journeys_and_loose_events(app: App) -> None:
    load(
        app,
        [
            ev("a", "j1", "order.placed", T0, customer_id="k"),
            ev("b", "j2", "order.placed", T0 + timedelta(days=1), customer_id="k"),
            ev("c", None, "social.mention", T0 + timedelta(hours=1), customer_id="k"),
            ev("d", "j3", "order.placed", T0, customer_id="other"),
        ],
    )
    table = timeline(app.events_table(), customer_id="k")
    assert table.column("event_id").to_pylist() == ["a", "c", "b"]
    assert timeline(app.events_table(), customer_id="k", limit=2).num_rows == 2
    with pytest.raises(ValueError, match="exactly one"):
        timeline(app.events_table())


def test_xes_escape_removes_what_xml_cannot_hold() -> None:
    out = xes_escape(NASTY)
    assert "\x00" not in out and "<" not in out and '"' not in out
    assert ET.fromstring(f'<a v="{out}"/>').get("v") == NASTY.replace("\x00", "\ufffd").replace(
        "\x07", "\ufffd"
    )


def _nasty_app(app: App) -> App:
    load(
        app,
        [
            *small_log(),
            ev(
                "x1",
                "x&<1>",
                "contact.inbound",
                T0,
                text=NASTY,
                attrs={
                    "reason": "pakket_beschadigd",
                    "resolved": True,
                    "response_minutes": 12.5,
                    "n": 3,
                    "nested": {"a": 1},
                },
            ),
        ],
    )
    return app


def test_xes_is_valid_xml_with_traces_per_journey(app: App) -> None:
    buf = io.StringIO()
    result = export_xes(_nasty_app(app).events_table(), buf, batch_journeys=2)
    root = ET.fromstring(buf.getvalue())
    traces = root.findall(f"{XES}trace")
    assert (result.traces, result.events, result.skipped) == (7, 33, 1) and len(traces) == 7
    names = [t.find(f"{XES}string[@key='concept:name']").get("value") for t in traces]
    assert names == sorted(names) and "x&<1>" in names
    x = traces[names.index("x&<1>")].find(f"{XES}event")
    values = {c.get("key"): (c.tag.removeprefix(XES), c.get("value")) for c in x}
    assert values["text"] == ("string", NASTY.replace("\x00", "\ufffd").replace("\x07", "\ufffd"))
    assert values["attrs.resolved"] == ("boolean", "true")
    assert values["attrs.n"] == ("int", "3")
    assert values["attrs.response_minutes"] == ("float", "12.5")
    assert values["concept:name"] == ("string", "contact.inbound")
    assert values["time:timestamp"][0] == "date"


def test_csv_round_trips(app: App, tmp_path: Path) -> None:
    out = tmp_path / "log.csv"
    result = export_log(_nasty_app(app).events_table(), out, "csv")
    with open(out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert result.events == len(rows) == 34
    by_id = {r["event_id"]: r for r in rows}
    assert by_id["x1"]["text"] == NASTY
    assert by_id["o1-1"]["occurred_at"] == "2025-03-03T09:00:00+00:00"
    assert rows[-1]["journey_id"] == ""  # the journey-less mention comes last
    with pytest.raises(ValueError, match="format"):
        export_log(app.events_table(), out, "json")  # type: ignore[arg-type]


def test_pm4py_reads_our_xes(small_app: App, tmp_path: Path) -> None:
    pm4py = pytest.importorskip("pm4py")
    out = tmp_path / "log.xes"
    export_log(small_app.events_table(), out, "xes")
    df = pm4py.read_xes(str(out))
    assert len(df) == 32 and df["case:concept:name"].nunique() == 6
    stored = {r["event_id"]: r for r in small_app.store.events().to_pylist()}
    for row in df.to_dict("records"):
        src = stored[row["event_id"]]
        assert row["concept:name"] == src["kind"]
        assert row["case:concept:name"] == src["journey_id"]
        assert row["time:timestamp"].to_pydatetime() == src["occurred_at"]
        owner = row["org:resource"]
        assert owner == src["owner"] if src["owner"] is not None else owner != owner  # NaN
    dfg, _, _ = pm4py.discover_dfg(df)
    assert dfg[("order.placed", "payment.completed")] == 5


# -- the DuckDB path (XML and CSV built in SQL) against the portable path -----------------
# ``_portable_xes``/``_portable_csv`` are the original Python writers, kept for engines other
# than DuckDB: the SQL path must give the same text, byte for byte.

#: attrs texts where SQL and Python's json could disagree (DuckDB reads trailing commas,
#: NaN, numbers beyond 64 bits, ...): these rows must come out as Python writes them.
ODD_ATTRS = [
    '{"a": 1,}',
    '{"a": NaN}',
    '{"a": Infinity, "b": -Infinity}',
    '{"a": 1e400}',
    '{"big": 123456789012345678901234567890, "neg": -9223372036854775809}',
    '{"i64": 9223372036854775807, "u64": 18446744073709551615, "min": -9223372036854775808}',
    '{"z": -0, "f": -0.0, "e": 1E5, "tiny": 1e-7, "huge": 1e16, "x": 12.50}',
    '{"list": [1, {"b": null}], "obj": {"d": "x", "e": [true]}}',
    '{"k": 1, "k": 2}',
    "[1, 2]",
    '"just text"',
    "not json",
    "",
    "  ",
    '{"": "empty key", "a\\"b": "<&>", "x\\u0000y": "\\u0007\\ud83d\\ude00 \\t"}',
    '{"lone": "\\ud800"}',
    '{"t": true, "f": false, "n": null, "s": "\\/\\n\\r"}',
    '\t{"ws": 1}\n',
    "{}",
]


def _random_floats(n: int) -> list[float]:
    rng = random.Random(7)
    out = [rng.uniform(-1e6, 1e6) for _ in range(n)]
    out += [round(rng.uniform(0, 1000), 2) for _ in range(n)]
    bits = (struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(4 * n))
    out += [f for f in bits if f == f and abs(f) != float("inf")][:n]
    return out


def _odd_table() -> Any:
    """An Ibis table on an in-memory DuckDB database with rows no ingest would let in."""
    recs: list[dict[str, Any]] = []
    for i, attrs in enumerate(ODD_ATTRS):
        recs.append(ev(f"odd{i}", f"j{i % 4}", "contact.inbound", T0 + timedelta(minutes=i)))
        recs[-1]["attrs"] = attrs
    for i, f in enumerate(_random_floats(100)):
        recs.append(ev(f"f{i:03}", "floats", "survey.response", T0, attrs={"v": f, "n": i}))
        recs[-1]["score"] = f
    recs.append(ev("cr", "j1", "contact.inbound", T0, text="a\rb", attrs={"k": "c\rd"}))
    recs.append(ev("ctl", "j\x01<2>", "k", T0, text="\ufffe\uffff\x1f\x0b", owner="o\x00"))
    recs.append(ev("micro", None, "k", T0 + timedelta(microseconds=1)))
    recs.append(ev("old", "j0", "k", T0.replace(year=1001)))
    con = duckdb.connect()
    con.register("staged", conform(events_from_records(recs)))
    con.execute("CREATE TABLE events AS SELECT * FROM staged").fetchall()
    return ibis.duckdb.from_connection(con).table("events")


@pytest.mark.parametrize("kw", [{}, {"rows_per_query": 7, "batch_rows": 5}])
def test_duckdb_xes_equals_the_python_writer(app: App, kw: dict[str, int]) -> None:
    for events in (_nasty_app(app).events_table(), _odd_table()):
        want, got = io.StringIO(), io.StringIO()
        expected = _portable_xes(events, want, 3)
        assert export_xes(events, got, **kw) == expected
        assert got.getvalue() == want.getvalue()
        ET.fromstring(got.getvalue())  # well-formed


@pytest.mark.parametrize("kw", [{}, {"rows_per_query": 7, "batch_rows": 5}])
def test_duckdb_csv_equals_the_python_writer(app: App, kw: dict[str, int]) -> None:
    for events in (_nasty_app(app).events_table(), _odd_table()):
        events = events.filter(events.event_id != "cr")  # see the test below
        want, got = io.StringIO(), io.StringIO()
        expected = _portable_csv(events, want, 3)
        assert export_csv(events, got, **kw) == expected
        assert got.getvalue() == want.getvalue()


def test_csv_quotes_a_lone_carriage_return(tmp_path: Path) -> None:
    # csv.writer (Python 3.11, lineterminator "\n") leaves it bare, and readers then split
    # the row there; the SQL path quotes it.
    out = tmp_path / "log.csv"
    export_log(_odd_table(), out, "csv")
    with open(out, encoding="utf-8", newline="") as fh:
        rows = {r["event_id"]: r for r in csv.DictReader(fh)}
    assert rows["cr"]["text"] == "a\rb" and json.loads(rows["cr"]["attrs"]) == {"k": "c\rd"}
    assert rows["micro"]["occurred_at"] == "2025-03-03T09:00:00.000001+00:00"
    assert rows["old"]["occurred_at"] == "1001-03-03T09:00:00+00:00"


def test_export_of_an_empty_log() -> None:
    events = _odd_table()
    events = events.filter(events.event_id == "none")
    xes, flat = io.StringIO(), io.StringIO()
    assert export_xes(events, xes) == ExportResult(0, 0, 0)
    assert ET.fromstring(xes.getvalue()).find(f"{XES}trace") is None
    assert export_csv(events, flat) == ExportResult(0, 0, 0)
    assert flat.getvalue().count("\n") == 1  # the header


def test_pm4py_reads_our_xes_with_odd_attrs(tmp_path: Path) -> None:
    pm4py = pytest.importorskip("pm4py")
    out = tmp_path / "odd.xes"
    result = export_log(_odd_table(), out, "xes")
    df = pm4py.read_xes(str(out))
    assert (
        len(df) == result.events == len(ODD_ATTRS) + 300 + 3
        and df["case:concept:name"].nunique() == 6
    )
    floats = df[df["case:concept:name"] == "floats"].sort_values("event_id")
    assert floats["attrs.v"].tolist() == _random_floats(100)


FORMULAS = ['=HYPERLINK("http://evil.example","klik")', "+31 6 1234", "-2+3", "@SUM(A1)", "\tx"]


def _formula_table() -> Any:
    recs = [
        ev(f"f{i}", f"j{i}", "contact.inbound", T0, text=t, owner=t) for i, t in enumerate(FORMULAS)
    ]
    recs.append(ev("plain", "j9", "contact.inbound", T0, text="gewoon = tekst"))
    con = duckdb.connect()
    con.register("staged", conform(events_from_records(recs)))
    con.execute("CREATE TABLE events AS SELECT * FROM staged").fetchall()
    return ibis.duckdb.from_connection(con).table("events")


@pytest.mark.parametrize("safe", [True, False])
def test_csv_is_spreadsheet_safe_by_default(safe: bool) -> None:
    events = _formula_table()
    want, got = io.StringIO(), io.StringIO()
    _portable_csv(events, want, 3, spreadsheet_safe=safe)
    export_csv(events, got, spreadsheet_safe=safe)
    assert got.getvalue() == want.getvalue()
    rows = {r["event_id"]: r for r in csv.DictReader(io.StringIO(got.getvalue(), newline=""))}
    for i, text in enumerate(FORMULAS):
        expected = "'" + text if safe else text
        assert rows[f"f{i}"]["text"] == expected and rows[f"f{i}"]["owner"] == expected
    assert rows["plain"]["text"] == "gewoon = tekst"
    if safe:
        default = io.StringIO()
        export_csv(events, default)
        assert default.getvalue() == got.getvalue()
