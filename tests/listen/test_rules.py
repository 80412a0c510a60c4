"""The contact rules as pure functions: order of reasons, quiet hours moved (also across a
daylight-saving change), reminders in their own budget but counted for min days between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.listen.kit import FakeDirectory, surveys

from klantreis.listen import rules
from klantreis.listen.ledger import Contact

CONFIG = surveys(1.0)
RULES = CONFIG.contact_rules
SURVEY = CONFIG.surveys[0]
NOW = datetime(2026, 6, 10, 10, tzinfo=UTC)
ZONE = "Europe/Amsterdam"


def _c(inv: str, days_ago: float, survey: str = "na_bezorging", n: int = 0) -> Contact:
    return Contact(inv, survey, n, NOW - timedelta(days=days_ago))


@pytest.mark.parametrize(
    ("past", "attrs", "reason"),
    [
        ([], None, None),
        ([], {"segment": "zakelijk_contract"}, "contract_customer"),
        ([_c("a", 59)], None, "cooldown"),
        ([_c("a", 61)], None, None),
        ([_c("a", 6.9, survey="other")], None, "min_days_between"),
        ([_c("a", 10, survey="other"), _c("a", 6, survey="other", n=1)], None, "min_days_between"),
        ([_c("a", 20, survey="x"), _c("b", 10, survey="y")], None, "cap"),
        # reminders do not eat the cap
        ([_c("a", 20, survey="x"), _c("a", 17, survey="x", n=1)], None, None),
        ([_c("a", 31, survey="x"), _c("b", 10, survey="y")], None, None),
    ],
)
def test_contact_rules_give_the_first_reason(
    past: list[Contact], attrs: dict[str, str] | None, reason: str | None
) -> None:
    assert rules.check_contact_rules(RULES, SURVEY, past, NOW, attrs) == reason


def test_quiet_hours_move_to_their_end_in_local_time() -> None:
    late = datetime(2026, 6, 10, 20, 30, tzinfo=UTC)  # 22:30 in Amsterdam (summer)
    assert rules.quiet_end(RULES, late, ZONE) == datetime(2026, 6, 11, 6, tzinfo=UTC)
    early = datetime(2026, 6, 11, 5, tzinfo=UTC)  # 07:00 local
    assert rules.quiet_end(RULES, early, ZONE) == datetime(2026, 6, 11, 6, tzinfo=UTC)
    assert rules.quiet_end(RULES, NOW, ZONE) is None
    # the night the clocks go back: 08:00 local is 07:00 UTC the next morning
    autumn = datetime(2026, 10, 24, 20, tzinfo=UTC)  # 22:00 summer time
    assert rules.quiet_end(RULES, autumn, ZONE) == datetime(2026, 10, 25, 7, tzinfo=UTC)


def test_decide_moves_only_when_everything_else_allows() -> None:
    late = datetime(2026, 6, 10, 20, 30, tzinfo=UTC)
    d = rules.decide(RULES, SURVEY, "c1", [], late, ZONE, FakeDirectory(), {"matching": True})
    assert d.action == "move" and d.at == datetime(2026, 6, 11, 6, tzinfo=UTC)
    refused = FakeDirectory({("c1", "email"): "objected"})
    d = rules.decide(RULES, SURVEY, "c1", [], late, ZONE, refused, {"matching": True})
    assert (d.action, d.reason) == ("suppress", "objected")


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        ({"matching": False}, "no_longer_matching"),
        ({"matching": True, "cancelled": True}, "cancelled_by_event"),
        ({"matching": True, "answered_elsewhere": True}, "answered_elsewhere"),
    ],
)
def test_send_time_eligibility(facts: dict[str, bool], reason: str) -> None:
    d = rules.decide(RULES, SURVEY, "c1", [], NOW, ZONE, FakeDirectory(), facts)
    assert (d.action, d.reason) == ("suppress", reason)


def test_channels_in_order_and_the_first_reason_when_none() -> None:
    directory = FakeDirectory({("c1", "email"): "no_contact_details"})
    assert rules.choose_channel(directory, "c1", ["email", "sms"]) == ("sms", None)
    directory.refuse[("c1", "sms")] = "no_consent"
    assert rules.choose_channel(directory, "c1", ["email", "sms"]) == (None, "no_contact_details")
    odd = FakeDirectory({("c1", "email"): "something_else"})
    assert rules.choose_channel(odd, "c1", ["email"]) == (None, "no_contact_details")


def test_reminders_have_their_own_budget_and_respect_min_days_between() -> None:
    own = _c("a", 3.5)
    assert rules.reminder_allowed(RULES, "a", [own], NOW, ZONE)
    assert not rules.reminder_allowed(RULES, "a", [_c("a", 2)], NOW, ZONE)  # before reminder_after
    assert not rules.reminder_allowed(RULES, "a", [own, _c("a", 0.5, n=1)], NOW, ZONE)  # budget
    other = _c("b", 5, survey="x")
    assert not rules.reminder_allowed(RULES, "a", [own, other], NOW, ZONE)
    night = datetime(2026, 6, 10, 22, tzinfo=UTC)
    assert not rules.reminder_allowed(RULES, "a", [_c("a", 4)], night, ZONE)


def test_every_reason_is_worded_in_both_languages() -> None:
    from klantreis.wording import catalogue

    for lang in ("nl", "en"):
        words = catalogue(lang)
        missing = [r for r in rules.REASONS if f"listen.reason.{r}" not in words]
        assert missing == [], lang


def _history() -> Any:
    from hypothesis import strategies as st

    contact = st.tuples(
        st.sampled_from(["a", "b", "c", "d"]),  # invitation
        st.sampled_from(["na_bezorging", "x", "y"]),
        st.integers(0, 2),  # reminder number
        st.floats(0, 90, allow_nan=False),  # days ago
    )
    return st.lists(contact, max_size=8)


def test_a_yes_never_breaks_a_rule() -> None:
    """For any history: when the rules say yes, the new invitation keeps the cap, the min
    days between and the cooldown (checked by brute force, not by the engine)."""
    from hypothesis import given, settings

    @settings(max_examples=400, deadline=None)
    @given(_history(), st_segment())
    def check(history: list[tuple[str, str, int, float]], segment: str) -> None:
        past = [Contact(i, s, n, NOW - timedelta(days=d)) for i, s, n, d in history]
        if rules.check_contact_rules(RULES, SURVEY, past, NOW, {"segment": segment}) is not None:
            return
        assert segment != "zakelijk_contract"
        invitations = [c for c in past if c.n == 0 and NOW - c.at < timedelta(days=30)]
        assert len(invitations) + 1 <= RULES.max_per_period
        assert all(NOW - c.at >= timedelta(days=RULES.min_days_between) for c in past)
        same = [c for c in past if c.n == 0 and c.survey_id == SURVEY.id]
        assert all(NOW - c.at >= timedelta(days=SURVEY.cooldown_days) for c in same)

    check()


def st_segment() -> Any:
    from hypothesis import strategies as st

    return st.sampled_from(["nieuw", "terugkerend", "zakelijk_contract"])
