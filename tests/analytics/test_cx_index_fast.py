"""The fast path of the CX index (analytics.index_cache, analytics.index_facts) gives the
same results as the portable path, also after ingests."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from tests.analytics.test_cx_index import (
    DAYS,
    FLAT,
    START,
    Events,
    at,
    drop_history,
    last_day,
)

from klantreis.analytics.cx_index import _jsonable, cx_index, index_movers
from klantreis.analytics.movers import collect_facts, windows
from klantreis.app import App


def same(a: Any, b: Any, path: str = "") -> None:
    """Deep equality, floats to 1e-9 (sums may be added in another order)."""
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (path, a, b)
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def mixed_history(app: App) -> None:
    """drop_history plus answers without owner/channel, CES and stars, and a late answer."""
    drop_history(app, late_now=7, late_before=2)
    ev = Events(prefix="mix")
    for d in range(0, DAYS, 3):
        ev.answers(d, "betalen", [1, 2, 6], metric="ces", channel="app")
        ev.answers(d, "reviews", [5, 2], metric="stars", hour=23)  # next day in Amsterdam
        ev.add(
            occurred_at=at(d, 9),
            kind="survey.response",
            journey_id=f"anon{d}",
            metric="nps",
            score=4.0,
        )  # no touchpoint, owner or channel
    ev.ingest(app)


FAST_CASES: list[dict[str, Any]] = [
    {},
    {"channel": ["email"]},
    {"channel": "web"},
    {"owner": ["carrier:vlotbezorgd"]},
    {"touchpoint": ["bezorging", "betalen"], "channel": ["app", "email"]},
    {"channel": ["unknown"]},
    {"channel": ["whatsapp"]},
    {"since": START + timedelta(days=20), "until": START + timedelta(days=30)},
]


@pytest.mark.parametrize("filters", FAST_CASES)
def test_fast_path_equals_the_portable_path(app: App, filters: dict[str, Any]) -> None:
    mixed_history(app)
    events = app.events_table()
    for kw in ({"days": 10, "base": (START, START + timedelta(days=6))}, {"days": 3650}):
        fast = cx_index(
            events, app.journey, filters=filters, **kw, cache=app.index_cache()
        ).to_dict()
        slow = cx_index(events, app.journey, filters=filters, fast=False, **kw).to_dict()
        same(fast, slow)
    fast_m = index_movers(events, app.journey, filters=filters, window=5, cache=app.index_cache())
    slow_m = index_movers(events, app.journey, filters=filters, window=5, fast=False)
    same(*(None if m is None else _jsonable(m) for m in (fast_m, slow_m)))


def test_cache_is_refreshed_incrementally_after_ingest(file_app: App) -> None:
    from klantreis.analytics import index_cache

    mixed_history(file_app)
    events = file_app.events_table()
    first = cx_index(events, file_app.journey, cache=file_app.index_cache())
    assert (
        cx_index(file_app.events_table(), file_app.journey, cache=file_app.index_cache()) is first
    )  # cached
    hit = index_cache.store_cache(events, file_app.index_cache())
    assert hit is not None
    cells_before = hit[1].cells[file_app.journey.timezone]
    ev = Events(prefix="later")
    ev.answers(DAYS, "bezorging", [0, 0, 1], owner="carrier:vlotbezorgd")  # a new, bad day
    ev.answers(3, "factuur", [10, 10], channel="web")  # late-arriving old answers
    for i in range(3):
        ev.parcel(DAYS - 1 - i, f"late-after-{i}", "carrier:snelpost", late=True)
    ev.add(
        occurred_at=at(DAYS, 8),
        kind="delivery.completed",
        journey_id="late-now-0",
        owner="carrier:snelpost",
    )  # a second fulfilment: the first one still counts
    ev.add(occurred_at=at(DAYS - 2), kind="delivery.failed", owner="carrier:snelpost")
    ev.ingest(file_app)
    after = cx_index(file_app.events_table(), file_app.journey, cache=file_app.index_cache())
    assert after is not first and after.until == last_day() + timedelta(days=1)
    cells_after = hit[1].cells[file_app.journey.timezone]
    assert int(cells_after["n"].sum()) == int(cells_before["n"].sum()) + 5  # merged, not lost
    same(after.to_dict(), cx_index(events, file_app.journey, fast=False).to_dict())


def test_fast_driver_counts_equal_collect_facts(file_app: App) -> None:
    from klantreis.analytics import index_cache
    from klantreis.analytics.index_facts import FactState

    mixed_history(file_app)
    ev = Events(prefix="extra")
    ev.add(
        occurred_at=at(30, 8),
        kind="delivery.promised",
        journey_id="never",  # not delivered
        owner="carrier:snelpost",
        attrs={"deadline": at(31, 17).isoformat()},
    )
    ev.add(
        occurred_at=at(29, 8),
        kind="delivery.promised",
        journey_id="late-now-0",  # re-promise
        owner="carrier:vlotbezorgd",
        attrs={"deadline": at(40, 17).isoformat()},
    )
    ev.add(
        occurred_at=at(30, 9),
        kind="delivery.promised",
        journey_id="no-owner",
        attrs={"deadline": "not a date"},
    )  # deadline = its own time; owner unknown
    ev.add(occurred_at=at(31), kind="delivery.completed", journey_id="no-owner")
    ev.add(occurred_at=at(33), kind="contact.inbound", journey_id="c1", channel="phone")
    ev.ingest(file_app)
    events = file_app.events_table()
    hit = index_cache.store_cache(events, file_app.index_cache())
    assert hit is not None
    prev, cur = windows(last_day(), 7)
    got = {}
    for owners in (None, ["carrier:vlotbezorgd"], ["carrier:snelpost", "finance"]):
        fast = FactState(file_app.journey, prev, cur, owners).load(hit[0], "events", "TRUE", {})
        got[bool(owners)] = fast.facts()
        assert got[bool(owners)] == collect_facts(events, file_app.journey, prev, cur, owners)
    assert got[False].count("op_tijd_bezorgd") > got[True].count("op_tijd_bezorgd") > 0
    assert got[False].count("contact.inbound") == 1


def test_driver_counts_are_refreshed_incrementally(file_app: App) -> None:
    from klantreis.analytics import index_cache

    drop_history(file_app, late_now=4, late_before=2)
    events = file_app.events_table()
    first = cx_index(events, file_app.journey, cache=file_app.index_cache())
    hit = index_cache.store_cache(events, file_app.index_cache())
    assert hit is not None and len(hit[1].fact_states) == 1
    state = next(iter(hit[1].fact_states.values()))
    ev = Events(prefix="more")  # same windows: no answers on a new day
    ev.add(
        occurred_at=at(DAYS - 1, 8),
        kind="delivery.completed",
        journey_id="late-now-0",
        owner="carrier:snelpost",
    )  # a later second fulfilment: the first one counts
    ev.add(
        occurred_at=at(29, 10),
        kind="delivery.completed",
        journey_id="vlot-ontime-0",
        owner="carrier:snelpost",
    )  # an earlier fulfilment arriving late: now it counts
    for i in range(3):
        ev.parcel(DAYS - 2, f"late-more-{i}", "carrier:snelpost", late=True)
    ev.add(occurred_at=at(DAYS - 3), kind="payment.failed", journey_id="p1", owner="finance")
    ev.ingest(file_app)
    after = cx_index(events, file_app.journey, cache=file_app.index_cache())
    assert next(iter(hit[1].fact_states.values())) is state  # merged, not reloaded
    assert after.to_dict()["movers"] != first.to_dict()["movers"]
    same(after.to_dict(), cx_index(events, file_app.journey, fast=False).to_dict())
    assert state.facts() == collect_facts(
        events, file_app.journey, state.previous, state.current, state.owners
    )
    # bounded: per promise a count per (owner, window), not a row per journey
    owners = {o for c in state.broken.values() for o, _ in c}
    journeys = file_app.store.con.execute(
        "SELECT count(DISTINCT journey_id) FROM events WHERE kind = 'delivery.promised'"
    ).fetchall()[0][0]
    assert 0 < sum(map(len, state.broken.values())) <= 2 * len(owners) < journeys


def test_a_state_whose_windows_moved_on_is_counted_only_when_asked_for(file_app: App) -> None:
    """A batch on a new day moves the default movers' windows: the old windows' driver
    counts are not brought up to date by the refresh (nobody may ask for them again), only
    when asked for, then equal to the reference; two batches in between count as one."""
    from klantreis.analytics import index_cache

    drop_history(file_app, late_now=4, late_before=2)
    events, cache = file_app.events_table(), file_app.index_cache()
    before = cx_index(events, file_app.journey, cache=cache)
    hit = index_cache.store_cache(events, cache)
    assert hit is not None and len(hit[1].fact_states) == 1
    ((old_key, old_state),) = hit[1].fact_states.items()
    counted = {p: dict(c) for p, c in old_state.broken.items()}
    for batch in range(2):  # a new day (answers and late parcels), then more of it
        ev = Events(prefix=f"newday{batch}")
        ev.answers(DAYS + batch, "bezorging", [9, 3, 2], owner="carrier:vlotbezorgd")
        for i in range(3):
            ev.parcel(DAYS - 2 + batch, f"late-new-{batch}-{i}", "carrier:vlotbezorgd", late=True)
        ev.ingest(file_app)
        after = cx_index(events, file_app.journey, cache=cache)
    assert after.until != before.until and old_key in hit[1].fact_states
    assert {p: dict(c) for p, c in old_state.broken.items()} == counted  # not counted yet
    same(after.to_dict(), cx_index(events, file_app.journey, fast=False).to_dict())
    assert before.until is not None
    old = cx_index(events, file_app.journey, until=before.until, cache=cache)
    assert old_key not in hit[1].fact_behind and old.movers is not None
    same(
        old.to_dict(), cx_index(events, file_app.journey, until=before.until, fast=False).to_dict()
    )
    assert old_state.facts() == collect_facts(
        events, file_app.journey, old_state.previous, old_state.current, old_state.owners
    )
    assert {p: dict(c) for p, c in old_state.broken.items()} != counted


def test_cache_rebuilds_when_counts_do_not_add_up(file_app: App) -> None:
    from klantreis.analytics import index_cache

    mixed_history(file_app)
    events = file_app.events_table()
    cx_index(events, file_app.journey, cache=file_app.index_cache())
    # Not something klantreis does (the log is append-only), but a cache must survive it.
    file_app.store.con.execute("DELETE FROM event_log WHERE touchpoint = 'factuur'").fetchall()
    ev = Events(prefix="again")
    ev.answers(5, "retour", [10, 3])
    ev.ingest(file_app)
    hit = index_cache.store_cache(events, file_app.index_cache())
    assert hit is not None
    res = cx_index(events, file_app.journey, cache=file_app.index_cache())
    assert {c.key for c in res.components["touchpoint"]} >= {"retour"}
    assert "factuur" not in {c.key for c in res.components["touchpoint"]}
    same(res.to_dict(), cx_index(events, file_app.journey, fast=False).to_dict())


def test_other_filters_and_tables_take_the_portable_path(file_app: App) -> None:
    from klantreis.analytics import index_cache

    events = file_app.events_table()
    assert not index_cache.cells_apply({"segment": ["nieuw"]})
    assert index_cache.cells_apply({"channel": ["web"], "owner": ["warehouse"]})
    assert (
        index_cache.store_cache(events.filter(events.kind == "x"), file_app.index_cache()) is None
    )
    assert index_cache.store_cache(events, file_app.index_cache()) is not None
    ev = Events()
    for d in range(DAYS):
        ev.answers(d, "retour", FLAT, segment="zakelijk")
        ev.answers(d, "retour", [10] * 5 if d >= 28 else FLAT, segment="particulier")
    ev.ingest(file_app)
    zak = cx_index(
        events, file_app.journey, filters={"segment": ["zakelijk"]}, cache=file_app.index_cache()
    )
    assert (
        cx_index(
            events,
            file_app.journey,
            filters={"segment": ["zakelijk"]},
            cache=file_app.index_cache(),
        )
        is zak
    )
    slow = cx_index(events, file_app.journey, filters={"segment": ["zakelijk"]}, fast=False)
    same(zak.to_dict(), slow.to_dict())
    assert zak.n_answers == 5 * DAYS


def test_the_cache_is_the_apps_and_checked_by_the_store_version(file_app: App) -> None:
    """One cache per App (none per module), and a warm call checks only the store's version
    (no count/watermark query of its own)."""
    from klantreis.analytics import index_cache
    from klantreis.settings import Settings

    assert not hasattr(index_cache, "_CACHES")
    mixed_history(file_app)
    cache = file_app.index_cache()
    assert file_app.index_cache() is cache and cache.version is not None
    first = file_app.cx_index()
    queries: list[int] = []
    own_query = cache._count_and_watermark
    cache._count_and_watermark = lambda con: queries.append(1) or own_query(con)  # type: ignore[method-assign]
    assert file_app.cx_index() is first and not queries  # warm: the version was enough
    ev = Events(prefix="moved")
    ev.answers(DAYS, "retour", [10, 10])
    ev.ingest(file_app)
    after = file_app.cx_index()
    assert after is not first and queries == [1]  # the version moved: one refresh
    with App(Settings.load(env={}, db_path=file_app.settings.db_path)) as other:
        assert other.index_cache() is not cache  # two Apps never share a cache
        same(other.cx_index().to_dict(), after.to_dict())
