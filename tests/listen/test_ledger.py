"""The invitations ledger: stable ids, planning twice adds nothing, statuses with reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from klantreis.listen import ledger
from klantreis.listen.ledger import Invitation
from klantreis.store.duckdb_store import EventStore


def _inv(survey: str, event: str, customer: str = "c1") -> Invitation:
    return Invitation(
        invitation_id=ledger.invitation_id(survey, event),
        survey_id=survey,
        customer_id=customer,
        journey_id="o1",
        trigger_event_id=event,
        touchpoint="bezorging",
        owner="carrier:vlotbezorgd",
        channel="email",
        send_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
    )


def test_planning_twice_adds_nothing_and_statuses_keep_their_reason(tmp_path: Path) -> None:
    with EventStore(tmp_path / "s.duckdb") as store:
        ledger.ensure_schema(store)
        first = [_inv("na_bezorging", "e1"), _inv("na_bezorging", "e2"), _inv("na_contact", "e1")]
        assert ledger.insert_new(store, first) == 3
        assert ledger.insert_new(store, [*first, _inv("na_bezorging", "e3")]) == 1
        inv_id = first[0].invitation_id
        ledger.set_status(store, [inv_id], "suppressed", reason="cooldown")
        got = ledger.get(store, inv_id)
        assert got is not None and (got.status, got.reason) == ("suppressed", "cooldown")
        assert got.send_at == datetime(2026, 3, 2, 9, tzinfo=UTC)
        sent_at = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
        ledger.set_status(store, [first[1].invitation_id], "sent", at=sent_at)
        sent = ledger.get(store, first[1].invitation_id)
        assert sent is not None and sent.sent_at == sent_at and sent.reason is None
        assert ledger.get(store, "inv_unknown") is None


def test_ids_differ_per_survey_and_event() -> None:
    ids = {ledger.invitation_id(s, e) for s in ("a", "b") for e in ("1", "2")}
    assert len(ids) == 4
    assert ledger.invitation_id("a", "1") == ledger.invitation_id("a", "1")
