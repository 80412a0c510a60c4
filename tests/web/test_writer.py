"""The single writer: concurrent submissions share transactions; results per request."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC
from typing import Any

import pytest

from klantreis.app import App
from klantreis.ingest.writer import EventWriter, Rejected


def _table(ids: list[str]) -> list[dict[str, Any]]:
    return [
        {"event_id": i, "occurred_at": "2026-03-01T10:00:00Z", "kind": "web.visit"} for i in ids
    ]


def test_concurrent_requests_are_batched(app: App) -> None:
    writer = EventWriter(app.store, app.journey, max_delay_ms=50)
    writer.start()

    async def run() -> list[Any]:
        futures = [writer.submit(_table([f"e{i}", f"e{i + 1}"])) for i in range(0, 40, 2)]
        return list(await asyncio.gather(*futures))

    try:
        results = asyncio.run(run())
    finally:
        writer.stop()
    assert [r.stored for r in results] == [2] * 20
    assert app.store.count() == 40
    assert 1 <= writer.batches < 20, "twenty requests, fewer transactions"


def test_duplicates_are_counted_per_request(app: App) -> None:
    writer = EventWriter(app.store, app.journey, max_delay_ms=20)
    writer.start()

    async def run() -> list[Any]:
        first = await writer.submit(_table(["a", "b"]))
        both = await asyncio.gather(
            writer.submit(_table(["b", "c"])), writer.submit(_table(["c", "d", "d"]))
        )
        return [first, *both]

    try:
        first, second, third = asyncio.run(run())
    finally:
        writer.stop()
    assert (first.stored, first.duplicates) == (2, 0)
    assert (second.stored, second.duplicates) == (1, 1)
    assert third.received == 3 and second.stored + third.stored == 2
    assert app.store.count() == 4


def test_one_bad_request_does_not_sink_its_batch(app: App) -> None:
    writer = EventWriter(app.store, app.journey, max_delay_ms=50)
    writer.start()
    bad = [
        {"event_id": "b1", "occurred_at": "2026-03-01T10:00:00Z", "kind": "Not Valid"},
        {"event_id": "b2", "occurred_at": "2026-03-01T10:00:00Z", "kind": "web.visit"},
    ]

    async def run() -> list[Any]:
        return list(
            await asyncio.gather(
                writer.submit(_table(["g1"])),
                writer.submit(bad),
                writer.submit(_table(["g2"])),
                return_exceptions=True,
            )
        )

    try:
        good1, rejected, good2 = asyncio.run(run())
    finally:
        writer.stop()
    assert isinstance(rejected, Rejected)
    assert rejected.details == [{"index": 0, "reason": rejected.details[0]["reason"]}]
    assert "kind" in rejected.details[0]["reason"]
    assert good1.stored == 1 and good2.stored == 1
    ids = {r["event_id"] for r in app.store.query("SELECT event_id FROM events").to_pylist()}
    assert ids == {"g1", "g2"}, "nothing of the rejected request is stored"


def test_a_failed_write_reaches_every_waiting_request(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = EventWriter(app.store, app.journey, max_delay_ms=20)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(app.store, "append", broken)
    writer.start()

    async def run() -> list[Any]:
        return list(
            await asyncio.gather(
                writer.submit(_table(["x"])), writer.submit(_table(["y"])), return_exceptions=True
            )
        )

    try:
        results = asyncio.run(run())
    finally:
        writer.stop()
    assert all(isinstance(r, OSError) for r in results)
    assert app.store.count() == 0


def test_submit_needs_a_running_writer(app: App) -> None:
    writer = EventWriter(app.store, app.journey)

    async def run() -> None:
        writer.submit(_table(["z"]))

    with pytest.raises(RuntimeError):
        asyncio.run(run())


def test_odd_field_types_take_the_slow_path_with_the_same_meaning(app: App) -> None:
    """A batch mixing naive times, numbers as text and ids as numbers is stored as if each
    event came alone (the vectorised fast path falls back per column)."""
    writer = EventWriter(app.store, app.journey, max_delay_ms=20)
    writer.start()
    odd = [
        {"event_id": "n1", "occurred_at": "2026-03-01T10:00:00", "kind": "web.visit"},
        {
            "event_id": "n2",
            "occurred_at": "2026-03-01T12:00:00+02:00",
            "kind": "survey.response",
            "metric": "nps",
            "score": "9",
            "customer_id": 42,
            "attrs": {"b": 1, "a": [2]},
        },
    ]

    async def run() -> list[Any]:
        return list(await asyncio.gather(writer.submit(odd), writer.submit(_table(["n3"]))))

    try:
        first, second = asyncio.run(run())
    finally:
        writer.stop()
    assert (first.stored, second.stored) == (2, 1)
    rows = app.store.query(
        "SELECT event_id, occurred_at, score, customer_id, attrs FROM events ORDER BY event_id"
    ).to_pylist()
    hours = [r["occurred_at"].astimezone(UTC).hour for r in rows]
    assert hours == [10, 10, 10], "naive taken as UTC; +02:00 converted"
    assert rows[1]["score"] == 9.0 and rows[1]["customer_id"] == "42"
    assert json.loads(rows[1]["attrs"]) == {"a": [2], "b": 1}


def test_many_concurrent_requests_are_answered_in_few_batches(app: App) -> None:
    writer = EventWriter(app.store, app.journey, max_delay_ms=50)
    writer.start()

    async def run() -> list[Any]:
        futures = [writer.submit(_table([f"m{i}"])) for i in range(300)]
        return list(await asyncio.gather(*futures))

    try:
        results = asyncio.run(run())
    finally:
        writer.stop()
    assert sum(r.stored for r in results) == 300 and app.store.count() == 300
    assert writer.batches <= 10, "one wake-up per gap, not one transaction per request"


def test_big_requests_built_on_submit_keep_their_verdicts_apart(app: App) -> None:
    writer = EventWriter(app.store, app.journey, max_delay_ms=50)
    writer.start()
    big = _table([f"big{i}" for i in range(100)])
    big_bad = _table([f"bad{i}" for i in range(100)])
    big_bad[70]["kind"] = "Not Valid"

    async def run() -> list[Any]:
        return list(
            await asyncio.gather(
                writer.submit(_table(["s1"])),
                writer.submit(big),
                writer.submit(big_bad),
                writer.submit(_table(["s2", "s3"])),
                return_exceptions=True,
            )
        )

    try:
        small, whole, rejected, pair = asyncio.run(run())
    finally:
        writer.stop()
    assert isinstance(rejected, Rejected) and [d["index"] for d in rejected.details] == [70]
    assert (small.stored, whole.stored, pair.stored) == (1, 100, 2)
    assert app.store.count() == 103


def test_requests_of_one_turn_are_split_at_max_batch_rows(app: App) -> None:
    writer = EventWriter(app.store, app.journey, max_delay_ms=20, max_batch_rows=5)
    writer.start()

    async def run() -> list[Any]:
        futures = [writer.submit(_table([f"r{i}a", f"r{i}b"])) for i in range(6)]
        return list(await asyncio.gather(*futures))

    try:
        results = asyncio.run(run())
    finally:
        writer.stop()
    assert [r.stored for r in results] == [2] * 6 and app.store.count() == 12
    assert writer.batches >= 3, "at most two requests (four rows) per transaction"


def test_stop_still_writes_what_was_submitted(app: App) -> None:
    writer = EventWriter(app.store, app.journey, max_delay_ms=20)
    writer.start()

    async def run() -> Any:
        future = writer.submit(_table(["last"]))
        writer.stop()  # before the event loop handed the request to the writer
        return await future

    assert asyncio.run(run()).stored == 1
    assert app.store.count() == 1


def test_big_requests_get_the_reasons_validate_events_gives(app: App) -> None:
    """Requests built on submit are checked in SQL by the writer: the same rows are rejected
    for the same reasons as by the Arrow rules, request by request."""
    from klantreis.model.events import conform, events_from_records
    from klantreis.model.validation import validate_events

    requests = [_table([f"q{j}-{i}" for i in range(80)]) for j in range(4)]
    requests[0][3]["kind"] = "Not Valid"
    requests[0][50]["score"], requests[0][50]["metric"] = 11, "nps"
    requests[1][0]["occurred_at"] = "1970-01-01T00:00:00Z"
    requests[1][79]["attrs"] = "[1, 2]"
    requests[2][7]["kind"] = "survey.response"  # valid, though not one of the journey's kinds
    requests[3][10]["metric"] = "nps"  # a metric without a score
    requests[3][11]["channel"] = "x" * 1001

    async def run() -> list[Any]:
        return list(
            await asyncio.gather(*(writer.submit(r) for r in requests), return_exceptions=True)
        )

    writer = EventWriter(app.store, app.journey, max_delay_ms=50)
    writer.start()
    try:
        results = asyncio.run(run())
    finally:
        writer.stop()
    for request, result in zip(requests, results, strict=True):
        expected = validate_events(conform(events_from_records(request)))
        if not expected.rejected_index:
            assert not isinstance(result, Exception) and result.stored == len(request)
            continue
        assert isinstance(result, Rejected)
        got = [(d["index"], d["reason"]) for d in result.details]
        assert got == list(zip(expected.rejected_index, expected.rejected_reason, strict=True))
    assert app.store.count() == 80, "only the valid request is stored"


def test_repeated_ids_across_big_requests_are_stored_once(app: App) -> None:
    first = _table([f"d{i}" for i in range(100)])
    second = _table([f"d{i}" for i in range(50, 150)])

    async def run() -> list[Any]:
        before = await writer.submit(_table([f"d{i}" for i in range(10)]))
        return [before, *await asyncio.gather(writer.submit(first), writer.submit(second))]

    writer = EventWriter(app.store, app.journey, max_delay_ms=50)
    writer.start()
    try:
        before, a, b = asyncio.run(run())
    finally:
        writer.stop()
    assert before.stored == 10
    assert a.stored + b.stored == 140 and a.duplicates + b.duplicates == 60
    assert app.store.count() == 150


def test_a_failed_check_reaches_every_request_of_the_batch(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = EventWriter(app.store, app.journey, max_delay_ms=20)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("check failed")

    monkeypatch.setattr(writer, "_check", broken)
    writer.start()

    async def run() -> list[Any]:
        big = _table([f"b{i}" for i in range(100)])
        return list(
            await asyncio.gather(
                writer.submit(big), writer.submit(_table(["s"])), return_exceptions=True
            )
        )

    try:
        results = asyncio.run(run())
    finally:
        writer.stop()
    assert all(isinstance(r, RuntimeError) for r in results)
    assert app.store.count() == 0


def test_records_without_an_id_get_one_from_their_content(app: App) -> None:
    writer = EventWriter(app.store, app.journey, max_delay_ms=0)
    writer.start()

    def records() -> list[dict[str, Any]]:
        return [
            {"occurred_at": "2026-03-01T10:00:00Z", "kind": "web.visit", "customer_id": c}
            for c in ("A", "B")
        ]

    async def run() -> list[Any]:
        return [await writer.submit(records()), await writer.submit(records())]

    try:
        first, again = asyncio.run(run())
    finally:
        writer.stop()
    assert (first.stored, again.stored, again.duplicates) == (2, 0, 2)
    ids = app.store.query("SELECT event_id FROM events").column("event_id").to_pylist()
    assert len(set(ids)) == 2 and all(len(i) == 32 for i in ids)
