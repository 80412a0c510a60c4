"""The kept held counts of many contacts are counted in parts of contact ids, under the
memory setting (a join of every contact with its journeys' conditions held 8.7 GiB at 100M
events): the same counts as one join and as the portable reference, when counted afresh and
when updated."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.contacts.test_conditions import _check_causes, _held_rows, _load, _reference
from tests.journeys.logs import T0, ev

from klantreis.app import App
from klantreis.contacts import held_counts
from klantreis.contacts.conditions import ConditionViews
from klantreis.contacts.held_counts import HeldCounts
from klantreis.settings import Settings

WINDOW = (None, T0.date() + timedelta(days=20))


def _records() -> list[dict[str, Any]]:
    """Twelve contacts on five journeys with orders and hand-overs, and one contact id (c3)
    with a second row on another journey and another reason (its first row decides)."""
    records = []
    for d in range(12):
        at, j = T0 + timedelta(days=d), f"j{d % 5}"
        contact = ev(
            f"c{d}",
            j,
            "contact.inbound",
            at + timedelta(hours=2),
            attrs={"reason": "waar" if d % 3 else "factuur", "contact_id": f"c{d}"},
        )
        records += [
            ev(f"k{d}", j, "order.placed", at),
            ev(f"s{d}", j, "shipment.handed_over", at, owner=f"carrier:{d % 2}"),
            contact,
        ]
    again = {"reason": "retour", "contact_id": "c3"}
    records.append(ev("c3b", "j4", "contact.inbound", T0 + timedelta(days=9), attrs=again))
    return records


def _limit(con: Any) -> str:
    return str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])


def test_held_counts_in_parts_equal_one_join_and_the_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int]] = []  # per part: the memory limit and the contact rows
    held_rows = HeldCounts._held_rows

    def spy(self: HeldCounts, con: Any, window: Any) -> int:
        rows = int(con.execute("SELECT count(*) FROM _kh_c").fetchall()[0][0])
        seen.append((_limit(con), rows))
        return held_rows(self, con, window)

    monkeypatch.setattr(HeldCounts, "_held_rows", spy)
    monkeypatch.setattr(held_counts, "BATCH_CONTACTS", 3)
    with App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"))) as app:
        _load(app, _records())
        before = _limit(app.store.con)
        views = ConditionViews(app.store, app.journey, memory_mb=64)
        contacts, conds, orders = _reference(app, WINDOW)
        assert len(contacts) == 13 and contacts["contact_id"].nunique() == 12
        kept = _check_causes(app, views, WINDOW, contacts, conds, orders)
        assert kept.held.last == "counted" and kept.held.parts == 4  # 12 ids, 3 a part
        assert [limit for limit, _ in seen] == ["64.0 MiB"] * 4
        assert sum(rows for _, rows in seen) == 13  # every row once, c3's two in one part
        assert _limit(app.store.con) == before
        # the same counts from one join (a window of its own), under the limit it found
        seen.clear()
        monkeypatch.setattr(held_counts, "BATCH_CONTACTS", 100)
        one = _check_causes(app, views, WINDOW, contacts, conds, orders, frame_key="one")
        assert one.held.parts == 1 and seen == [(before, 13)]
        assert _held_rows(one) == _held_rows(kept)
        # an update of more ids than a part: in parts too (c1, c6, c11 of j1)
        monkeypatch.setattr(held_counts, "BATCH_CONTACTS", 2)
        _load(app, [ev("late", "j1", "invoice.bounced", T0 + timedelta(days=1))])
        views.ensure()
        seen.clear()
        contacts, conds, orders = _reference(app, WINDOW)
        kept = _check_causes(app, views, WINDOW, contacts, conds, orders)
        assert kept.held.last == "updated (3)" and kept.held.parts == 2
        assert [limit for limit, _ in seen] == ["64.0 MiB"] * 2
        assert sum(rows for _, rows in seen) == 3
        assert _limit(app.store.con) == before
    with pytest.raises(ValueError, match="at least 1"):
        HeldCounts(app.journey, batch=0)
