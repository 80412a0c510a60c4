"""The generator: deterministic, valid, well-formed events at a sensible scale."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from klantreis.app import default_journey_config
from klantreis.demo import generator
from klantreis.demo.clock import DemoPeriod
from klantreis.demo.generator import generate_demo
from klantreis.demo.templates import CONTACT_TEMPLATES
from klantreis.demo.texts import NASTY_COMMENTS, REASONS
from klantreis.model.events import EVENT_SCHEMA
from klantreis.model.validation import validate_events

from .conftest import DEMO_ORDERS


def _ipc_bytes(tables: list[pa.Table]) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, EVENT_SCHEMA) as writer:
        for table in tables:
            writer.write_table(table)
    return sink.getvalue()


def test_same_seed_gives_byte_identical_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "BATCH_ORDERS", 700)  # several batches
    first = list(generate_demo(2_000, seed=5))
    second = list(generate_demo(2_000, seed=5))
    assert len(first) == 3
    assert _ipc_bytes(first) == _ipc_bytes(second)


def test_another_seed_gives_other_data() -> None:
    a = pa.concat_tables(generate_demo(1_000, seed=1))
    b = pa.concat_tables(generate_demo(1_000, seed=2))
    assert a["occurred_at"] != b["occurred_at"]
    assert not set(a["event_id"].to_pylist()) & set(b["event_id"].to_pylist())


def test_every_event_is_valid_and_ids_are_unique(demo_events: pa.Table) -> None:
    assert demo_events.schema == EVENT_SCHEMA
    result = validate_events(demo_events)
    assert result.rejected_reason == []
    assert pc.count_distinct(demo_events["event_id"]).as_py() == demo_events.num_rows


def test_events_per_order_is_realistic(demo_events: pa.Table) -> None:
    kinds = pc.value_counts(demo_events["kind"]).to_pylist()
    counts = {k["values"]: k["counts"] for k in kinds}
    assert counts["order.placed"] == DEMO_ORDERS
    assert 8 <= demo_events.num_rows / DEMO_ORDERS <= 13
    assert 15 <= 100 * counts["contact.inbound"] / DEMO_ORDERS <= 45  # contacts per 100 orders


def test_every_kind_belongs_to_the_journey_config(demo_events: pa.Table) -> None:
    journey = default_journey_config()
    known = set(journey.touchpoint_for_kind()) | {"survey.response"}
    kinds = set(pc.unique(demo_events["kind"]).to_pylist())
    assert kinds <= known
    assert {
        "delivery.failed",
        "invoice.bounced",
        "refund.paid",
        "social.mention",
        "review.posted",
        "payment.failed",
        "contact.outbound",
    } <= kinds
    touchpoints = {tp.id for tp in journey.touchpoints}
    assert set(pc.unique(demo_events["touchpoint"]).to_pylist()) <= touchpoints
    owners = {o.id for o in journey.owners}
    assert set(pc.unique(demo_events["owner"]).to_pylist()) <= owners | {None}


def test_nothing_happens_after_now_and_the_last_day_is_partial(demo_events: pa.Table) -> None:
    now = DemoPeriod.ending().now
    latest = pc.max(demo_events["occurred_at"]).as_py()
    assert latest <= now
    orders = demo_events.filter(pc.equal(demo_events["kind"], "order.placed"))
    last_day = pc.sum(
        pc.greater_equal(
            orders["occurred_at"],
            pa.scalar(now.replace(hour=0, minute=0), pa.timestamp("us", tz="UTC")),
        )
    ).as_py()
    per_day = DEMO_ORDERS / 120
    assert 0 < last_day < per_day * 0.9


def test_attrs_carry_what_the_features_need(demo_events: pa.Table) -> None:
    def attrs_of(kind: str) -> list[dict]:
        rows = demo_events.filter(pc.equal(demo_events["kind"], kind))["attrs"].to_pylist()
        return [json.loads(a) for a in rows[:200]]

    assert all("deadline" in a for a in attrs_of("delivery.promised"))
    assert all("refund_deadline" in a for a in attrs_of("return.received"))
    contacts = attrs_of("contact.inbound")
    assert all(
        {"contact_id", "reason", "response_minutes", "resolved", "agent"} <= set(a)
        for a in contacts
    )
    assert {a["reason"] for a in contacts} <= set(REASONS)
    assert all(isinstance(a["resolved"], bool) for a in contacts)


def test_contact_texts_vary_and_are_mostly_dutch(demo_events: pa.Table) -> None:
    contacts = demo_events.filter(pc.equal(demo_events["kind"], "contact.inbound"))
    langs = pc.value_counts(contacts["lang"]).to_pylist()
    share_en = {x["values"]: x["counts"] for x in langs}["en"] / contacts.num_rows
    assert 0.08 <= share_en <= 0.25
    texts = contacts.filter(pc.match_substring(contacts["attrs"], "waar_is_mijn_pakket"))["text"]
    assert pc.count_distinct(texts).as_py() >= 0.6 * len(texts)


def test_enough_templates_per_reason() -> None:
    for reason in REASONS:
        assert len(CONTACT_TEMPLATES["nl"][reason]) >= 20, reason
        assert len(CONTACT_TEMPLATES["en"][reason]) >= 5, reason


def test_nasty_comments_are_present(demo_events: pa.Table) -> None:
    texts = set(pc.drop_null(demo_events["text"]).to_pylist())
    for _, comment in NASTY_COMMENTS:
        assert comment in texts


def test_period_from_a_start_date() -> None:
    period = DemoPeriod.starting(date(2026, 1, 1), days=10)
    assert period.start == date(2026, 1, 1)
    assert period.now == datetime(2026, 1, 10, 14, 0, tzinfo=UTC)  # 15:00 in Amsterdam
    first = pa.concat_tables(generate_demo(300, start=date(2026, 1, 1), days=10))
    assert pc.max(first["occurred_at"]).as_py() <= period.now
    with pytest.raises(ValueError):
        list(generate_demo(0))
