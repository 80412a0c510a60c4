"""The request checks before the writer (``_records``): the whole-request fast path for
plain events and the per-record reasons it falls back to give the same answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from klantreis.web.envelope import ApiError
from klantreis.web.routes.ingest import _plain, _records


def _event(i: int) -> dict[str, Any]:
    return {"event_id": f"e{i}", "kind": "order.placed", "occurred_at": "2026-01-01T00:00:00Z"}


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_plain_events_pass_whole() -> None:
    body = json.dumps([_event(i) for i in range(100)]).encode()
    records = _records(body, 1000, 8)
    assert records == [_event(i) for i in range(100)]
    assert _plain(records)


@pytest.mark.parametrize(
    "records",
    [[_event(1), "x"], [_event(1), {**_event(2), "attrs": {"a": 1}}], [[_event(1)]]],
    ids=["not-an-object", "nested-value", "list-in-list"],
)
def test_anything_nested_or_not_an_object_is_not_plain(records: list[Any]) -> None:
    assert not _plain(records)


def test_the_fallback_names_each_bad_record() -> None:
    shallow = {**_event(1), "attrs": {"promised": {"by": "2026-01-02"}}}
    deep = {**_event(2), "attrs": _nested(10)}
    body = json.dumps([_event(0), "x", shallow, deep, 5]).encode()
    with pytest.raises(ApiError) as caught:
        _records(body, 1000, 8)
    assert caught.value.status == 422
    assert [d["index"] for d in caught.value.details] == [1, 3, 4]
    assert "nested deeper than 8 levels" in caught.value.details[1]["reason"]
    assert "JSON object" in caught.value.details[0]["reason"]


def test_shallow_nesting_is_accepted() -> None:
    shallow = {**_event(1), "attrs": {"promised": {"by": "2026-01-02"}}}
    assert _records(json.dumps([shallow, _event(2)]).encode(), 1000, 8)[0] == shallow
