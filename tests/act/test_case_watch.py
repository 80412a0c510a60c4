"""The incremental ``cases`` job opens exactly the cases a full evaluation opens, after random
appends (repeat contacts across a customer's journeys too) and clock moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.act.test_proactive_watch import JOURNEY, T0, journey_around

from klantreis.act.case_watch import cases_since
from klantreis.act.rules import default_case_rules
from klantreis.act.runner import evaluate_cases
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.model.journey import JourneyConfig
from klantreis.store import EventStore


@dataclass
class _Target:
    store: EventStore
    journey: JourneyConfig


def _cases(store: EventStore) -> list[tuple[Any, ...]]:
    rows = store.query(
        "SELECT rule_id, journey_id, customer_id, owner, trigger_event_id, triggered_at"
        " FROM cases ORDER BY rule_id, journey_id"
    ).to_pylist()
    return [tuple(r.values()) for r in rows]


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_cases_are_the_full_evaluations_cases(tmp_path: Path, seed: int) -> None:
    rules = default_case_rules(JOURNEY)
    rng = np.random.default_rng(seed)
    now, made, modes, looked = T0, 0, [], []
    with EventStore(tmp_path / "f.duckdb") as full, EventStore(tmp_path / "i.duckdb") as incr:
        for step in range(10):
            records: list[dict[str, Any]] = []
            for _ in range(int(rng.integers(0, 20))):
                records += journey_around(rng, f"J{made:05d}", now)
                made += 1
            if made:  # a customer calls about another order, told late (back-dated): an
                # older call of theirs may now be a repeat contact
                for k in rng.integers(0, made, 4):
                    j, at = f"R{step}-{int(k)}", now - timedelta(hours=float(rng.uniform(0, 40)))
                    records.append({"event_id": f"{j}-r", "journey_id": j,
                                    "customer_id": f"KJ{int(k):05d}", "kind": "contact.inbound",
                                    "channel": "phone", "occurred_at": at})  # fmt: skip
            if records:
                batch = events_from_records(records)
                ingest_table(full, batch, JOURNEY, "test")
                ingest_table(incr, batch, JOURNEY, "test")
            evaluate_cases(_Target(full, JOURNEY), rules, now=now)
            run = cases_since(_Target(incr, JOURNEY), rules, now)
            modes.append(run.mode)
            looked.append(run.journeys)
            assert _cases(incr) == _cases(full), f"step {step}"
            back = rng.random() < 0.15
            now += timedelta(hours=float(rng.uniform(-3, 0) if back else rng.uniform(0, 10)))
        assert len(_cases(full)) > 10
        assert modes[0] == "full" and modes.count("incremental") >= 6
        assert all(n is None or n < made for n in looked)
