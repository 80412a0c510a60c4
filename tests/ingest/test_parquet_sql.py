"""The Parquet fast path (klantreis.ingest.parquet_sql) against the batch path: the same
reasons, quarantine entries, events, counts, idempotency and interruption safety."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest_helpers import assert_counts_add_up

import klantreis.ingest.parquet_sql as parquet_sql
import klantreis.ingest.runner as runner
from klantreis.app import App
from klantreis.ingest import FileSummary
from klantreis.model.events import events_from_records
from klantreis.model.validation import validate_events, validation_reason_sql
from klantreis.settings import Settings

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def rec(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": "e1",
        "occurred_at": "2026-10-01T10:00:00+02:00",
        "kind": "order.placed",
    }
    base.update(kw)
    return base


#: The bad-row cases of tests/model/test_events.py, plus edge cases of the SQL twin.
BAD_ROWS: list[tuple[dict[str, object], str]] = [
    (rec(event_id=None), "missing event_id"),
    (rec(event_id=""), "missing event_id"),
    (rec(occurred_at="yesterday"), "missing or unparseable occurred_at"),
    (rec(occurred_at="1970-01-01T00:00:00Z"), "impossible occurred_at (before 1990)"),
    (
        rec(occurred_at=(NOW + timedelta(days=6 * 366)).isoformat()),
        "impossible occurred_at (more than 5 years ahead)",
    ),
    (rec(kind=None), "missing kind"),
    (rec(kind="Order Placed"), "kind must be dotted lower-case, e.g. order.placed"),
    (rec(kind="order..placed"), "kind must be dotted lower-case, e.g. order.placed"),
    (rec(kind="order.placed\n"), "kind must be dotted lower-case, e.g. order.placed"),
    (rec(metric="nps", score=11), "nps score outside 0-10"),
    (rec(metric="ces", score=0), "ces score outside 1-7"),
    (rec(metric="csat", score=6), "csat score outside 1-5"),
    (rec(metric="stars", score=5.5), "stars score outside 1-5"),
    (rec(metric="nps", score="hoog"), "score is not a number"),
    (rec(metric="nps", score=float("inf")), "nps score outside 0-10"),
    (rec(score=3), "score without a known metric (nps, ces, csat, stars)"),
    (rec(metric="nps"), "metric without a score"),
    (rec(metric="effort", score=3), "score without a known metric (nps, ces, csat, stars)"),
    (rec(metric="effort"), "metric without a score"),
    (rec(attrs="[1, 2]"), "attrs must be a JSON object"),
    (rec(attrs=" {}"), "attrs must be a JSON object"),
    (rec(attrs="{bad json"), "attrs is not valid JSON"),
    (rec(text="x" * 100_001), "text longer than 100000 characters"),
    (rec(text="\U0001f4e6" * 100_001), "text longer than 100000 characters"),
    (rec(channel="x" * 1_001), "channel longer than 1000 characters"),
    (rec(customer_id="é" * 1_001), "customer_id longer than 1000 characters"),
    (rec(source="s" * 1_001), "source longer than 1000 characters"),
    (rec(event_id="i" * 1_001, kind="Bad"), "kind must be dotted lower-case, e.g. order.placed"),
]
GOOD_ROWS: list[dict[str, object]] = [
    rec(text="\U0001f4e6" * 100_000),
    rec(channel="é" * 1_000),
    rec(metric="nps", score=0),
    rec(metric="stars", score=5, attrs='{"a": [1, {"b": null}]}'),
    rec(occurred_at="1990-01-01T00:00:00Z"),
]


#: Kinds that spare the regular expression; the invalid ones must not be spared.
KNOWN_KINDS = ["order.placed", "web.visit", "Order Placed", "order.placed\n", "order..placed"]


def _sql_reasons(table: pa.Table, known_kinds: list[str] | None = None) -> list[str | None]:
    con = duckdb.connect()
    con.register("t", table)
    rule = validation_reason_sql(NOW, known_kinds=known_kinds or [])
    reasons = con.sql(f"SELECT {rule} FROM t").fetchall()
    con.close()
    return [r[0] for r in reasons]


@pytest.mark.parametrize(("record", "reason"), BAD_ROWS)
def test_sql_rules_give_the_arrow_reason(record: dict[str, object], reason: str) -> None:
    table = events_from_records([rec(event_id="ok"), record])
    arrow = validate_events(table, now=NOW)
    assert arrow.rejected_reason == [reason]
    assert _sql_reasons(table) == [None, reason]
    assert _sql_reasons(table, KNOWN_KINDS) == [None, reason]


def test_sql_rules_accept_what_arrow_accepts() -> None:
    table = events_from_records([dict(r, event_id=str(i)) for i, r in enumerate(GOOD_ROWS)])
    assert validate_events(table, now=NOW).rejected_index == []
    assert _sql_reasons(table) == [None] * len(GOOD_ROWS)
    assert _sql_reasons(table, KNOWN_KINDS) == [None] * len(GOOD_ROWS)


# -- whole files: the SQL path against the batch path ----------------------------------------


def _mixed_file(path: Path) -> Path:
    """Good rows (some repeated, one repeat after a bad first occurrence), every bad-row case,
    touchpoints and owners left for enrichment."""
    records: list[dict[str, Any]] = []
    for i in range(40):
        records.append(
            rec(
                event_id=f"g{i}",
                kind=["delivery.completed", "web.visit"][i % 2],
                occurred_at=f"2026-10-{1 + i % 28:02d}T10:00:00Z",
            )
        )
    records += [
        dict(r, event_id=f"b{i}") if r["event_id"] else r for i, (r, _) in enumerate(BAD_ROWS)
    ]
    records.append(rec(event_id="g3", text="repeat inside the file"))
    records.append(rec(event_id="late", kind="Bad Kind"))
    records.append(rec(event_id="late", text="first valid occurrence"))
    records.append(rec(event_id="late", text="second valid occurrence"))
    table = events_from_records(records, source="")
    table = table.drop_columns(["source"])  # the file name fills it
    pq.write_table(table, path)
    return path


def _file_app(tmp_path: Path, name: str) -> App:
    return App(Settings.load(env={}, db_path=str(tmp_path / name)))


def _ingest(app: App, path: Path, sql: bool, monkeypatch: pytest.MonkeyPatch) -> FileSummary:
    monkeypatch.setattr(runner, "PARQUET_SQL", sql)
    calls: list[Path] = []
    original = parquet_sql.ingest_parquet_sql
    monkeypatch.setattr(
        runner, "ingest_parquet_sql", lambda a, p, *r: (calls.append(p), original(a, p, *r))[1]
    )
    f = app.ingest_paths([path], progress=False).files[0]
    assert calls == ([path] if sql else [])
    return f


def _snapshot(app: App) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events = app.store.query(
        "SELECT * EXCLUDE (ingested_at) FROM events ORDER BY event_id"
    ).to_pylist()
    q = app.store.query(
        "SELECT quarantine_id, source, line, reason, raw FROM quarantine ORDER BY line"
    ).to_pylist()
    return events, q


def test_sql_path_stores_and_quarantines_exactly_like_the_batch_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _mixed_file(tmp_path / "mixed.parquet")
    monkeypatch.setattr(parquet_sql, "QUARANTINE_CHUNK_ROWS", 5)
    results = {}
    for sql in (False, True):
        with _file_app(tmp_path, f"s{sql}.duckdb") as app:
            f = _ingest(app, data, sql, monkeypatch)
            assert_counts_add_up(f)
            results[sql] = (f.to_dict(), _snapshot(app))
    batch, fast = results[False], results[True]
    for key in ("rows_read", "events_stored", "duplicates", "quarantined", "reasons"):
        assert fast[0][key] == batch[0][key], key
    assert fast[0]["duplicates"] == 2  # g3 and the second valid "late"
    assert fast[1] == batch[1]
    events = {e["event_id"]: e for e in fast[1][0]}
    assert events["late"]["text"] == "first valid occurrence"
    assert events["g3"]["text"] is None
    assert (events["g0"]["touchpoint"], events["g0"]["owner"]) == ("bezorging", None)
    assert (events["g1"]["touchpoint"], events["g1"]["owner"]) == ("website", "webshop")
    assert events["g0"]["source"] == str(data)
    # every bad row but the long source (the file has no source column), plus "late"'s first
    assert len(fast[1][1]) == len(BAD_ROWS) - 1 + 1


def test_resending_adds_nothing_whichever_path_came_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _mixed_file(tmp_path / "mixed.parquet")
    for first in (False, True):
        with _file_app(tmp_path, f"resend{first}.duckdb") as app:
            once = _ingest(app, data, first, monkeypatch)
            before = _snapshot(app)
            again = _ingest(app, data, True, monkeypatch)
            assert_counts_add_up(again)
            assert again.events_stored == 0
            assert again.duplicates == once.events_stored + once.duplicates
            assert _snapshot(app) == before


def test_a_failure_inside_the_file_stores_nothing_and_a_rerun_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _mixed_file(tmp_path / "mixed.parquet")
    with _file_app(tmp_path, "clean.duckdb") as clean:
        _ingest(clean, data, True, monkeypatch)
        expected = _snapshot(clean)

    def boom(*args: object) -> list[str]:
        raise OSError("disk on fire while quarantining")

    with _file_app(tmp_path, "broken.duckdb") as app:
        with monkeypatch.context() as m:
            m.setattr(parquet_sql, "_quarantine", boom)
            f = _ingest(app, data, True, m)
        assert f.error and "disk on fire" in f.error
        assert app.store.count() == 0 and app.store.count("quarantine") == 0
        rerun = _ingest(app, data, True, monkeypatch)
        assert_counts_add_up(rerun)
        assert _snapshot(app) == expected


_CHILD = """
import sys, time
import klantreis.ingest.parquet_sql as ps
from klantreis.app import App
from klantreis.settings import Settings
original = ps._repeats_among_new
def slow(*args):
    result = original(*args)
    print("inserted", flush=True)
    time.sleep(60)
    return result
ps._repeats_among_new = slow
app = App(Settings.load(env={}, db_path=sys.argv[1]))
app.ingest_paths([sys.argv[2]], progress=False)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_killed_sql_ingest_leaves_nothing_and_rerun_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 20_000
    table = events_from_records(
        [rec(event_id=f"k{i}", kind="web.visit") for i in range(n)]
        + [rec(event_id="bad", kind="Bad")]
    )
    data = tmp_path / "big.parquet"
    pq.write_table(table, data)
    db = tmp_path / "killed.duckdb"
    with _file_app(tmp_path, "killed.duckdb") as app:  # an earlier file already stored
        _ingest(app, _mixed_file(tmp_path / "mixed.parquet"), True, monkeypatch)
        before = app.store.count()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db), str(data)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    line = ""
    while line != "inserted" and time.monotonic() < deadline:
        line = proc.stdout.readline().strip()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert line == "inserted"  # killed after the insert, before the commit
    with App(Settings.load(env={}, db_path=str(db))) as app:
        assert app.store.count() == before
        f = _ingest(app, data, True, monkeypatch)
        assert_counts_add_up(f)
        assert (f.events_stored, f.quarantined) == (n, 1)
        assert app.store.count() == before + n
        ids = app.store.query("SELECT count(*) - count(DISTINCT event_id) AS d FROM events")
        assert ids.to_pylist() == [{"d": 0}]


def test_only_canonical_typed_parquet_takes_the_sql_path() -> None:
    ts = pa.timestamp("us", tz="UTC")
    ok = pa.schema(
        [
            ("event_id", pa.string()),
            ("occurred_at", ts),
            ("kind", pa.large_string()),
            ("score", pa.int64()),
        ]
    )
    assert parquet_sql.sql_compatible(ok)
    assert not parquet_sql.sql_compatible(ok.set(1, pa.field("occurred_at", pa.timestamp("us"))))
    assert not parquet_sql.sql_compatible(ok.append(pa.field("order_no", pa.string())))
    assert not parquet_sql.sql_compatible(ok.remove(2))
    assert not parquet_sql.sql_compatible(ok.set(3, pa.field("score", pa.string())))
    ns = pa.field("occurred_at", pa.timestamp("ns", tz="UTC"))
    assert not parquet_sql.sql_compatible(ok.set(1, ns))


def test_a_file_name_with_glob_characters_is_read_as_a_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "export[1].parquet"
    pq.write_table(events_from_records([rec(event_id="x1"), rec(event_id="x2")]), data)
    with _file_app(tmp_path, "glob.duckdb") as app:
        monkeypatch.setattr(runner, "PARQUET_SQL", True)
        f = app.ingest_paths([glob.escape(str(data))], progress=False).files[0]
        assert (f.path, f.error, f.events_stored) == (str(data), None, 2)


def test_a_corrupt_file_fails_alone_and_stores_nothing(app: App, tmp_path: Path) -> None:
    table = events_from_records([rec(event_id=f"c{i}") for i in range(50_000)])
    good, bad = tmp_path / "good.parquet", tmp_path / "corrupt.parquet"
    pq.write_table(table, good, compression="snappy")
    pq.write_table(table, bad, compression="snappy")
    data = bytearray(bad.read_bytes())
    data[2000:4000] = b"\x55" * 2000  # page data, not the footer: the schema still reads
    bad.write_bytes(bytes(data))
    s = app.ingest_paths([bad, good], progress=False)
    assert s.files[0].error and "corrupt.parquet" in s.files[0].error
    assert s.files[0].events_stored == 0
    assert s.files[1].error is None and s.files[1].events_stored == 50_000
    assert app.store.count() == 50_000


def test_sql_enrichment_equals_the_arrow_enrichment(app: App) -> None:
    from klantreis.ingest.pipeline import enrich, enrich_sql

    table = events_from_records(
        [
            rec(kind="web.visit"),
            rec(kind="web.visit", touchpoint="betalen"),
            rec(kind="web.visit", touchpoint="elders"),
            rec(kind="delivery.completed"),
            rec(kind="order.placed", owner="team:x"),
            rec(kind="iets.anders"),
        ]
    )
    expected = enrich(table, app.journey).select(["touchpoint", "owner"]).to_pylist()
    tp, owner = enrich_sql(app.journey)
    con = duckdb.connect()
    con.register("t", table)
    got = con.sql(f"SELECT {tp} AS touchpoint, {owner} AS owner FROM t").to_arrow_table()
    con.close()
    assert got.to_pylist() == expected
    assert expected[1] == {"touchpoint": "betalen", "owner": "finance"}
    assert expected[0]["owner"] == "webshop" and expected[5] == {"touchpoint": None, "owner": None}
