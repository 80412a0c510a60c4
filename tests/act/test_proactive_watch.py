"""The incremental proactive search decides exactly what the full search decides, after random
appends and clock moves (forward, and sometimes back), while looking at few journeys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from klantreis.act import proactive
from klantreis.act.proactive import parse_proactive_config
from klantreis.act.proactive_watch import run_since
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.model.journey import parse_journey_config
from klantreis.store import EventStore

JOURNEY = parse_journey_config(
    resources.files("klantreis.demo").joinpath("journey.toml").read_text("utf-8")
)
TEXT = 'text = { nl = "Over {order}.", en = "About {order}." }\n'
RULES = (
    """
[[rule]]
id = "te_laat"
name_nl = "Te laat"
name_en = "Late"
signal = "promise"
promise = "op_tijd_bezorgd"
lead_hours = 4
salt = "t"
"""
    + TEXT
    + """
[[rule]]
id = "na_deadline"
name_nl = "Na de deadline"
name_en = "After the deadline"
signal = "promise"
promise = "op_tijd_bezorgd"
owners = ["carrier:vlotbezorgd"]
lead_hours = -2
salt = "t"
"""
    + TEXT
    + """
[[rule]]
id = "nieuwe_belofte"
name_nl = "Nieuwe belofte"
name_en = "New promise"
signal = "repromise"
promise = "op_tijd_bezorgd"
salt = "t"
"""
    + TEXT
    + """
[[rule]]
id = "factuur"
name_nl = "Factuur"
name_en = "Invoice"
signal = "event"
kind = "invoice.bounced"
salt = "t"
"""
    + TEXT
)
T0 = datetime(2026, 5, 1, 8, tzinfo=UTC)


def _may_contact(customer: str, purpose: str, channel: str) -> tuple[bool, str | None]:
    return (False, "no_consent") if customer.endswith("7") else (True, None)


def journey_around(rng: np.random.Generator, j: str, now: datetime) -> list[dict[str, Any]]:
    """A journey around ``now``: some of its events lie in the future (a deadline, a planned
    delivery), some journeys get a later promise or a bounced invoice."""
    c = f"K{j}"
    t = now - timedelta(hours=float(rng.uniform(0, 30)))
    deadline = t + timedelta(hours=float(rng.uniform(2, 40)))
    owner = "carrier:vlotbezorgd" if rng.random() < 0.6 else "carrier:snelpost"

    def e(suffix: str, at: datetime, kind: str, **kw: Any) -> dict[str, Any]:
        return {
            "event_id": f"{j}-{suffix}",
            "occurred_at": at,
            "kind": kind,
            "journey_id": j,
            "customer_id": c,
            **kw,
        }

    out = [
        e("o", t, "order.placed"),
        e("p", t + timedelta(hours=1), "delivery.promised", owner=owner,
          attrs={"deadline": deadline.isoformat()}),
    ]  # fmt: skip
    if rng.random() < 0.5:  # delivered: early, just before, or late (maybe in the future)
        at = deadline + timedelta(hours=float(rng.uniform(-10, 8)))
        out.append(e("d", max(at, t + timedelta(hours=2)), "delivery.completed", owner=owner))
    if rng.random() < 0.2:
        later = deadline + timedelta(hours=24)
        out.append(e("p2", t + timedelta(hours=float(rng.uniform(2, 20))), "delivery.promised",
                     owner=owner, attrs={"deadline": later.isoformat()}))  # fmt: skip
    if rng.random() < 0.3:  # a call, maybe in the future
        at = t + timedelta(hours=float(rng.uniform(0, 40)))
        out.append(e("c", at, "contact.inbound", channel="phone",
                     attrs={"reason": "waar_is_mijn_pakket"}))  # fmt: skip
    if rng.random() < 0.3:
        at = t + timedelta(hours=float(rng.uniform(5, 50)))
        out.append(e("s", at, "survey.response", metric="nps", score=float(rng.integers(0, 11)),
                     touchpoint="bezorging"))  # fmt: skip
    if rng.random() < 0.15:
        out.append(e("i", t + timedelta(hours=float(rng.uniform(0, 40))), "invoice.bounced"))
    return out


def _decided(store: EventStore) -> list[tuple[Any, ...]]:
    rows = store.query(
        "SELECT kind, json_extract_string(attrs, '$.rule') AS r,"
        " json_extract_string(attrs, '$.journey_id') AS j, occurred_at, customer_id"
        " FROM events WHERE kind LIKE 'proactive.%' ORDER BY 2, 3"
    ).to_pylist()
    return [tuple(r.values()) for r in rows]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_decides_what_the_full_search_decides(tmp_path: Path, seed: int) -> None:
    config = parse_proactive_config(RULES, journey=JOURNEY)
    rng = np.random.default_rng(seed)
    full = EventStore(tmp_path / "full.duckdb")
    incr = EventStore(tmp_path / "incr.duckdb")
    now, made, modes, looked = T0, 0, [], []
    with full, incr:
        for step in range(14):
            records: list[dict[str, Any]] = []
            for _ in range(int(rng.integers(0, 25))):
                records += journey_around(rng, f"J{made:05d}", now)
                made += 1
            if made and rng.random() < 0.5:  # late events of existing journeys
                for k in rng.integers(0, made, 4):
                    j = f"J{int(k):05d}"
                    records.append({"event_id": f"{j}-x{step}", "journey_id": j,
                                    "customer_id": f"K{j}", "kind": "delivery.completed",
                                    "occurred_at": now + timedelta(hours=float(rng.uniform(-3, 3))),
                                    "owner": "carrier:vlotbezorgd"})  # fmt: skip
            if records:
                batch = events_from_records(records)
                ingest_table(full, batch, JOURNEY, "test")
                ingest_table(incr, batch, JOURNEY, "test")
            proactive.run(full, JOURNEY, config, now, _may_contact)
            run = run_since(incr, JOURNEY, config, now, _may_contact)
            modes.append(run.mode)
            looked.append(run.journeys)
            assert _decided(incr) == _decided(full), f"step {step}"
            # the clock: mostly forward by up to 8 hours, sometimes back
            back = rng.random() < 0.15
            now += timedelta(hours=float(rng.uniform(-3, 0) if back else rng.uniform(0, 8)))
        assert len(_decided(full)) > 20
        assert modes[0] == "full" and modes.count("incremental") >= 8
        assert all(n is None or n < made for n in looked)  # never every journey again


def test_an_untouched_promise_signals_when_its_lead_window_is_entered(tmp_path: Path) -> None:
    config = parse_proactive_config(RULES, journey=JOURNEY)
    deadline = T0 + timedelta(hours=30)
    records = [
        {"event_id": f"{j}-{s}", "journey_id": j, "customer_id": f"K{j}", **kw}
        for j in ("A1", "A2")
        for s, kw in (
            ("o", {"occurred_at": T0, "kind": "order.placed"}),
            ("p", {"occurred_at": T0, "kind": "delivery.promised",
                   "attrs": {"deadline": deadline.isoformat()}}),
        )
    ]  # fmt: skip
    with EventStore(tmp_path / "s.duckdb") as store:
        ingest_table(store, events_from_records(records), JOURNEY, "test")
        first = run_since(store, JOURNEY, config, T0 + timedelta(hours=1))
        assert first.mode == "full" and first.decisions == []
        quiet = run_since(store, JOURNEY, config, T0 + timedelta(hours=20))
        assert quiet.mode == "incremental" and quiet.journeys == 0 and quiet.decisions == []
        # 4 hours before the deadline: both promises enter their lead window, nothing new
        # was stored for them, and only they are looked at
        entered = run_since(store, JOURNEY, config, deadline - timedelta(hours=3))
        assert entered.mode == "incremental" and entered.journeys == 2
        assert sorted((d.rule_id, d.journey_id) for d in entered.decisions) == [
            ("te_laat", "A1"),
            ("te_laat", "A2"),
        ]
        assert run_since(store, JOURNEY, config, deadline).decisions == []
        # a changed rule is a new search over the whole log
        changed = parse_proactive_config(RULES.replace("lead_hours = 4", "lead_hours = 5"))
        assert run_since(store, JOURNEY, changed, deadline).mode == "full"
