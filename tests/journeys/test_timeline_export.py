"""Timeline of one journey or customer; XES and CSV export (and pm4py reading our XES)."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest
from tests.journeys.logs import T0, ev, load, small_log

from klantreis.analytics.timeline import timeline
from klantreis.app import App
from klantreis.services.export import export_log, export_xes, xes_escape

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
