"""The comments filter (``text.labels.comment_filter``) that themes, verbatims and the theme
queue read: exactly the comment kinds, as ranges DuckDB takes into the scan (an ``IN`` list
alone is only an optional scan filter, so every event's ``text`` was read: issue 17, 100M)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pytest

from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.settings import Settings
from klantreis.text import labels
from klantreis.text.labels import COMMENT_KINDS, comment_filter

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
#: Kinds next to the comment kinds in the alphabet (inside and outside their range).
NEAR = ["review.posted.x", "review", "score.given", "survey.sent", "survey.response2", "a", "z"]


def test_the_filter_selects_exactly_the_comment_kinds() -> None:
    con = ibis.duckdb.connect()
    kinds = [*COMMENT_KINDS, *NEAR]
    con.raw_sql("CREATE TABLE events AS SELECT unnest(?::VARCHAR[]) AS kind", parameters=[kinds])
    t = con.table("events")
    rows = t.filter(comment_filter(t)).to_pyarrow().to_pylist()
    assert sorted(r["kind"] for r in rows) == sorted(COMMENT_KINDS)


def _record(i: int, kind: str) -> dict[str, Any]:
    at = (T0 + timedelta(hours=i)).isoformat()
    return {
        "event_id": f"e{i}",
        "occurred_at": at,
        "kind": kind,
        "journey_id": f"j{i % 3}",
        "customer_id": "c1",
        "text": f"tekst {i}" if i % 2 else None,
    }


def test_the_comments_read_filters_the_kind_in_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comments' query on the store: the kind range is a filter of the events scan, not
    only an optional one; the comments read are the comment events with a text."""
    kinds = [*COMMENT_KINDS, "order.placed", "contact.inbound", "score.given"]
    records = [_record(i, kinds[i % len(kinds)]) for i in range(40)]
    with App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"))) as app:
        ingest_table(app.store, events_from_records(records, source="t"), app.journey, "t")
        seen: list[Any] = []
        frame = labels.events_frame

        def spy(t: Any) -> pd.DataFrame:
            seen.append(t)
            return frame(t)

        monkeypatch.setattr(labels, "events_frame", spy)
        df = labels.comments_frame(app.events_table())
        want = {r["event_id"] for r in records if r["kind"] in COMMENT_KINDS and r["text"]}
        assert set(df["event_id"]) == want
        sql = str(ibis.to_sql(seen[0], dialect="duckdb"))
        plan = app.store.con.execute("EXPLAIN " + sql).fetchall()[0][1]
        scan = plan.split("Seq Scan")[1]
        for kind in COMMENT_KINDS:  # each kind a closed range, not an optional IN list
            assert f"(kind >= '{kind}') AND (kind <= '{kind}')" in scan
        assert "optional" not in scan
