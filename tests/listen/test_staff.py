"""Invitations handed out by staff: counted as a contact (the contact rules see them), in
response rates (with their own columns and an origin filter), with their event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.listen.kit import T0, FakeDirectory, FakeOutbox, add, delivery_records, surveys

from klantreis.listen import rates, rules
from klantreis.listen.ledger import Invitation, set_status
from klantreis.listen.run import Scheduler
from klantreis.listen.staff import staff_invitation
from klantreis.model.journey import JourneyConfig
from klantreis.store.duckdb_store import EventStore


def _link(inv: Invitation) -> str:
    return f"https://example.test/s/{inv.invitation_id}"


def test_a_staff_link_is_a_contact_for_the_rules(store: EventStore, journey: JourneyConfig) -> None:
    config = surveys()
    add(store, delivery_records(2, 2))  # c0 and c1: due 2026-03-05 10:00 UTC
    s = Scheduler(store, config, journey, _link)
    s.plan(T0 + timedelta(days=2, hours=1), since=T0)
    # an agent hands c0 a link the day before the system would have asked
    made = staff_invitation(
        store, config, journey, "na_bezorging", "c0", journey_id="j0", now=T0 + timedelta(days=2)
    )
    assert made.new and made.rule_reason is None
    inv = made.invitation
    assert (inv.origin, inv.status, inv.channel) == ("staff", "sent", "link")
    again = staff_invitation(
        store, config, journey, "na_bezorging", "c0", journey_id="j0", now=T0 + timedelta(days=2)
    )
    assert not again.new and again.invitation.invitation_id == inv.invitation_id
    history = rules.history(store, "c0", T0 + timedelta(days=3), config.contact_rules, [])
    assert [c.invitation_id for c in history] == [inv.invitation_id]
    report = s.send_due(T0 + timedelta(days=3), FakeOutbox(), FakeDirectory())
    assert report.queued == 1 and report.suppressed == {"cooldown": 1}  # c0: the staff link
    [why] = [r for r in rules.why_not(store, "c0") if r["origin"] == "system"]
    assert why["reason"] == "cooldown"
    # the rule that would have stopped the system is shown to the agent, the link is made
    later = staff_invitation(
        store, config, journey, "na_bezorging", "c1", now=T0 + timedelta(days=3, hours=1)
    )
    assert later.new and later.rule_reason == "cooldown"
    invited = store.query(
        "SELECT attrs FROM events WHERE kind = 'survey.invited' AND customer_id = 'c0'"
    ).to_pylist()
    assert len(invited) == 1 and '"origin": "staff"' in invited[0]["attrs"]


def test_staff_links_count_in_response_rates(store: EventStore, journey: JourneyConfig) -> None:
    config = surveys()
    add(store, delivery_records(3, 3))
    s = Scheduler(store, config, journey, _link)
    s.plan(T0 + timedelta(days=2, hours=1), since=T0)
    s.send_due(T0 + timedelta(days=3), FakeOutbox(), FakeDirectory())
    system = store.query("SELECT invitation_id FROM survey_invitations")["invitation_id"]
    set_status(store, system.to_pylist(), "sent", at=T0 + timedelta(days=3))  # the outbox sent
    staff = [
        staff_invitation(store, config, journey, "na_bezorging", f"s{i}", now=T0).invitation
        for i in range(2)
    ]
    set_status(store, [staff[0].invitation_id], "answered", at=T0 + timedelta(hours=1))
    [every] = rates.response_rates(store).to_pylist()
    assert (every["invited"], every["answered"]) == (5, 1)
    assert (every["staff_invited"], every["staff_answered"]) == (2, 1)
    [only_system] = rates.response_rates(store, origin="system").to_pylist()
    assert (only_system["invited"], only_system["answered"]) == (3, 0)
    [only_staff] = rates.response_rates(store, origin="staff").to_pylist()
    assert (only_staff["invited"], only_staff["answered"], only_staff["rate"]) == (2, 1, 0.5)
    with pytest.raises(ValueError, match="origin"):
        rates.response_rates(store, origin="robots")  # type: ignore[arg-type]
