"""Survey answers linked only by order number take their journey's owner and touchpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
D = timedelta


def _ev(eid: str, jid: str | None, kind: str, at: datetime, **kw: Any) -> dict[str, Any]:
    return {"event_id": eid, "journey_id": jid, "kind": kind, "occurred_at": at, **kw}


def _log() -> list[dict[str, Any]]:
    recs = []
    for i, (carrier, stars) in enumerate(
        [("carrier:a", 5), ("carrier:a", 4), ("carrier:b", 2), ("carrier:b", 1), ("carrier:b", 3)]
    ):
        j = f"o{i}"
        recs += [
            _ev(f"{j}-1", j, "order.placed", T0, owner="webshop"),
            _ev(f"{j}-2", j, "delivery.completed", T0 + D(days=2), owner=carrier),
            # after the review: must not be the answer's context
            _ev(f"{j}-3", j, "invoice.sent", T0 + D(days=9), owner="finance"),
            # the review knows only its order
            _ev(f"{j}-r", j, "survey.response", T0 + D(days=4), metric="stars", score=stars),
        ]
    recs.append(_ev("x-r", None, "survey.response", T0, metric="stars", score=4.0))
    recs.append(
        _ev(
            "o0-r2",
            "o0",
            "survey.response",
            T0 + D(days=4),
            metric="stars",
            score=1.0,
            owner="klantenservice",
            touchpoint="klantenservice",
        )
    )
    return recs


def test_scores_by_owner_reach_answers_linked_by_order(app: App) -> None:
    table = events_from_records(_log(), source="test")
    assert ingest_table(app.store, table, app.journey, "test").quarantined == 0
    plain = app.scores("stars", by=["owner"], min_answers=1)
    assert plain["owner"].isna().sum() == 1 and plain["n"].sum() == 7  # without: no owner
    df = app.scores("stars", by=["owner"], min_answers=1, journey_context=True)
    got = {
        (r["owner"] if isinstance(r["owner"], str) else None): (r["n"], r["value"])
        for r in df.to_dict("records")
    }
    assert got == {
        "carrier:a": (2, 4.5),
        "carrier:b": (3, 2.0),
        "klantenservice": (1, 1.0),  # given owners are kept
        None: (1, 4.0),  # no journey: no context
    }
    by_tp = app.scores("stars", by=["touchpoint"], min_answers=1, journey_context=True)
    tps = {r["touchpoint"] for r in by_tp.to_dict("records") if isinstance(r["touchpoint"], str)}
    assert "bezorging" in tps  # delivery.completed's touchpoint from the journey configuration
