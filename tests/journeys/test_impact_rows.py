"""The impact table does not say one thing twice (issue 13: "Belofte gebroken: Op tijd
bezorgd" on 3,380 journeys and "Te laat: Op tijd bezorgd" on 3,331, same effects)."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from klantreis.web.pages.journeys import merge_near_duplicates


def _row(condition: str, n: int) -> dict[str, object]:
    return {"condition": condition, "journeys_with": n}


def test_a_late_row_that_is_its_broken_row_is_left_out() -> None:
    rows = [
        _row("broken:op_tijd_bezorgd", 3380),
        _row("late:op_tijd_bezorgd", 3331),
        _row("broken:op_tijd_bezorgd@carrier:vlotbezorgd", 2016),
        _row("late:op_tijd_bezorgd@carrier:vlotbezorgd", 1990),
        _row("late:terugbetaling_binnen_termijn", 205),
        _row("broken:terugbetaling_binnen_termijn", 278),
        _row("broken:terugbetaling_binnen_termijn@warehouse", 278),
        _row("kind:delivery.failed", 1097),
    ]
    kept = [r["condition"] for r in merge_near_duplicates(rows)]
    assert kept == [
        "broken:op_tijd_bezorgd",
        "broken:op_tijd_bezorgd@carrier:vlotbezorgd",
        "late:terugbetaling_binnen_termijn",  # 205 of 278: a different finding, kept
        "broken:terugbetaling_binnen_termijn",
        "kind:delivery.failed",
    ]
