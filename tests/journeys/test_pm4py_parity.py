"""Our discovery equals pm4py's on real logs (pm4py only as a development-time oracle).

Ordering: we order a journey's events by (occurred_at, event_id); pm4py sorts its data frame
by (case, timestamp) and keeps the row order for equal time stamps. The two agree whenever a
journey has no two events at the same instant (true for both real logs, checked below), or
when event ids follow the file order (``test_ties_follow_event_id`` shows both cases).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from klantreis.analytics import discovery
from klantreis.analytics.journey_index import JourneyIndex
from klantreis.analytics.scope import Scope
from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records

pm4py = pytest.importorskip("pm4py")
pd = pytest.importorskip("pandas")

CASE, ACT, TIME, RES = "case:concept:name", "concept:name", "time:timestamp", "org:resource"


def _slug(name: str) -> str:
    return "a." + (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "x")


def load_frame(app: App, df: Any, channel: str | None = None) -> None:
    """pm4py-style frame -> events: kind = slug(activity), touchpoint = the activity name
    itself (so names compare exactly), event_id in file order (ties keep the row order)."""
    records = [
        {
            "event_id": f"{row[CASE]}#{i:07d}",
            "journey_id": str(row[CASE]),
            "kind": _slug(str(row[ACT])),
            "touchpoint": str(row[ACT]),
            "occurred_at": row[TIME].to_pydatetime(),
            "owner": None if pd.isna(row.get(RES)) else str(row[RES]),
            "channel": None if channel is None else row[channel],
        }
        for i, row in enumerate(df.to_dict("records"))
    ]
    result = ingest_table(app.store, events_from_records(records, "pm4py"), app.journey, "pm4py")
    assert (result.stored, result.quarantined) == (len(df), 0)


def assert_same_as_pm4py(app: App, df: Any) -> None:
    dfg, starts, ends = pm4py.discover_dfg(
        df, case_id_key=CASE, activity_key=ACT, timestamp_key=TIME
    )
    variants = pm4py.get_variants(df, case_id_key=CASE, activity_key=ACT, timestamp_key=TIME)
    t = app.events_table()
    for index in (None, JourneyIndex(app.store)):
        d = discovery.discover(t, app.journey, activity="touchpoint", top=None, index=index)
        assert {(r["source"], r["target"]): r["count"] for r in d.dfg.to_pylist()} == dict(dfg)
        assert {tuple(r["variant"]): r["count"] for r in d.variants.to_pylist()} == {
            tuple(k): v for k, v in variants.items()
        }
        assert {r["activity"]: r["count"] for r in d.start.to_pylist()} == dict(starts)
        assert {r["activity"]: r["count"] for r in d.end.to_pylist()} == dict(ends)
        assert d.journeys == df[CASE].nunique()


def _no_ties(df: Any) -> bool:
    return not df.duplicated([CASE, TIME]).any()


@pytest.mark.data
def test_receipt_wabo_equals_pm4py(app: App, shared_data: Path) -> None:
    df = pd.read_csv(shared_data / "eventlogs" / "receipt_wabo.csv")
    df[TIME] = pd.to_datetime(df[TIME], utc=True, format="ISO8601")
    assert len(df) == 8577 and _no_ties(df)
    load_frame(app, df, channel="case:channel")
    assert_same_as_pm4py(app, df)
    per_channel = discovery.discover(app.events_table(), app.journey, Scope(channels=("Desk",)))
    assert per_channel.journeys == df[df["case:channel"] == "Desk"][CASE].nunique()


@pytest.mark.data
def test_bpic2013_equals_pm4py(app: App, shared_data: Path) -> None:
    df = pm4py.read_xes(str(shared_data / "eventlogs" / "bpic2013_closed_problems.xes.gz"))
    df[TIME] = pd.to_datetime(df[TIME], utc=True)
    assert len(df) == 6660 and _no_ties(df)
    load_frame(app, df)
    assert_same_as_pm4py(app, df)
    handovers = discovery.handovers(app.events_table(), app.journey)
    # a hand-over is a resource change between consecutive events of a case
    s = df.sort_values([CASE, TIME], kind="stable")
    nxt = s.groupby(CASE)[RES].shift(-1)
    expected = int(((nxt.notna()) & (nxt != s[RES])).sum())
    assert sum(handovers.column("count").to_pylist()) == expected


@pytest.mark.data
def test_wabo_through_the_ingest_mapping(app: App, shared_data: Path) -> None:
    path = shared_data / "eventlogs" / "receipt_wabo.csv"
    app.ingest_paths([path], progress=False)
    df = pd.read_csv(path)
    df[TIME] = pd.to_datetime(df[TIME], utc=True, format="ISO8601")
    assert app.store.count() == len(df)
    dfg, _, _ = pm4py.discover_dfg(df, case_id_key=CASE, activity_key=ACT, timestamp_key=TIME)
    ours = discovery.dfg(app.events_table(), app.journey)
    slug = pytest.importorskip("klantreis.ingest.readers").slug
    assert len({slug(n) for n in set(df[ACT])}) == df[ACT].nunique() == 27
    expected = {(slug(a), slug(b)): n for (a, b), n in dfg.items()}
    assert {(r["source"], r["target"]): r["count"] for r in ours.to_pylist()} == expected


def test_ties_follow_event_id(app: App) -> None:
    t0 = pd.Timestamp("2025-01-01T10:00:00Z")
    df = pd.DataFrame(
        {
            CASE: ["c1", "c1", "c1", "c2", "c2"],
            ACT: ["B", "A", "C", "A", "B"],
            TIME: [t0, t0, t0 + pd.Timedelta(minutes=1), t0, t0],
        }
    )
    load_frame(app, df)  # event ids follow the row order: same answer as pm4py
    assert_same_as_pm4py(app, df)
    reversed_ids = [
        {
            "event_id": "z",
            "journey_id": "c3",
            "kind": "x.b",
            "touchpoint": "B",
            "occurred_at": t0.to_pydatetime(),
        },
        {
            "event_id": "a",
            "journey_id": "c3",
            "kind": "x.a",
            "touchpoint": "A",
            "occurred_at": t0.to_pydatetime(),
        },
    ]
    ingest_table(app.store, events_from_records(reversed_ids), app.journey)
    d = discovery.discover(
        app.events_table(),
        app.journey,
        Scope(attrs=(("journey_id", ("c3",)),)),
        activity="touchpoint",
    )
    # pm4py would say B -> A (row order); we say A -> B (event id order)
    assert [(r["source"], r["target"]) for r in d.dfg.to_pylist()] == [("A", "B")]
