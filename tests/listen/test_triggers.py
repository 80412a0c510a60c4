"""Planning from the log: one row per survey and trigger, deterministic sample, conditions,
full and incremental planning agree."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.listen.kit import T0, add, delivery_records, surveys

from klantreis.listen import triggers
from klantreis.listen.ledger import ensure_schema
from klantreis.model.events import events_from_records
from klantreis.model.journey import JourneyConfig
from klantreis.store.duckdb_store import EventStore


def _rows(store: EventStore) -> dict[str, tuple[str, str | None]]:
    rows = store.query("SELECT invitation_id, status, reason FROM survey_invitations").to_pylist()
    return {r["invitation_id"]: (r["status"], r["reason"]) for r in rows}


def test_plan_once_per_trigger_with_delay_and_expiry(
    store: EventStore, journey: JourneyConfig
) -> None:
    add(store, delivery_records(20, 20))
    config = surveys(sample=1.0)
    now = T0 + timedelta(days=3)
    [result] = triggers.plan(store, config, journey, now, since=T0)
    assert (result.triggers, result.new, result.planned) == (20, 20, 0 + 20)
    again = triggers.plan(store, config, journey, now, since=T0)
    assert again[0].new == 0  # planning again adds nothing
    row = store.query("SELECT * FROM survey_invitations WHERE trigger_event_id = 'd3'").to_pylist()[
        0
    ]
    assert row["send_at"] == T0 + timedelta(days=3)  # delivered at T0 + 2d, delay 1d
    assert row["expires_at"] == T0 + timedelta(days=10)
    assert (row["touchpoint"], row["owner"], row["channel"]) == (
        "bezorging",
        "carrier:vlotbezorgd",
        "email",
    )


def test_sample_is_deterministic_and_close_to_its_rate(
    store: EventStore, journey: JourneyConfig
) -> None:
    add(store, delivery_records(2_000, 2_000))
    config = surveys(sample=0.3)
    [result] = triggers.plan(store, config, journey, T0 + timedelta(days=3), since=T0)
    assert 0.25 < result.planned / result.triggers < 0.35
    assert result.not_sampled == result.triggers - result.planned
    # the SQL hash and the Python one agree, row by row
    rows = _rows(store)
    for inv in store.query(
        "SELECT invitation_id, customer_id, trigger_event_id FROM survey_invitations"
    ).to_pylist():
        in_sample = (
            triggers.sample_fraction("na_bezorging", inv["customer_id"], inv["trigger_event_id"])
            < 0.3
        )
        assert (rows[inv["invitation_id"]][1] is None) == in_sample
    # a new store planned from the same log gives the same sample
    with EventStore(":memory:") as other:
        add(other, delivery_records(2_000, 2_000))
        triggers.plan(other, config, journey, T0 + timedelta(days=3), since=T0)
        assert _rows(other) == rows


def test_conditions_on_owner_and_segment_suppress_with_not_matching(
    store: EventStore, journey: JourneyConfig
) -> None:
    records = delivery_records(10, 10)
    records += delivery_records(10, 10, segment="terugkerend")
    for r in records[20:]:
        r["event_id"] += "b"
        r["journey_id"] += "b"
    add(store, records)
    extra = ""
    config = surveys(1.0, extra)
    when = config.surveys[0].trigger.when.model_copy(update={"segment": ["nieuw"]})
    trigger = config.surveys[0].trigger.model_copy(update={"when": when})
    config = config.model_copy(
        update={"surveys": [config.surveys[0].model_copy(update={"trigger": trigger})]}
    )
    [result] = triggers.plan(store, config, journey, T0 + timedelta(days=3), since=T0)
    assert (result.planned, result.not_matching) == (10, 10)
    reasons = {v for v in _rows(store).values()}
    assert reasons == {("planned", None), ("suppressed", "not_matching")}


def test_incremental_batch_plans_only_its_events(store: EventStore, journey: JourneyConfig) -> None:
    ensure_schema(store)
    first = delivery_records(5, 5)
    add(store, first)
    config = surveys(1.0)
    triggers.plan(store, config, journey, T0 + timedelta(days=3), since=T0)
    later = delivery_records(8, 8)[10:]  # journeys 5..7
    batch = events_from_records(later)
    store.append(batch)
    [result] = triggers.plan(store, config, journey, T0 + timedelta(days=3), since=T0, batch=batch)
    assert (result.triggers, result.new) == (3, 3)
    assert len(_rows(store)) == 8


def test_default_window_skips_triggers_that_would_have_expired(
    store: EventStore, journey: JourneyConfig
) -> None:
    add(store, delivery_records(3, 3))
    [result] = triggers.plan(store, surveys(1.0), journey, T0 + timedelta(days=30))
    assert result.triggers == 0


def _with_promise(status: str) -> Any:
    from klantreis.model.survey import PromiseCondition

    config = surveys(1.0)
    survey = config.surveys[0]
    when = survey.trigger.when.model_copy(
        update={"promise": PromiseCondition(id="op_tijd_bezorgd", status=status)}
    )
    trigger = survey.trigger.model_copy(update={"when": when})
    return config.model_copy(update={"surveys": [survey.model_copy(update={"trigger": trigger})]})


def test_promise_condition_broken_only_asks_the_late(
    store: EventStore, journey: JourneyConfig
) -> None:
    records = delivery_records(4, 4)  # delivered at T0 + 2d
    for i in range(4):  # j0, j1: deadline T0 + 1d (late); j2, j3: T0 + 3d (kept)
        deadline = T0 + timedelta(days=1 if i < 2 else 3)
        records.append(
            {
                "event_id": f"p{i}",
                "occurred_at": T0.isoformat(),
                "kind": "delivery.promised",
                "customer_id": f"c{i}",
                "journey_id": f"j{i}",
                "attrs": {"deadline": deadline.isoformat()},
            }
        )
    add(store, records)
    now = T0 + timedelta(days=3)
    [result] = triggers.plan(store, _with_promise("broken"), journey, now, since=T0)
    assert (result.planned, result.not_matching) == (2, 2)
    planned = store.query(
        "SELECT journey_id FROM survey_invitations WHERE status = 'planned' ORDER BY 1"
    )["journey_id"].to_pylist()
    assert planned == ["j0", "j1"]
    # at send time the same condition is checked again, from the log as it is then
    config = _with_promise("broken")
    survey = config.surveys[0]
    due = store.query(
        "SELECT invitation_id, customer_id, journey_id, trigger_event_id FROM survey_invitations"
    )
    facts = triggers.journey_facts(store, survey, journey, due, now, ["segment"])
    matching = {f["attrs"]["segment"] for f in facts.values()}
    assert matching == {"nieuw"}  # the journey start's attribute
    assert sum(f["matching"] for f in facts.values()) == 2
