"""StaleResults: after the store changed, the previous result is served at once (marked stale,
with its as-of time) while one background refresh at a time recomputes it; once refreshed,
the result equals the portable reference computed directly on the store."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.journeys.logs import NOW, T0, ev, load, small_log

from klantreis.analytics import promises
from klantreis.app import App
from klantreis.caches import Caches, StaleResults
from klantreis.settings import Settings


class Clock:
    """A store version the test moves by hand."""

    def __init__(self) -> None:
        self.v = 0

    def __call__(self) -> int:
        return self.v


def test_first_view_computes_in_the_caller_then_hits() -> None:
    clock = Clock()
    cache = StaleResults(Caches(clock))
    calls: list[int] = []
    first = cache.get("k", lambda: calls.append(1) or "a")
    assert (first.value, first.stale, first.version) == ("a", False, 0)
    assert cache.get("k", lambda: "never").value == "a"
    assert calls == [1]


def test_after_a_change_the_old_result_is_served_stale_then_refreshed() -> None:
    clock = Clock()
    cache = StaleResults(Caches(clock))
    old = cache.get("k", lambda: "old")
    clock.v = 1
    gate = threading.Event()

    def slow() -> str:
        gate.wait(10)
        return "new"

    served = cache.get("k", slow)
    assert (served.value, served.stale, served.as_of) == ("old", True, old.as_of)
    assert cache.get("k", slow).value == "old"  # still refreshing: still the old one
    gate.set()
    assert cache.wait(10)
    fresh = cache.get("k", lambda: "never")
    assert (fresh.value, fresh.stale, fresh.version) == ("new", False, 1)
    assert fresh.as_of >= old.as_of and cache.refreshes == 1


def test_never_more_than_one_refresh_at_a_time() -> None:
    clock = Clock()
    cache = StaleResults(Caches(clock))
    for key in "abc":
        cache.get(key, lambda key=key: key)
    clock.v = 1
    gate, running, peak = threading.Event(), [0], [0]
    lock = threading.Lock()

    def build() -> str:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        gate.wait(10)
        with lock:
            running[0] -= 1
        return "new"

    served = [cache.get(key, build) for key in "abc" * 3]
    assert all(s.stale for s in served)
    gate.set()
    assert cache.wait(10)
    assert peak[0] == 1 and cache.refreshes == 1  # b and c refresh on a later request
    for key in "abc":
        cache.get(key, build)
        assert cache.wait(10)
    assert [cache.get(k, build).value for k in "abc"] == ["new"] * 3
    assert peak[0] == 1


def test_a_failing_refresh_keeps_the_old_result() -> None:
    clock = Clock()
    cache = StaleResults(Caches(clock))
    cache.get("k", lambda: "old")
    clock.v = 1

    def broken() -> str:
        raise RuntimeError("boom")

    assert cache.get("k", broken).value == "old"
    assert cache.wait(10)
    assert cache.get("k", lambda: "new").stale  # still stale: a new refresh started
    assert cache.wait(10)
    assert cache.get("k", lambda: "never").value == "new"


def _rates(app: App) -> list[dict[str, Any]]:
    """The portable reference: promise rates computed directly on the store."""
    rows = promises.promise_rates(app.events_table(), app.journey, "owner", now=NOW).to_pylist()
    return [{k: (None if v != v else v) for k, v in r.items()} for r in rows]


_batch = st.lists(
    st.tuples(
        st.integers(0, 5),  # journey
        st.sampled_from(["order.placed", "delivery.promised", "delivery.completed"]),
        st.integers(0, 200),  # hours after T0
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(_batch, min_size=1, max_size=3))
def test_after_random_appends_the_refreshed_result_equals_the_reference(
    batches: list[list[tuple[int, str, int]]],
) -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        load(app, small_log())
        cache = StaleResults(app.caches)
        assert cache.get("rates", lambda: _rates(app)).value == _rates(app)
        for n, batch in enumerate(batches):
            before = cache.get("rates", lambda: _rates(app)).value
            records = [
                ev(
                    f"x{n}-{i}",
                    f"r{j}",
                    kind,
                    T0 + timedelta(hours=h),
                    owner="carrier:snelpost",
                    attrs={"deadline": (T0 + timedelta(hours=h + 24)).isoformat()},
                )
                for i, (j, kind, h) in enumerate(batch)
            ]
            load(app, records)
            served = cache.get("rates", lambda: _rates(app))
            assert served.stale and served.value == before  # the previous result, at once
            assert cache.wait(60)
            fresh = cache.get("rates", lambda: _rates(app))
            assert not fresh.stale
            assert fresh.value == _rates(app)
