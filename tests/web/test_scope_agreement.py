"""The index page and the scores page mean the same answers by the same filters: one window
for ``?period=`` and one meaning of ``?segment=`` (see ``klantreis.analytics.scope``)."""

from __future__ import annotations

from typing import Any

import pytest
from test_api import assert_ok

from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records

SCORE_METRICS = ("nps", "ces", "csat")


def _journey_segment_answers(app: App) -> None:
    """Answers without their own segment whose journey's start event carries one."""
    rows: list[dict[str, Any]] = []
    for i in range(12):
        jid = f"J-seg-{i}"
        rows.append(
            dict(
                event_id=f"op-{i}",
                occurred_at=f"2026-03-{10 + i:02d}T09:00:00+00:00",
                kind=app.journey.journey_start,
                journey_id=jid,
                customer_id=f"K{i}",
                attrs={"segment": "zakelijk"},
            )
        )
        rows.append(
            dict(
                event_id=f"ans-{i}",
                occurred_at=f"2026-03-{10 + i:02d}T15:00:00+00:00",
                kind="survey.response",
                touchpoint="bezorging",
                owner="carrier:snelpost",
                channel="email",
                journey_id=jid,
                customer_id=f"K{i}",
                metric="nps",
                score=9,
            )
        )
    ingest_table(app.store, events_from_records(rows, source="test"), app.journey, source="test")


@pytest.mark.parametrize(
    "query",
    ["period=30d&segment=zakelijk", "period=7d&segment=particulier", "period=90d&channel=web"],
)
@pytest.mark.parametrize("journey_segments", [False, True])
def test_index_and_scores_select_the_same_answers(
    web_app: App, as_user: Any, query: str, journey_segments: bool
) -> None:
    if journey_segments:
        _journey_segment_answers(web_app)
    c = as_user("analyst")
    scores = assert_ok(c.get(f"/api/v1/scores?{query}"))["data"]
    index = assert_ok(c.get(f"/api/v1/index?{query}"))["data"]
    per_metric = {m: (scores["overall"][m] or {}).get("n", 0) for m in SCORE_METRICS}
    assert index["n_answers"] == sum(per_metric.values()) > 0
    assert index["until"] == scores["window"]["last_day"]
    first = scores["window"]["first_day"]
    assert index["since"] >= first  # the index starts at its first answer day at the earliest
