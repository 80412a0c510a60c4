"""Mapping files: validation messages, multi-event rows, value maps, time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ingest_helpers import assert_counts_add_up

from klantreis.app import App
from klantreis.ingest import MappingError, load_mapping, parse_mapping
from klantreis.ingest.compile import timestamp_expr
from klantreis.ingest.mapping import FieldSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[fields]\nkind = { value = 'x' }\n", "fields: no 'occurred_at'"),
        (
            "[fields]\nkind = { value = 'x', column = 'y' }\noccurred_at = 't'\n",
            "give exactly one of 'column'",
        ),
        (
            "[source]\ntimezone = 'Mars/Olympus'\n[fields]\nkind = 'k'\noccurred_at = 't'\n",
            "unknown time zone 'Mars/Olympus'",
        ),
        ("[fields]\nkind = 'k'\noccurred_at = 't'\ncolour = 'c'\n", "fields.colour: Extra inputs"),
        (
            "[fields]\nkind = 'k'\noccurred_at = { column = 't', transform = 'shout' }\n",
            "fields.occurred_at.transform",
        ),
        ("[[events]]\nkind = { value = 'a.b' }\n", "events.0: no 'occurred_at'"),
        ("[fields\n", "not valid TOML"),
    ],
)
def test_mapping_problems_are_explained(text: str, expected: str) -> None:
    with pytest.raises(MappingError) as err:
        parse_mapping(text, "m.toml")
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_missing_columns_fail_the_file_with_a_clear_message(app: App, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("when,what\n2024-01-01 10:00,a\n", encoding="utf-8")
    mapping = parse_mapping("[fields]\nkind = 'kind_col'\noccurred_at = 'when'\n")
    f = app.ingest_paths([path], mapping=mapping, progress=False).files[0]
    assert f.error and "'kind_col'" in f.error and "when" in f.error
    assert app.store.count() == 0


def test_examples_are_valid() -> None:
    for path in sorted((EXAMPLES / "mappings").glob("*.toml")):
        assert load_mapping(path).resolved_events()


def test_olist_row_gives_five_events_and_empty_stamps_give_none(app: App) -> None:
    mapping = load_mapping(EXAMPLES / "mappings" / "olist_orders.toml")
    data = EXAMPLES / "data" / "olist_orders.csv"
    f = app.ingest_paths([data], mapping=mapping, progress=False).files[0]
    assert_counts_add_up(f, one_event_per_row=False)
    lines = data.read_text(encoding="utf-8").splitlines()[1:]
    filled = sum(sum(1 for v in line.split(",")[3:] if v) for line in lines)
    assert f.events_produced == f.events_stored == filled
    per_order = app.store.query(
        "SELECT journey_id, list(kind ORDER BY kind) AS kinds FROM events GROUP BY ALL"
    )
    kinds = {r["journey_id"]: r["kinds"] for r in per_order.to_pylist()}
    rows = [line.split(",") for line in lines]
    full = next(r for r in rows if all(r[3:]))
    canceled = next(r for r in rows if r[2] == "canceled")
    assert kinds[full[0]] == [
        "delivery.completed",
        "delivery.promised",
        "order.placed",
        "payment.completed",
        "shipment.handed_over",
    ]
    assert kinds[canceled[0]] == ["delivery.promised", "order.placed", "payment.completed"]
    promised = app.store.query(
        "SELECT occurred_at, attrs->>'deadline' AS deadline FROM events WHERE kind ="
        f" 'delivery.promised' AND journey_id = '{full[0]}'"
    ).to_pylist()
    # Naive stamps are Sao Paulo time (UTC-3, no summer time since 2019).
    sao_paulo = ZoneInfo("America/Sao_Paulo")
    deadline = datetime.strptime(full[7], "%Y-%m-%d %H:%M:%S").replace(tzinfo=sao_paulo)
    assert deadline.utcoffset() == timedelta(hours=-3)
    assert promised[0]["deadline"] == deadline.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    bought = datetime.strptime(full[3], "%Y-%m-%d %H:%M:%S").replace(tzinfo=sao_paulo)
    assert promised[0]["occurred_at"] == bought.astimezone(UTC)
    again = app.ingest_paths([data], mapping=mapping, progress=False).files[0]
    assert (again.events_stored, again.duplicates) == (0, f.events_stored)


def test_value_maps_constants_transforms_and_attrs(app: App, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        "Datum;Kanaal;Klant;Onderwerp;Minuten;Opgelost\n"
        "01-03-2024 10:15;Telefoon;K1;Waar is mijn pakket?;12,5;ja\n"
        "02-03-2024 09:00;Mail;K2;Factuur;;nee\n"
        "03-03-2024 25:00;Chat;K3;Retour;3;ja\n"
        "04-03-2024 08:00;Chat;K4;Retour;veel;ja\n",
        encoding="utf-8",
    )
    mapping = parse_mapping("""
        [source]
        timestamp_formats = ["%d-%m-%Y %H:%M"]
        [fields]
        occurred_at = "Datum"
        kind = { value = "contact.inbound" }
        customer_id = { column = "Klant", transform = "lower", prefix = "nl-" }
        channel = { column = "Kanaal", map = { Telefoon = "phone", Mail = "email" }, transform = "lower" }
        text = "Onderwerp"
        [attrs]
        response_minutes = { column = "Minuten", type = "number" }
        resolved = { column = "Opgelost", map = { ja = "true", nee = "false" }, type = "bool" }
    """)
    f = app.ingest_paths([path], mapping=mapping, progress=False).files[0]
    assert_counts_add_up(f)
    assert (f.events_stored, f.quarantined) == (2, 2)
    rows = app.store.query(
        "SELECT customer_id, channel, occurred_at, attrs FROM events ORDER BY occurred_at"
    ).to_pylist()
    assert [r["channel"] for r in rows] == ["phone", "email"]
    assert rows[0]["customer_id"] == "nl-k1"
    assert rows[0]["occurred_at"] == datetime(2024, 3, 1, 9, 15, tzinfo=UTC)
    assert rows[0]["attrs"] == '{"response_minutes":12.5,"resolved":true}'
    reasons = sorted(
        r["reason"] for r in app.store.query("SELECT reason FROM quarantine").to_pylist()
    )
    assert reasons[0].startswith("not a number in column 'Minuten': veel")
    assert reasons[1].startswith("unparseable time stamp in column 'Datum': 03-03-2024 25:00")


def test_given_event_ids_are_used_and_duplicates_skipped(app: App, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "id,t,k\na,2024-01-01 10:00,web.visit\na,2024-01-01 11:00,web.visit\n"
        "b,2024-01-01 10:00,web.visit\n",
        encoding="utf-8",
    )
    mapping = parse_mapping("[fields]\nevent_id = 'id'\noccurred_at = 't'\nkind = 'k'\n")
    f = app.ingest_paths([path], mapping=mapping, progress=False).files[0]
    assert (f.events_stored, f.duplicates) == (2, 1)
    assert sorted(app.store.query("SELECT event_id FROM events").column(0).to_pylist()) == [
        "a",
        "b",
    ]


_con = duckdb.connect()
_con.execute("SET TimeZone = 'UTC'").fetchall()


def _convert(text: str, zone: str, formats: list[str]) -> datetime | None:
    _con.register("_raw", __import__("pyarrow").table({"t": [text]}))
    expr = timestamp_expr(FieldSpec(column="t"), zone, formats)
    return _con.sql(f"SELECT {expr} FROM _raw").fetchall()[0][0]


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2035, 12, 31)),
    st.sampled_from(["Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "UTC"]),
    st.sampled_from([[], ["%d-%m-%Y %H:%M:%S"], ["%Y/%m/%d %H:%M:%S", "%d-%m-%Y %H:%M:%S"]]),
)
def test_naive_time_stamps_are_local_time_in_the_zone(
    local: datetime, zone: str, formats: list[str]
) -> None:
    local = local.replace(microsecond=0)
    text = local.strftime(formats[-1] if formats else "%Y-%m-%d %H:%M:%S")
    got = _convert(text, zone, formats)
    tz = ZoneInfo(zone)
    aware = local.replace(tzinfo=tz)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
        return  # a local time that does not exist (spring-forward gap): any nearby answer
    # Ambiguous autumn hours: either reading is a valid conversion.
    candidates = {local.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1)}
    assert got in candidates


@settings(max_examples=40, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1995, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
    ),
    st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: m - m % 15),
)
def test_offsets_in_the_text_win_over_the_zone(moment: datetime, offset_min: int) -> None:
    moment = moment.replace(microsecond=0)
    local = moment.astimezone(__import__("datetime").timezone(timedelta(minutes=offset_min)))
    text = local.isoformat()
    assert _convert(text, "Europe/Amsterdam", []) == moment


def test_contactcenter_example_explains_every_bad_row(app: App) -> None:
    mapping = load_mapping(EXAMPLES / "mappings" / "contactcenter.toml")
    data = EXAMPLES / "data" / "contactcenter_export.csv"
    f = app.ingest_paths([data], mapping=mapping, progress=False).files[0]
    assert_counts_add_up(f)
    assert (f.encoding, f.delimiter) == ("cp1252", ";")
    assert (f.rows_read, f.events_stored, f.duplicates, f.quarantined) == (7, 3, 1, 3)
    q = app.store.query("SELECT line, reason FROM quarantine ORDER BY line").to_pylist()
    assert [r["line"] for r in q] == [5, 6, 7]
    assert q[0]["reason"].startswith("unparseable time stamp in column 'Datum/tijd'")
    assert q[1]["reason"].startswith("not a number in column 'Wachttijd (min)'")
    assert q[2]["reason"].startswith("wrong column count")
    rows = app.store.query(
        "SELECT event_id, channel, lang, owner, attrs FROM events ORDER BY event_id"
    ).to_pylist()
    assert [r["channel"] for r in rows] == ["phone", "email", "chat"]
    assert rows[0]["event_id"] == "T-1001"
    assert rows[2]["lang"] == "en"
    assert '"agent":"Joël"' in rows[1]["attrs"]
