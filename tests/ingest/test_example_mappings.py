"""The shipped example mappings hold on the real exports' quirks (issue 11, defect 8)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from klantreis.app import App

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_a_review_id_shared_by_two_orders_gives_two_answers(
    app: App, write: Callable[..., Path]
) -> None:
    """In the real review export one review id can belong to several orders: each order's
    answer is kept, and re-sending the export adds nothing."""
    header = (
        "review_id,order_id,review_score,review_comment_message,review_creation_date,"
        "review_answer_timestamp\n"
    )
    rows = (
        "r1,o1,4,Prima,2025-10-22 00:00:00,2025-10-22 06:55:00\n"
        "r1,o2,4,Prima,2025-10-22 00:00:00,2025-10-22 06:55:00\n"
        "r2,o3,1,,2025-10-23 00:00:00,2025-10-23 09:00:00\n"
    )
    path = write("reviews.csv", header + rows)
    mapping = EXAMPLES / "mappings" / "olist_reviews.toml"
    first = app.ingest_paths([path], mapping=mapping, progress=False)
    assert (first.files[0].events_stored, first.files[0].duplicates) == (3, 0)
    again = app.ingest_paths([path], mapping=mapping, progress=False)
    assert (again.files[0].events_stored, again.files[0].duplicates) == (0, 3)
    stored = app.store.query(
        "SELECT journey_id, attrs->>'review_id' AS review FROM events ORDER BY journey_id"
    ).to_pylist()
    assert stored == [
        {"journey_id": "o1", "review": "r1"},
        {"journey_id": "o2", "review": "r1"},
        {"journey_id": "o3", "review": "r2"},
    ]
