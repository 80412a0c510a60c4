"""Our discovery equals pm4py's on real logs (pm4py only as a development-time oracle).

Ordering: we order a journey's events by (occurred_at, source_order, event_id); pm4py sorts
its data frame by (case, timestamp) and keeps the row order for equal time stamps. The source
order is the row order (file row, XES trace position), so the two agree on logs with ties
too: the tie-heavy BPIC 2012 log, and a hand-made log of ties read from CSV and XES files.
Only events without a source order (all equal, e.g. stored before schema version 3) fall back
to the event id (``test_ties_follow_event_id``).
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


def read_xes(path: Path) -> Any:
    """pm4py's line-by-line XES reader: on the shared logs (BPIC 2012, BPIC 2013) the same
    frame as its default lxml reader, every value and type, for less than half its CPU
    (BPIC 2012: 5.9 against 12.9 CPU s)."""
    return pm4py.read_xes(str(path), variant="line_by_line")


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
    df = read_xes(shared_data / "eventlogs" / "bpic2013_closed_problems.xes.gz")
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
            "source_order": 0,  # no source order (as events stored before schema 3)
        },
        {
            "event_id": "a",
            "journey_id": "c3",
            "kind": "x.a",
            "touchpoint": "A",
            "occurred_at": t0.to_pydatetime(),
            "source_order": 0,
        },
    ]
    ingest_table(app.store, events_from_records(reversed_ids), app.journey)
    d = discovery.discover(
        app.events_table(),
        app.journey,
        Scope(attrs=(("journey_id", ("c3",)),)),
        activity="touchpoint",
    )
    # without a source order, the event id decides: A -> B
    assert [(r["source"], r["target"]) for r in d.dfg.to_pylist()] == [("A", "B")]


def test_ties_keep_the_source_order(app: App) -> None:
    """The same two events with their row order (ids reversed): B -> A, as pm4py says."""
    t0 = pd.Timestamp("2025-01-01T10:00:00Z")
    rows = [
        {"event_id": "z", "journey_id": "c3", "kind": "x.b", "touchpoint": "B"},
        {"event_id": "a", "journey_id": "c3", "kind": "x.a", "touchpoint": "A"},
    ]
    records = [{**r, "occurred_at": t0.to_pydatetime()} for r in rows]
    ingest_table(app.store, events_from_records(records), app.journey)
    for index in (None, JourneyIndex(app.store)):
        d = discovery.discover(app.events_table(), app.journey, activity="touchpoint", index=index)
        assert [(r["source"], r["target"]) for r in d.dfg.to_pylist()] == [("B", "A")]
        assert d.variants.column("variant").to_pylist() == [["B", "A"]]


# -- ties through the file readers: CSV rows and XES traces ----------------------------------


def tie_heavy_frame(cases: int = 60, seed: int = 3) -> Any:
    """A pm4py-style log where most events share their time stamp with another event of the
    same case (up to four at one instant), with activity names that need slugging."""
    import random

    rnd = random.Random(seed)
    names = ["Receive order", "Check stock", "Promise delivery", "Pick & pack", "Ship", "Bill"]
    resources = ["webshop", "warehouse", "carrier:postnl", "finance"]
    t0 = pd.Timestamp("2025-02-03T08:00:00Z")
    rows = []
    for c in range(cases):
        at = t0 + pd.Timedelta(minutes=rnd.randint(0, 600))
        for _ in range(rnd.randint(2, 7)):
            if rnd.random() < 0.4:
                at = at + pd.Timedelta(minutes=rnd.randint(1, 90))
            rows.append(
                {
                    CASE: f"case {c:03d}",
                    ACT: rnd.choice(names),
                    TIME: at,
                    RES: rnd.choice(resources),
                }
            )
    # Rows equal in every column would be one event to us (ids derive from the content).
    df = pd.DataFrame(rows).drop_duplicates(ignore_index=True)
    assert df.duplicated([CASE, TIME]).mean() > 0.4  # tie-heavy
    return df


def _slug_map(df: Any) -> dict[str, str]:
    from klantreis.ingest.raw import slug

    names = {str(n): str(slug(str(n))) for n in set(df[ACT])}
    assert len(set(names.values())) == len(names), "slugs must not merge activities"
    return names


def assert_ingested_same_as_pm4py(app: App, df: Any) -> None:
    """Discovery over events ingested from a file equals pm4py's over the frame (activities
    compared as our slugged kinds), with and without the journey index."""
    names = _slug_map(df)
    dfg, starts, ends = pm4py.discover_dfg(
        df, case_id_key=CASE, activity_key=ACT, timestamp_key=TIME
    )
    variants = pm4py.get_variants(df, case_id_key=CASE, activity_key=ACT, timestamp_key=TIME)
    expected_dfg = {(names[a], names[b]): n for (a, b), n in dfg.items()}
    expected_variants = {tuple(names[a] for a in k): v for k, v in variants.items()}
    t = app.events_table()
    for index in (None, JourneyIndex(app.store)):
        d = discovery.discover(t, app.journey, top=None, index=index)
        assert {(r["source"], r["target"]): r["count"] for r in d.dfg.to_pylist()} == expected_dfg
        got = {tuple(r["variant"]): r["count"] for r in d.variants.to_pylist()}
        assert got == expected_variants
        assert {r["activity"]: r["count"] for r in d.start.to_pylist()} == {
            names[a]: n for a, n in starts.items()
        }
        assert {r["activity"]: r["count"] for r in d.end.to_pylist()} == {
            names[a]: n for a, n in ends.items()
        }


def test_tie_heavy_csv_equals_pm4py(app: App, tmp_path: Path) -> None:
    df = tie_heavy_frame()
    path = tmp_path / "ties.csv"
    out = df.assign(**{TIME: df[TIME].map(lambda t: t.isoformat())})
    out.to_csv(path, index=False)
    summary = app.ingest_paths([path], progress=False)
    assert summary.files[0].events_stored == len(df)
    assert_ingested_same_as_pm4py(app, df)


def test_tie_heavy_xes_equals_pm4py(app: App, tmp_path: Path) -> None:
    df = tie_heavy_frame(seed=5)
    path = tmp_path / "ties.xes"
    pm4py.write_xes(df, str(path), case_id_key=CASE)
    read = pm4py.read_xes(str(path))
    read[TIME] = pd.to_datetime(read[TIME], utc=True)
    summary = app.ingest_paths([path], progress=False)
    assert summary.files[0].events_stored == len(df) == len(read)
    assert_ingested_same_as_pm4py(app, read)
    # the resource is the owner, so hand-overs work for XES logs; the label is kept
    owners = app.store.query("SELECT count(*) AS n FROM events WHERE owner IS NULL")
    assert owners.column("n")[0].as_py() == 0
    handovers = discovery.handovers(app.events_table(), app.journey)
    s = read.sort_values([CASE, TIME], kind="stable")
    nxt = s.groupby(CASE)[RES].shift(-1)
    assert sum(handovers.column("count").to_pylist()) == int((nxt.notna() & (nxt != s[RES])).sum())
    labels = app.store.query("SELECT DISTINCT attrs->>'label' AS label FROM events")
    assert set(labels.column("label").to_pylist()) == set(df[ACT])


@pytest.mark.data
@pytest.mark.parametrize(
    "name", ["receipt_wabo.csv", "bpic2013_closed_problems.xes.gz", "bpic2012.xes.gz"]
)
def test_shared_logs_through_ingest_equal_pm4py(app: App, shared_data: Path, name: str) -> None:
    """Every shared log, read by our file readers (the built-in pm4py CSV mapping, the XES
    reader), gives pm4py's graph, variants, start and end activities."""
    path = shared_data / "eventlogs" / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    if name.endswith(".csv"):
        df = pd.read_csv(path)
        df[TIME] = pd.to_datetime(df[TIME], utc=True, format="ISO8601")
    else:
        df = read_xes(path)
        df[TIME] = pd.to_datetime(df[TIME], utc=True)
    summary = app.ingest_paths([path], progress=False)
    assert summary.files[0].events_stored == len(df)
    assert_ingested_same_as_pm4py(app, df)
