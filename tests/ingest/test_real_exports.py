"""Mappings for real exports (issue 11): date-only deadlines, typed event fields, row
filters, templates, coalesce, conditions, all-or-nothing rows, carriage returns in quoted
text, pipes as mapping paths, the time-stamp format hint and ``mapping suggest``."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from ingest_helpers import Writer, assert_counts_add_up

from klantreis.analytics.promises import promise_rates
from klantreis.app import App
from klantreis.cli.main import cli
from klantreis.ingest import MappingError, load_mapping, parse_mapping
from klantreis.ingest.formats import detect_formats
from klantreis.settings import Settings

ORDERS_MAPPING = """
[source]
timezone = "Europe/Amsterdam"
timestamp_formats = ["%d-%m-%Y %H:%M", "%d-%m-%Y"]

[fields]
journey_id = "order"
owner = "carrier"

[[events]]
kind = { value = "delivery.promised" }
occurred_at = "besteld"
attrs = { deadline = { column = "beloofd", type = "timestamp" } }

[[events]]
kind = { value = "delivery.completed" }
occurred_at = "bezorgd"
"""

#: Six orders promised for a date; delivered on that day (kept: 1, 2, 3, 5), the next day
#: (late: 4) and never (6: open or not delivered, depending on "now").
ORDERS = (
    "order,carrier,besteld,beloofd,bezorgd\n"
    "1,carrier:a,20-09-2026 10:00,24-09-2026,24-09-2026 09:00\n"
    "2,carrier:a,20-09-2026 10:00,24-09-2026,24-09-2026 21:30\n"
    "3,carrier:a,20-09-2026 10:00,24-09-2026,24-09-2026 23:59\n"
    "4,carrier:a,20-09-2026 10:00,24-09-2026,25-09-2026 00:10\n"
    "5,carrier:a,20-09-2026 10:00,24-09-2026 18:00,24-09-2026 17:00\n"
    "6,carrier:a,20-09-2026 10:00,24-09-2026,\n"
)
AFTER = datetime(2026, 10, 1, tzinfo=UTC)


def _kept(app: App) -> dict[str, object]:
    rates = promise_rates(app.events_table(), app.journey, "promise", now=AFTER)
    return rates.to_pylist()[0]


def test_date_only_deadline_is_the_end_of_that_local_day(app: App, write: Writer) -> None:
    f = app.ingest_paths(
        [write("orders.csv", ORDERS)], mapping=parse_mapping(ORDERS_MAPPING), progress=False
    ).files[0]
    assert f.deadline_dates == 5  # order 5 has a time of day
    row = _kept(app)
    # hand-computed: kept 1, 2, 3, 5; late 4; not delivered 6 -> 4 / 6
    assert (row["kept"], row["late"], row["undelivered"]) == (4, 1, 1)
    assert row["kept_rate"] == pytest.approx(100 * 4 / 6)
    assert row["on_time_rate"] == pytest.approx(100 * 4 / 5)
    deadline = app.store.query(
        "SELECT json_extract_string(attrs, '$.deadline') AS d FROM events"
        " WHERE journey_id = '1' AND kind = 'delivery.promised'"
    ).to_pylist()[0]["d"]
    assert deadline == "2026-09-24T21:59:59Z"  # 23:59:59 in Amsterdam (summer time)


def test_date_only_deadline_can_be_read_as_start_of_day(app: App, write: Writer) -> None:
    text = ORDERS_MAPPING.replace(
        'type = "timestamp" }', 'type = "timestamp", date_only = "start_of_day" }'
    )
    app.ingest_paths([write("orders.csv", ORDERS)], mapping=parse_mapping(text), progress=False)
    row = _kept(app)
    assert (row["kept"], row["late"]) == (1, 4)  # the old reading: only order 5 in time


def test_date_only_summary_line(tmp_path: Path, write: Writer) -> None:
    data = write("orders.csv", ORDERS)
    mapping = write("m.toml", ORDERS_MAPPING)
    db = str(tmp_path / "x.duckdb")
    result = CliRunner().invoke(cli, ["ingest", str(data), "--mapping", str(mapping), "--db", db])
    assert result.exit_code == 0, result.output
    assert "5 deadlines were dates: read as end of day" in result.output


def test_integer_type_on_an_event_field_is_honoured(app: App, tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    table = pa.table({"parent": [3.0, 4.0, None], "t": ["2026-01-01 10:00"] * 3, "k": ["a.b"] * 3})
    pq.write_table(table, path)
    mapping = parse_mapping(
        "[fields]\njourney_id = { column = 'parent', type = 'integer' }\n"
        "occurred_at = 't'\nkind = 'k'\n"
    )
    f = app.ingest_paths([path], mapping=mapping, progress=False).files[0]
    assert_counts_add_up(f)
    ids = app.store.query("SELECT journey_id FROM events ORDER BY 1 NULLS LAST").to_pylist()
    assert [r["journey_id"] for r in ids] == ["3", "4", None]


def test_integer_type_refuses_a_fraction(app: App, write: Writer) -> None:
    path = write("x.csv", "parent,t,k\n3.5,2026-01-01 10:00,a.b\n")
    mapping = parse_mapping(
        "[fields]\njourney_id = { column = 'parent', type = 'integer' }\n"
        "occurred_at = 't'\nkind = 'k'\n"
    )
    f = app.ingest_paths([path], mapping=mapping, progress=False).files[0]
    assert f.events_stored == 0 and f.quarantined == 1
    assert "not a integer in column 'parent'" in next(iter(f.reasons))


def test_a_type_that_does_not_fit_the_field_is_refused() -> None:
    with pytest.raises(MappingError) as err:
        parse_mapping(
            "[fields]\njourney_id = { column = 'p', type = 'timestamp' }\n"
            "occurred_at = 't'\nkind = 'k'\n"
        )
    assert any("fields.journey_id: type 'timestamp'" in p for p in err.value.problems)


def test_mapping_type_mistake_exits_2(write: Writer, tmp_path: Path) -> None:
    mapping = write(
        "m.toml", "[fields]\nkind = 'k'\noccurred_at = { column = 't', type = 'json' }\n"
    )
    data = write("x.csv", "t,k\n2026-01-01,a.b\n")
    result = CliRunner().invoke(
        cli, ["ingest", str(data), "--mapping", str(mapping), "--db", str(tmp_path / "d.duckdb")]
    )
    assert result.exit_code == 2
    assert "fields.occurred_at: type 'json' does not fit" in result.output


REVIEWS = (
    "review_id,order_id,order_status,score,created,answered\n"
    "r1,o1,delivered,5,2026-01-02 10:00,\n"
    "r1,o2,delivered,4,2026-01-03 10:00,2026-01-03 12:00\n"
    "r2,o3,canceled,1,2026-01-04 10:00,\n"
    "r3,o4,delivered,3,,2026-01-05 10:00\n"
)


def test_where_template_coalesce_and_when(app: App, write: Writer) -> None:
    mapping = parse_mapping(
        """
[source]
where = { column = "order_status", equals = "delivered" }

[fields]
event_id = { template = "{review_id}-{order_id}" }
journey_id = "order_id"
occurred_at = { coalesce = ["created", "answered"] }
kind = { value = "survey.response" }
metric = { value = "stars" }
score = "score"

[[events]]

[[events]]
kind = { value = "review.answered" }
score = { value = "" }
metric = { value = "" }
occurred_at = "answered"
when = { column = "answered", matches = "^2026-" }
"""
    )
    f = app.ingest_paths([write("reviews.csv", REVIEWS)], mapping=mapping, progress=False).files[0]
    assert f.rows_skipped == 1  # the cancelled order
    assert f.rows_read == 4
    rows = app.store.query(
        "SELECT event_id, kind, journey_id, strftime(occurred_at, '%d %H') AS t FROM events"
        " ORDER BY kind, journey_id"
    ).to_pylist()
    got = [(r["event_id"], r["kind"], r["journey_id"], r["t"]) for r in rows]
    assert got == [  # UTC: one hour before Amsterdam winter time
        ("r1-o2:review.answered", "review.answered", "o2", "03 11"),
        ("r3-o4:review.answered", "review.answered", "o4", "05 09"),
        ("r1-o1:survey.response", "survey.response", "o1", "02 09"),
        ("r1-o2:survey.response", "survey.response", "o2", "03 09"),
        ("r3-o4:survey.response", "survey.response", "o4", "05 09"),  # created empty
    ]
    assert f.quarantined == 0


def test_where_rows_are_counted_not_quarantined(app: App, write: Writer) -> None:
    mapping = parse_mapping(
        "[source]\nwhere = [{ column = 'order_status', in = ['delivered'] }]\n"
        "[fields]\nevent_id = { template = '{review_id}-{order_id}' }\n"
        "occurred_at = { coalesce = ['created', 'answered'] }\nkind = { value = 'review.given' }\n"
    )
    f = app.ingest_paths([write("reviews.csv", REVIEWS)], mapping=mapping, progress=False).files[0]
    assert (f.rows_read, f.events_stored, f.quarantined, f.rows_skipped) == (4, 3, 0, 1)
    assert f.rows_read == f.events_stored + f.quarantined + f.rows_skipped
    assert app.store.count("quarantine") == 0


def test_template_and_condition_mistakes_are_explained() -> None:
    with pytest.raises(MappingError) as err:
        parse_mapping("[fields]\nevent_id = { template = 'x' }\nkind = 'k'\noccurred_at = 't'\n")
    assert any("names no column" in p for p in err.value.problems)
    with pytest.raises(MappingError) as err:
        parse_mapping(
            "[source]\nwhere = { column = 'a', bigger = 3 }\n[fields]\nkind = 'k'\noccurred_at = 't'\n"
        )
    assert any("bigger" in p for p in err.value.problems)


ATOMIC = """
[source]
atomic_rows = {atomic}

[fields]
journey_id = "order"

[[events]]
kind = {{ value = "order.placed" }}
occurred_at = "placed"

[[events]]
kind = {{ value = "payment.completed" }}
occurred_at = "paid"

[[events]]
kind = {{ value = "delivery.completed" }}
occurred_at = "delivered"
"""
ATOMIC_ROWS = (
    "order,placed,paid,delivered\n"
    "1,2026-01-01 10:00,2026-01-01 10:05,2026-01-03 12:00\n"
    "2,2026-01-01 11:00,yesterday,2026-01-03 13:00\n"
    "3,2026-01-01 12:00,,\n"
)


@pytest.mark.parametrize("atomic", [True, False])
def test_atomic_rows_hold_back_the_whole_row(app: App, write: Writer, atomic: bool) -> None:
    mapping = parse_mapping(ATOMIC.format(atomic=str(atomic).lower()))
    f = app.ingest_paths([write("o.csv", ATOMIC_ROWS)], mapping=mapping, progress=False).files[0]
    assert_counts_add_up(f, one_event_per_row=False)
    stored = app.store.query("SELECT journey_id FROM events").to_pylist()
    orders = sorted({r["journey_id"] for r in stored})
    entries = app.store.query("SELECT line, reason FROM quarantine").to_pylist()
    if atomic:
        assert orders == ["1", "3"] and len(stored) == 4
        assert len(entries) == 1 and entries[0]["line"] == 3
        assert entries[0]["reason"].startswith("row held back whole (atomic_rows): unparseable")
        assert f.rows_rejected == 1 and f.events_rejected == 0
        assert list(f.reasons) == [
            "row held back whole (atomic_rows): unparseable time stamp in column 'paid'"
        ]
        assert f.suggestions == {}  # "yesterday" is no format
        assert f.rows_read == f.rows_rejected + 2 + f.rows_without_events
    else:
        assert orders == ["1", "2", "3"] and len(stored) == 6  # order 2 without payment
        assert len(entries) == 1


def test_bare_carriage_returns_in_quoted_text_keep_the_record(
    app: App, write: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from klantreis.ingest import readers

    monkeypatch.setattr(readers, "CSV_BLOCK_BYTES", 1 << 12)  # many block boundaries
    lines = ["event_id,occurred_at,kind,text"] + [
        f'{i},2026-01-01T10:00:00Z,social.mention,"eerste regel\rtweede\r\rderde {i}"'
        for i in range(500)
    ]
    f = app.ingest_paths([write("social.csv", "\n".join(lines) + "\n")], progress=False).files[0]
    assert f.error is None, f.error
    assert (f.rows_read, f.events_stored, f.quarantined) == (500, 500, 0)
    text = app.store.query("SELECT text FROM events WHERE event_id = '7'").to_pylist()[0]
    assert text["text"] == "eerste regel\rtweede\r\rderde 7"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_mapping_from_a_pipe(tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "mapping.toml"
    os.mkfifo(fifo)
    text = "[fields]\nkind = 'k'\noccurred_at = 't'\n"

    def feed() -> None:
        with open(fifo, "w", encoding="utf-8") as fh:
            fh.write(text)

    thread = threading.Thread(target=feed)
    thread.start()
    mapping = load_mapping(fifo)  # read once, not stat-ed as a regular file
    thread.join(timeout=5)
    assert mapping.resolved_events()[0].fields["kind"].column == "k"


def test_missing_mapping_file_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as err:
        load_mapping(tmp_path / "nope.toml")
    assert err.value.problems == ["file not found"]


def test_ingest_exits_non_zero_when_a_file_stored_nothing(tmp_path: Path, write: Writer) -> None:
    data = write("x.csv", "t,k\n24-09-2026 10:00,a.b\n01-10-2026 09:30,a.b\n")
    mapping = write("m.toml", "[fields]\nkind = 'k'\noccurred_at = 't'\n")
    db = str(tmp_path / "d.duckdb")
    args = ["ingest", str(data), "--mapping", str(mapping), "--db", db, "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "stored nothing" in result.output
    assert 'timestamp_formats = ["%d-%m-%Y %H:%M"]' in result.output
    as_json = CliRunner().invoke(cli, [*args, "--json"])
    suggestions = json.loads(as_json.output)["files"][0]["suggestions"]
    assert suggestions == {"unparseable time stamp in column 't'": ["%d-%m-%Y %H:%M"]}
    fixed = write(
        "m2.toml",
        "[source]\ntimestamp_formats = ['%d-%m-%Y %H:%M']\n"
        "[fields]\nkind = 'k'\noccurred_at = 't'\n",
    )
    ok = CliRunner().invoke(cli, ["ingest", str(data), "--mapping", str(fixed), "--db", db])
    assert ok.exit_code == 0, ok.output
    again = CliRunner().invoke(cli, ["ingest", str(data), "--mapping", str(fixed), "--db", db])
    assert again.exit_code == 0, again.output  # all duplicates: nothing new is fine


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["24-09-2026 14:05", "01-10-2026 09:30"], "%d-%m-%Y %H:%M"),
        (["09/24/2026"], "%m/%d/%Y"),
        (["24.09.2026"], "%d.%m.%Y"),
        (["2026-09-24T10:00:00Z"], None),
    ],
)
def test_detect_formats(values: list[str], expected: str | None) -> None:
    found = detect_formats(values)
    assert (found[0] if found else None) == expected


OLIST_LIKE = (
    "review_id;order_id;customer_unique_id;review_score;review_comment_message;"
    "review_creation_date;review_answer_timestamp;order_status\n"
    "r1;o1;c1;4;;18-01-2018 00:00;18-01-2018 21:46;delivered\n"
    "r2;o2;c2;5;Recebi bem antes do prazo estipulado e gostei muito do produto, obrigado;"
    "10-03-2018 00:00;11-03-2018 03:05;delivered\n"
    "r3;o3;c3;1;;17-02-2018 00:00;;canceled\n"
)


def test_mapping_suggest_drafts_a_mapping_that_ingests(tmp_path: Path, write: Writer) -> None:
    data = write("reviews.csv", OLIST_LIKE)
    result = CliRunner().invoke(cli, ["mapping", "suggest", str(data)])
    assert result.exit_code == 0, result.output
    draft = result.output
    mapping = parse_mapping(draft, "draft.toml")
    assert mapping.source.timestamp_formats == ["%d-%m-%Y %H:%M"]
    assert mapping.source.delimiter == ";"
    fields = mapping.fields.specs()
    assert fields["journey_id"].column == "order_id"
    assert fields["customer_id"].column == "customer_unique_id"
    assert fields["score"].column == "review_score" and fields["metric"].value == "stars"
    assert fields["text"].column == "review_comment_message"
    assert [e.fields["occurred_at"].column for e in mapping.resolved_events()] == [
        "review_creation_date",
        "review_answer_timestamp",
    ]
    assert 'template = "{review_id}-{order_id}"' in draft
    saved = write("draft.toml", draft)
    db = str(tmp_path / "d.duckdb")
    ok = CliRunner().invoke(cli, ["ingest", str(data), "--mapping", str(saved), "--db", db])
    assert ok.exit_code == 0, ok.output
    with App(Settings.load(env={}, db_path=db)) as app:
        assert app.store.count() == 5 and app.store.count("quarantine") == 0


def test_atomic_rows_also_hold_back_a_row_failing_a_validation_rule(
    app: App, write: Writer
) -> None:
    rows = "order,placed,paid,delivered\n1,2026-01-01 10:00,2026-01-01 10:05,1980-01-03 12:00\n"
    mapping = parse_mapping(ATOMIC.format(atomic="true"))
    f = app.ingest_paths([write("o.csv", rows)], mapping=mapping, progress=False).files[0]
    assert (f.events_stored, f.rows_rejected, f.quarantined) == (0, 1, 1)
    reason = app.store.query("SELECT reason FROM quarantine").to_pylist()[0]["reason"]
    assert reason.startswith("row held back whole (atomic_rows): ")
    assert "occurred_at" in reason or "time" in reason, reason


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_canonical_date_only_deadlines_are_end_of_day(app: App, write: Writer, fmt: str) -> None:
    recs = [
        {
            "event_id": "p1",
            "journey_id": "1",
            "occurred_at": "2026-09-20T10:00:00Z",
            "kind": "delivery.promised",
            "attrs": json.dumps({"deadline": "2026-09-24", "other": "2026-09-24"}),
        },
        {
            "event_id": "d1",
            "journey_id": "1",
            "occurred_at": "2026-09-24T19:30:00Z",
            "kind": "delivery.completed",
        },
    ]
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, ["event_id", "journey_id", "occurred_at", "kind", "attrs"])
        w.writeheader()
        w.writerows(recs)
        path = write("events.csv", buf.getvalue())
    else:
        path = write("events.ndjson", "\n".join(json.dumps(r) for r in recs) + "\n")
    f = app.ingest_paths([path], progress=False).files[0]
    assert f.deadline_dates == 1 and f.events_stored == 2
    attrs = app.store.query("SELECT attrs FROM events WHERE event_id = 'p1'").to_pylist()[0]
    assert json.loads(attrs["attrs"]) == {"deadline": "2026-09-24T21:59:59Z", "other": "2026-09-24"}
    row = _kept(app)
    assert (row["kept"], row["late"]) == (1, 0)  # delivered 21:30 local on the promised day
