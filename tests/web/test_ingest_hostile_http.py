"""Hostile requests to ``POST /api/v1/events``: each gets a clear 4xx with a reason per row,
and fails only itself (the requests batched with it are stored)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from tests.web.test_ingest_http_server import Conn, server  # noqa: F401 (the fixture)

from klantreis.app import App
from klantreis.ingest.writer import EventWriter, Rejected

POISON_TIME = "0001-01-01T00:30:00+01:00"


def _event(i: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": i, "occurred_at": "2026-03-01T10:00:00Z", "kind": "web.visit", **extra}


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_poisoned_request_in_one_writer_batch_fails_alone(app: App) -> None:
    """Thirty requests and one with a time stamp Python's datetime cannot hold, handed to
    the writer in one turn (so in one batch): only the poisoned one is refused."""
    writer = EventWriter(app.store, app.journey, max_delay_ms=20)
    writer.start()

    async def run() -> list[Any]:
        futures = [writer.submit([_event(f"g{i}")]) for i in range(30)]
        futures.insert(15, writer.submit([_event("poison", occurred_at=POISON_TIME)]))
        return list(await asyncio.gather(*futures, return_exceptions=True))

    try:
        results = asyncio.run(run())
    finally:
        writer.stop()
    poisoned = results.pop(15)
    assert isinstance(poisoned, Rejected)
    assert "occurred_at" in poisoned.details[0]["reason"]
    assert [r.stored for r in results] == [1] * 30
    assert app.store.count() == 30


def test_thirty_good_requests_and_one_poisoned_over_real_server(
    server: tuple[int, str, App],  # noqa: F811
) -> None:
    port, secret, app = server
    auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    before = app.store.count()
    bodies = [json.dumps(_event(f"c{i}")).encode() for i in range(30)]
    bodies.append(json.dumps(_event("poison", occurred_at=POISON_TIME)).encode())
    conns = [Conn(port) for _ in bodies]
    answers: list[Any] = [None] * len(bodies)
    start = threading.Barrier(len(bodies))

    def send(i: int) -> None:
        start.wait()
        answers[i] = conns[i].post(bodies[i], auth)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        for c in conns:
            c.close()
    *good, (status, _, body) = answers
    assert status == 422 and body["error"]["code"] == "invalid_events"
    assert "before 1990" in body["error"]["details"][0]["reason"]
    assert [s for s, _, _ in good] == [200] * 30
    assert app.store.count() == before + 30, "all thirty good requests are stored"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (_nested(1_100).encode(), 422, "nested"),
        (_nested(30_000).encode(), 422, "nested"),
        (json.dumps(_event("d", attrs={"a": json.loads(_nested(80))})).encode(), 422, "nested"),
        (b'[{"event_id": "n", "score": ' + b"9" * 5_000 + b"}]", 422, "JSON"),
        (b'{"event_id": "s", "occurred_at": "2026-03-01T10:00:00Z", "kind": "\\ud800"}', 422, ""),
        (json.dumps(_event("big", score=10**30, metric="nps")).encode(), 422, ""),
    ],
    ids=["depth-1100", "depth-30000", "deep-attrs", "5000-digits", "surrogate", "huge-int"],
)
def test_hostile_bodies_get_a_clear_4xx(
    server: tuple[int, str, App],  # noqa: F811
    body: bytes,
    status: int,
    words: str,
) -> None:
    port, secret, _ = server
    auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    conn = Conn(port)
    try:
        got, _, answer = conn.post(body, auth)
        assert got == status, answer
        assert answer["ok"] is False and words in json.dumps(answer["error"])
        got, _, answer = conn.post(json.dumps(_event("after")).encode(), auth)
        assert got == 200, "the connection and the writer go on"
    finally:
        conn.close()
