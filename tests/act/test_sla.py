"""SLA clocks: business hours, Dutch holidays, split shifts, DST, pauses, the ladder, budgets.

The tests named ``test_bug_*`` reproduce SLA complaints from open helpdesks' trackers and
show that klantreis does it right:

- Chatwoot PR 13392: SLA deadlines counted wall-clock time, ignoring business hours;
- Chatwoot issue 9798: no break between working hours (a split shift's lunch counted);
- osTicket issue 3034: no pause while a ticket waits for the customer / a third party;
- GLPI issues 6902 and 15605: pending (paused) time lost when the SLA changes mid-ticket;
- Zammad issue 1620: a ticket escalated although an agent had responded.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.easter import easter

from klantreis.act.sla import (
    DEFAULT_LADDER,
    AlertBudget,
    BusinessCalendar,
    Pause,
    add_business_seconds,
    business_seconds,
    clock_state,
    due_escalations,
    dutch_holidays,
    easter_sunday,
    parse_shifts,
)

AMS = ZoneInfo("Europe/Amsterdam")
OFFICE = BusinessCalendar.office()  # Mon-Fri 08:30-12:00 + 13:00-17:30, Dutch holidays
NINE_TO_FIVE = BusinessCalendar.office("09:00-17:00")
HOUR = 3600.0


def ams(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)  # type: ignore[misc]


# -- holidays ---------------------------------------------------------------------------------
@pytest.mark.parametrize("year", range(1990, 2101))
def test_easter_matches_dateutil(year: int) -> None:
    assert easter_sunday(year) == easter(year)


def test_dutch_holidays_2026() -> None:
    h = dutch_holidays(2026)
    assert h[date(2026, 1, 1)] == "nieuwjaarsdag"
    assert h[date(2026, 4, 5)] == "eerste_paasdag"
    assert h[date(2026, 4, 6)] == "tweede_paasdag"
    assert h[date(2026, 4, 27)] == "koningsdag"
    assert h[date(2026, 5, 14)] == "hemelvaartsdag"
    assert h[date(2026, 5, 24)] == "eerste_pinksterdag"
    assert h[date(2026, 5, 25)] == "tweede_pinksterdag"
    assert h[date(2026, 12, 25)] == "eerste_kerstdag"
    assert h[date(2026, 12, 26)] == "tweede_kerstdag"
    assert date(2026, 4, 3) not in h  # Goede Vrijdag: off by default
    assert date(2026, 5, 5) not in h  # Bevrijdingsdag: only in lustrum years by default
    assert len(h) == 9


def test_koningsdag_moves_to_saturday_when_on_sunday() -> None:
    assert dutch_holidays(2025)[date(2025, 4, 26)] == "koningsdag"
    assert date(2025, 4, 27) not in dutch_holidays(2025)


@pytest.mark.parametrize(
    ("rule", "year", "closed"),
    [
        ("lustrum", 2025, True),
        ("lustrum", 2026, False),
        ("yearly", 2026, True),
        ("never", 2025, False),
    ],
)
def test_bevrijdingsdag_is_configurable(rule: str, year: int, closed: bool) -> None:
    assert (date(year, 5, 5) in dutch_holidays(year, liberation_day=rule)) is closed  # type: ignore[arg-type]


def test_goede_vrijdag_and_the_list_are_configurable() -> None:
    h = dutch_holidays(2026, include=["goede_vrijdag", "koningsdag"])
    assert h == {date(2026, 4, 3): "goede_vrijdag", date(2026, 4, 27): "koningsdag"}
    with pytest.raises(ValueError, match="unknown holiday"):
        dutch_holidays(2026, include=["sinterklaas"])


# -- calendars --------------------------------------------------------------------------------
def test_shift_parsing_rejects_nonsense() -> None:
    assert len(parse_shifts("08:30-12:00, 13:00-17:30")) == 2
    for bad in ("8-12", "12:00-08:00", "08:00-12:00,11:00-13:00", "x"):
        with pytest.raises(ValueError):
            parse_shifts(bad)


def test_a_full_office_day_is_eight_hours() -> None:
    assert business_seconds(OFFICE, ams(2026, 12, 1, 0), ams(2026, 12, 2, 0)) == 8 * HOUR


def test_weekend_and_holiday_are_closed() -> None:
    # Eerste Kerstdag 2026 is a Friday: closed through the weekend
    assert business_seconds(OFFICE, ams(2026, 12, 25, 0), ams(2026, 12, 28, 0)) == 0.0
    assert business_seconds(OFFICE, ams(2026, 4, 27, 0), ams(2026, 4, 28, 0)) == 0.0  # Koningsdag


def test_dst_change_does_not_shift_local_opening_hours() -> None:
    # Sunday 29 March 2026 clocks go forward; Monday 08:30 local is 06:30 UTC (was 07:30).
    before = OFFICE.open_intervals(date(2026, 3, 27))[0][0]
    after = OFFICE.open_intervals(date(2026, 3, 30))[0][0]
    assert (before.hour, before.minute) == (7, 30)
    assert (after.hour, after.minute) == (6, 30)
    assert business_seconds(OFFICE, ams(2026, 3, 27, 17), ams(2026, 3, 30, 9)) == 3600.0


def test_due_time_over_a_weekend_and_holiday() -> None:
    # Thursday 24 Dec 16:30 + 4 business hours: 1 h on Thursday, Kerst and the weekend
    # closed (Tweede Kerstdag is a Saturday), 3 h on Monday 28 December
    due = add_business_seconds(OFFICE, ams(2026, 12, 24, 16, 30), 4 * HOUR)
    assert due == ams(2026, 12, 28, 11, 30)


def test_position_and_moment_are_inverse() -> None:
    start = ams(2026, 6, 1, 10, 15)
    for hours in (0.5, 3.5, 8, 40, 300):
        due = add_business_seconds(OFFICE, start, hours * HOUR)
        assert business_seconds(OFFICE, start, due) == pytest.approx(hours * HOUR)


# -- the bugs people reported -----------------------------------------------------------------
def test_bug_chatwoot_13392_deadline_ignores_business_hours() -> None:
    """Friday 16:30, a 1-hour first-response target, hours Mon-Fri 9-17: due Monday 09:30,
    not Friday 17:30."""
    opened = ams(2026, 11, 20, 16, 30)
    state = clock_state(NINE_TO_FIVE, 1.0, opened, now=ams(2026, 11, 21, 12))
    assert state.due_at == ams(2026, 11, 23, 9, 30)
    assert not state.breached  # Saturday noon: only 30 minutes used
    assert state.elapsed == 30 * 60


def test_bug_chatwoot_9798_split_shift_lunch_is_not_counted() -> None:
    opened = ams(2026, 11, 18, 11, 30)  # Wednesday, 30 minutes before lunch
    state = clock_state(OFFICE, 1.0, opened, now=ams(2026, 11, 18, 13, 15))
    assert state.elapsed == 45 * 60  # 11:30-12:00 and 13:00-13:15
    assert state.due_at == ams(2026, 11, 18, 13, 30)


def test_bug_osticket_3034_clock_pauses_while_waiting_for_the_customer() -> None:
    opened = ams(2026, 11, 16, 9)  # Monday
    pauses = [Pause(ams(2026, 11, 16, 10), ams(2026, 11, 18, 10))]  # two days waiting
    state = clock_state(OFFICE, 8.0, opened, now=ams(2026, 11, 18, 11), pauses=pauses)
    assert state.elapsed == 2 * HOUR  # 09-10 Monday, 10-11 Wednesday
    assert not state.breached
    waiting = clock_state(
        OFFICE, 8.0, opened, now=ams(2026, 11, 17, 12), pauses=[Pause(ams(2026, 11, 16, 10))]
    )
    assert waiting.paused and waiting.due_at is None and waiting.elapsed == HOUR


@pytest.mark.parametrize("issue", ["glpi_6902", "glpi_15605"])
def test_bug_glpi_pause_survives_an_sla_change(issue: str) -> None:
    """Paused two days, then the policy changes from 16 to 4 business hours: the new clock
    still leaves the pause out (GLPI restarted from the opening time without it)."""
    opened = ams(2026, 11, 16, 9)
    pauses = [Pause(ams(2026, 11, 16, 10), ams(2026, 11, 18, 9))]
    now = ams(2026, 11, 18, 10)
    old = clock_state(OFFICE, 16.0, opened, now=now, pauses=pauses)
    new = clock_state(OFFICE, 4.0, opened, now=now, pauses=pauses)
    assert old.elapsed == new.elapsed == 2 * HOUR
    assert not new.breached
    assert new.due_at == ams(2026, 11, 18, 12, 0)  # 1 h Monday + 3 h from Wednesday 09:00
    # the pause is not lost: without it the same policy would be breached already
    assert clock_state(OFFICE, 4.0, opened, now=now).breached


def test_bug_zammad_1620_no_escalation_after_a_human_response() -> None:
    opened = ams(2026, 11, 16, 9)
    answered = ams(2026, 11, 16, 9, 45)
    late = ams(2026, 11, 17, 17)
    clock = clock_state(OFFICE, 2.0, opened, now=late, stopped_at=answered)
    assert clock.met is True
    assert due_escalations("c1", "finance", clock, fired=[], today=late.date()) == []
    running = clock_state(OFFICE, 2.0, opened, now=late)
    assert [e.step.action for e in due_escalations("c1", "finance", running, [], late.date())] == [
        "owner",
        "team_lead",
        "reassign",
    ]


# -- the ladder and the budget ----------------------------------------------------------------
def test_ladder_steps_fire_once_in_order() -> None:
    opened = ams(2026, 11, 16, 9)
    clock = clock_state(OFFICE, 4.0, opened, now=ams(2026, 11, 16, 11, 5))  # 2h05 of 4h
    steps = due_escalations("c", "t", clock, [], date(2026, 11, 16))
    assert [s.step.action for s in steps] == ["owner"]
    assert due_escalations("c", "t", clock, ["owner"], date(2026, 11, 16)) == []
    assert [s.fraction for s in DEFAULT_LADDER] == [0.5, 1.0, 1.5]


def test_no_escalation_while_paused() -> None:
    opened = ams(2026, 11, 16, 9)
    clock = clock_state(
        OFFICE, 1.0, opened, now=ams(2026, 11, 17, 9), pauses=[Pause(ams(2026, 11, 16, 9, 40))]
    )
    assert clock.paused
    assert due_escalations("c", "t", clock, [], date(2026, 11, 17)) == []


def test_alert_budget_per_team_per_day() -> None:
    budget = AlertBudget(per_team_per_day=2)
    opened = ams(2026, 11, 16, 9)
    clock = clock_state(OFFICE, 1.0, opened, now=ams(2026, 11, 16, 17))
    day = date(2026, 11, 16)
    alerts = [
        e
        for i in range(3)
        for e in due_escalations(f"c{i}", "finance", clock, ["team_lead", "reassign"], day)
    ]
    assert [budget.take(e) for e in alerts] == [True, True, False]
    other_team = due_escalations("x", "warehouse", clock, ["team_lead", "reassign"], day)
    assert budget.take(other_team[0]) is True
    next_day = due_escalations(
        "c0", "finance", clock, ["team_lead", "reassign"], day + timedelta(days=1)
    )
    assert budget.take(next_day[0]) is True
    reassign = due_escalations("c9", "finance", clock, ["owner", "team_lead"], day)
    assert budget.take(reassign[0]) is True  # a reassignment is never held back


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        business_seconds(OFFICE, datetime(2026, 1, 5, 9), datetime(2026, 1, 6, 9, tzinfo=UTC))


def test_clock_arrays_agree_with_clock_state() -> None:
    import numpy as np
    from bench.bench_cases import NOW, make_cases

    from klantreis.act.sla import clock_arrays

    c = make_cases(400, seed=3)
    targets = np.full(400, 8.0)
    out = clock_arrays(
        OFFICE,
        targets,
        c["started"],
        NOW.timestamp(),
        None,
        c["pause_case"],
        c["pause_start"],
        c["pause_end"],
    )
    for i in range(400):
        mine = c["pause_case"] == i
        pauses = [
            Pause(
                datetime.fromtimestamp(a, UTC),
                None if np.isnan(b) else datetime.fromtimestamp(b, UTC),
            )
            for a, b in zip(c["pause_start"][mine], c["pause_end"][mine], strict=True)
        ]
        st = clock_state(
            OFFICE, 8.0, datetime.fromtimestamp(c["started"][i], UTC), NOW, None, pauses
        )
        assert out.elapsed[i] == pytest.approx(st.elapsed, abs=1e-3)
        assert bool(out.paused[i]) is st.paused
        if st.due_at is None:
            assert np.isnan(out.due[i])
        else:
            assert out.due[i] == pytest.approx(st.due_at.timestamp(), abs=1e-3)
