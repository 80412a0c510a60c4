"""Case rules, their evaluation (full and per batch, idempotent), the case store and its
events, escalations and outcomes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from tests.act.helpers import T0, ev, late_parcel, load, story

from klantreis.act import cases, outcomes
from klantreis.act.engine import phrase_pattern, rule_triggers
from klantreis.act.rules import (
    CaseRulesError,
    check_case_rules,
    default_case_rules,
    load_case_rules,
    parse_case_rules,
)
from klantreis.act.runner import cases_for_batch, evaluate_cases, run_escalations
from klantreis.app import App
from klantreis.model.events import events_from_records


@pytest.fixture
def rules(app: App) -> cases.CaseRules:  # type: ignore[name-defined]
    return default_case_rules(app.journey)


def _by_rule(app: App, rules: object) -> dict[tuple[str, str], str]:
    table = rule_triggers(app.events_table(), rules, app.journey)  # type: ignore[arg-type]
    return {(r["rule_id"], r["journey_id"]): r["owner"] for r in table.to_pylist()}


# -- configuration ----------------------------------------------------------------------------
def test_shipped_rules_are_valid_against_the_demo_journey(app: App) -> None:
    rules = default_case_rules(app.journey)
    assert {r.type for r in rules.rules} == {
        "score",
        "text",
        "repeat_contact",
        "broken_promise",
        "event",
    }
    assert check_case_rules(None, app.journey) == []


def test_bad_rules_list_every_problem(app: App, tmp_path: Path) -> None:
    text = """
[[sla]]
id = "s"
first_action_hours = 4
resolution_hours = 8

[[rules]]
id = "a"
name_nl = "A"
name_en = "A"
type = "score"
metric = "nps"
sla = "nope"

[[rules]]
id = "b"
name_nl = "B"
name_en = "B"
type = "event"
kinds = ["x.y"]
sla = "s"
owner = "carrier:onbekend"
"""
    with pytest.raises(CaseRulesError) as err:
        parse_case_rules(text)
    assert any("exactly one of 'at_most' and 'at_least'" in p for p in err.value.problems)
    fixed = text.replace('metric = "nps"\nsla = "nope"', 'metric = "nps"\nat_most = 6\nsla = "s"')
    path = tmp_path / "rules.toml"
    path.write_text(fixed)
    problems = check_case_rules(path, app.journey)
    assert problems == [
        "rule 'b': owner 'carrier:onbekend' is not an owner of the journey configuration"
        " (known: step, broken_step, carrier:pakketdirect, carrier:snelpost,"
        " carrier:vlotbezorgd, customer_service, finance, marketing, warehouse, webshop)"
    ]
    assert check_case_rules(tmp_path / "missing.toml") == ["file not found"]
    path.write_text("not [toml")
    assert check_case_rules(path)[0].startswith("not valid TOML")


def test_calendar_errors_are_readable() -> None:
    bad = '[calendar]\nmonday = "09:00-08:00"\nholidays = ["sinterklaas"]\n'
    with pytest.raises(CaseRulesError, match="calendar"):
        parse_case_rules(bad)
    assert load_case_rules("").business_calendar().timezone == "Europe/Amsterdam"


# -- evaluation -------------------------------------------------------------------------------
def test_each_rule_finds_its_journeys_and_the_owner_who_can_fix_it(app: App, rules: object) -> None:
    load(app, story())
    found = _by_rule(app, rules)
    assert found == {
        ("criticus", "J1"): "carrier:vlotbezorgd",  # detractor of a late parcel -> the carrier
        ("belofte_gebroken", "J1"): "carrier:vlotbezorgd",
        ("belofte_gebroken", "J2"): "carrier:vlotbezorgd",
        ("veel_moeite", "J4"): "customer_service",  # on time: no broken step, fallback
        ("alarmwoord", "J5"): "customer_service",  # "KAPOTTE" matches "kapot"
        ("factuur_onbestelbaar", "J6"): "finance",  # the step's owner from the journey file
        ("herhaald_contact", "J7"): "customer_service",  # J8's second contact came 16 days later
    }


def test_a_broken_promise_opens_a_case_only_when_the_customer_contacted_us(
    app: App, rules: object
) -> None:
    """The shipped default is narrow (only_if = ["contact"]): a late parcel nobody asked
    about opens no case; one the customer called about does; a detractor's late parcel
    gets its case from 'criticus' (routed to the carrier)."""
    load(app, late_parcel("Q1", "D1", contact=False))
    load(app, late_parcel("Q2", "D2", score=4, contact=False))
    load(app, late_parcel("Q3", "D3"))
    found = _by_rule(app, rules)
    assert found == {
        ("criticus", "Q2"): "carrier:vlotbezorgd",
        ("belofte_gebroken", "Q3"): "carrier:vlotbezorgd",
    }
    table = rule_triggers(app.events_table(), rules, app.journey)  # type: ignore[arg-type]
    q3 = next(r for r in table.to_pylist() if r["journey_id"] == "Q3")
    # the later of the two moments: the late delivery (+50 h) after the call (+30 h)
    assert q3["triggered_at"] == T0 + timedelta(hours=50)


def test_only_if_detractor_and_every_broken_promise(app: App) -> None:
    base = default_case_rules(app.journey)
    rule = base.rule("belofte_gebroken")
    assert rule is not None and rule.only_if == ["contact"]
    every = base.model_copy(update={"rules": [rule.model_copy(update={"only_if": []})]})
    detractor = base.model_copy(
        update={"rules": [rule.model_copy(update={"only_if": ["detractor"]})]}
    )
    load(app, late_parcel("Q1", "D1", contact=False))
    load(app, late_parcel("Q2", "D2", score=4, contact=False))
    assert set(_by_rule(app, every)) == {("belofte_gebroken", "Q1"), ("belofte_gebroken", "Q2")}
    assert set(_by_rule(app, detractor)) == {("belofte_gebroken", "Q2")}
    with pytest.raises(ValueError, match="only_if"):
        parse_case_rules(
            '[[sla]]\nid = "standaard"\nfirst_action_hours = 1\nresolution_hours = 2\n'
            '[[rules]]\nid = "a"\nname_nl = "A"\nname_en = "A"\ntype = "event"\n'
            'kinds = ["x.y"]\nonly_if = ["contact"]\n'
        )


def test_phrases_match_at_word_starts_only() -> None:
    import re

    pattern = re.compile(phrase_pattern(["kapot", "nooit meer"]).replace(r"\p{L}\p{N}", r"\w"))
    assert pattern.search("doos was kapotte")
    assert pattern.search("ik bestel hier nooit meer")
    assert not pattern.search("onkapot")


def test_evaluating_again_opens_no_duplicate(app: App, rules: object) -> None:
    load(app, story())
    first = evaluate_cases(app, rules)  # type: ignore[arg-type]
    again = evaluate_cases(app, rules)  # type: ignore[arg-type]
    assert len(first.opened) == 7 and again.opened == []
    assert app.store.query("SELECT count(*) AS n FROM cases").to_pylist()[0]["n"] == 7
    opened = app.store.query("SELECT count(*) AS n FROM events WHERE kind = 'case.opened'")
    assert opened.to_pylist()[0]["n"] == 7


def test_incremental_evaluation_touches_only_the_batch(app: App, rules: object) -> None:
    load(app, story())
    evaluate_cases(app, rules)  # type: ignore[arg-type]
    batch = events_from_records(late_parcel("J9", "C9", score=2))
    load(app, batch.to_pylist())
    run = cases_for_batch(app, rules, batch)  # type: ignore[arg-type]
    assert run.triggered == 2  # criticus and belofte_gebroken of J9 only
    assert len(run.opened) == 2
    assert cases_for_batch(app, rules, batch).opened == []  # type: ignore[arg-type]
    partial = evaluate_cases(app, rules, journeys=["J3"])  # type: ignore[arg-type]
    assert partial.triggered == 0


def test_case_events_carry_no_personal_data(app: App, rules: object) -> None:
    load(app, story())
    evaluate_cases(app, rules)  # type: ignore[arg-type]
    case = cases.list_cases(app.store, owner="finance")[0]
    cases.add_note(
        app, rules, case.case_id, "Klant heet Jan, 06-12345678", "anna", at=T0 + timedelta(days=2)
    )  # type: ignore[arg-type]
    rows = app.store.query(
        "SELECT text, attrs FROM events WHERE kind LIKE 'case.%' AND attrs LIKE '%' || ? || '%'",
        [case.case_id],
    ).to_pylist()
    assert len(rows) == 2  # opened, first_action
    assert all(
        r["text"] is None and "06-" not in r["attrs"] and "anna" not in r["attrs"] for r in rows
    )


# -- the life of a case -----------------------------------------------------------------------
def test_statuses_pauses_and_closure_are_events(app: App, rules: object) -> None:
    load(app, story())
    evaluate_cases(app, rules)  # type: ignore[arg-type]
    cid = cases.case_id_for("criticus", "J1")
    day = T0 + timedelta(days=3)
    cases.set_status(app, rules, cid, "waiting_third_party", "anna", at=day)  # type: ignore[arg-type]
    cases.set_status(app, rules, cid, "waiting_customer", "anna", at=day + timedelta(hours=1))  # type: ignore[arg-type]
    cases.set_status(app, rules, cid, "in_progress", "anna", at=day + timedelta(hours=5))  # type: ignore[arg-type]
    with pytest.raises(cases.CaseError, match="root-cause"):
        cases.set_status(app, rules, cid, "closed", "anna", at=day + timedelta(hours=6))  # type: ignore[arg-type]
    cases.set_status(
        app, rules, cid, "closed", "anna", at=day + timedelta(hours=6), root_cause="te_laat_bezorgd"
    )  # type: ignore[arg-type]
    kinds = (
        app.store.query(
            "SELECT kind FROM events WHERE json_extract_string(attrs, '$.case_id') = ?"
            " ORDER BY occurred_at, kind",
            [cid],
        )
        .column("kind")
        .to_pylist()
    )
    assert kinds == [
        "case.opened",
        "case.first_action",
        "case.paused",
        "case.resumed",
        "case.closed",
    ]
    case = cases.get_case(app.store, cid)
    assert case is not None and case.status == "closed" and case.root_cause == "te_laat_bezorgd"
    assert [(p.start, p.end) for p in case.pauses()] == [(day, day + timedelta(hours=5))]
    with pytest.raises(cases.CaseError, match="closed"):
        cases.add_note(app, rules, cid, "nog iets", "anna")  # type: ignore[arg-type]


def test_automatic_actions_do_not_stop_the_first_action_clock(app: App, rules: object) -> None:
    load(app, story())
    evaluate_cases(app, rules)  # type: ignore[arg-type]
    cid = cases.case_id_for("factuur_onbestelbaar", "J6")
    cases.add_note(
        app,
        rules,
        cid,
        "Automatisch bericht verstuurd",
        "klantreis",
        at=T0 + timedelta(days=1, hours=1),
        automatic=True,
    )  # type: ignore[arg-type]
    case = cases.get_case(app.store, cid)
    assert case is not None and case.first_action_at is None
    cases.add_note(app, rules, cid, "Gebeld", "anna", at=T0 + timedelta(days=1, hours=2))  # type: ignore[arg-type]
    case = cases.get_case(app.store, cid)
    assert case is not None and case.first_action_at == T0 + timedelta(days=1, hours=2)


def test_policy_change_keeps_the_pause(app: App, rules: object) -> None:
    load(app, story())
    evaluate_cases(app, rules)  # type: ignore[arg-type]
    cid = cases.case_id_for("factuur_onbestelbaar", "J6")  # opened Tue 17 Nov 15:00 UTC
    cases.set_status(
        app, rules, cid, "waiting_customer", "anna", at=T0 + timedelta(days=1, hours=7)
    )  # type: ignore[arg-type]
    cases.set_status(app, rules, cid, "in_progress", "anna", at=T0 + timedelta(days=3))  # type: ignore[arg-type]
    now = T0 + timedelta(days=3, hours=1)
    before = cases.case_clocks(cases.get_case(app.store, cid), rules, now)["resolution"]  # type: ignore[arg-type]
    cases.change_policy(app, rules, cid, "snel", "lead", at=now)  # type: ignore[arg-type]
    after = cases.case_clocks(cases.get_case(app.store, cid), rules, now)["resolution"]  # type: ignore[arg-type]
    assert before.elapsed == after.elapsed  # the pause is still left out
    assert before.target != after.target


def test_escalations_fire_once_and_respect_the_budget(app: App) -> None:
    text = (Path(__file__).parents[2] / "src/klantreis/act/rules.toml").read_text()
    tight = parse_case_rules(
        text.replace("alert_budget_per_team_per_day = 20", "alert_budget_per_team_per_day = 1"),
        journey=app.journey,
    )
    load(app, story())
    evaluate_cases(app, tight)
    now = T0 + timedelta(days=6)
    alerts = run_escalations(app, tight, now)
    per_team: dict[str, int] = {}
    for a in alerts:
        per_team[a.owner] = per_team.get(a.owner, 0) + 1
    assert per_team and max(per_team.values()) == 1
    assert run_escalations(app, tight, now) == []  # each step once
    held = app.store.query("SELECT count(*) AS n FROM case_log WHERE note = 'held'")
    assert held.to_pylist()[0]["n"] > 0
    reassigned = app.store.query("SELECT count(*) AS n FROM cases WHERE reassign")
    assert reassigned.to_pylist()[0]["n"] == 7


def test_no_escalation_after_a_human_action(app: App, rules: object) -> None:
    load(app, story())
    evaluate_cases(app, rules)  # type: ignore[arg-type]
    for case in cases.list_cases(app.store):
        cases.add_note(
            app, rules, case.case_id, "Opgepakt", "anna", at=case.opened_at + timedelta(minutes=5)
        )  # type: ignore[arg-type]
    assert run_escalations(app, rules, T0 + timedelta(days=30)) == []  # type: ignore[arg-type]


# -- outcomes ---------------------------------------------------------------------------------
def test_recovery_sla_repeat_contacts_and_backlog(app: App, rules: object) -> None:
    load(app, story())
    evaluate_cases(app, rules)  # type: ignore[arg-type]
    closed_at = T0 + timedelta(days=4)
    for case in cases.list_cases(app.store):
        cause = "factuur_fout" if case.owner == "finance" else "te_laat_bezorgd"
        cases.set_status(app, rules, case.case_id, "closed", "anna", at=closed_at, root_cause=cause)  # type: ignore[arg-type]
    load(
        app,
        [
            ev("J1-rs", 24 * 6, "survey.response", "J1", "C1", metric="nps", score=9),
            ev("J4-rs", 24 * 6, "survey.response", "J4", "C4", metric="ces", score=3),  # its scale
            ev("J5-rs", 24 * 6, "survey.response", "J5", "C5", metric="nps", score=3),
            ev("J7-c3", 24 * 5, "contact.inbound", "J7", "C7"),
        ],
    )
    table = {
        r["group"]: r
        for r in outcomes.outcome_table(app.store, rules, "owner", T0 + timedelta(days=10))
    }  # type: ignore[arg-type]
    vlot = table["carrier:vlotbezorgd"]
    assert vlot["recovered_9"]["n"] == 2  # J1's two cases (criticus, belofte_gebroken)
    assert vlot["recovered_9"]["value"] == 100.0 and vlot["recovered_9"]["ci_low"] < 100.0
    service = table["customer_service"]
    assert service["recovered_7"]["successes"] == 1 and service["recovered_7"]["n"] == 2
    assert service["recovered_9"]["successes"] == 0
    assert service["repeat_contact"]["successes"] == 1  # J7 called again within 7 days
    assert service["first_action_hours"]["n"] == 3
    backlog = outcomes.root_cause_backlog(app.store, rules)  # type: ignore[arg-type]
    assert [(b["root_cause"], b["owner"], b["cases"]) for b in backlog] == [
        ("te_laat_bezorgd", "carrier:vlotbezorgd", 6),
        ("factuur_fout", "finance", 1),
    ]
    due = outcomes.resurvey_requests(app.store, rules, T0 + timedelta(days=10))  # type: ignore[arg-type]
    assert {d["journey_id"] for d in due} == {"J2", "J6", "J7"}
    assert all(d["customer_id"] for d in due)
    assert outcomes.resurvey_requests(app.store, rules, closed_at + timedelta(days=1)) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("chunk", [5_000, 7])
def test_escalation_round_equals_the_case_by_case_ladder(
    app: App, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job's one-query, vectorised round fires exactly the steps the scalar clock and
    ``due_escalations`` give per case, on cases opened at every hour of two weeks, some
    acted on, some paused or closed, some with a step fired before; applied in one
    transaction or in chunks of a few cases."""
    from klantreis.act import runner
    from klantreis.act.sla import due_escalations

    monkeypatch.setattr(runner, "ESCALATION_CHUNK_CASES", chunk)

    rules = app.case_rules
    cases.ensure_schema(app.store)
    with app.store.transaction() as con:
        con.execute(
            "INSERT INTO cases (case_id, rule_id, journey_id, customer_id, owner, assignee, status,"
            " sla, trigger_event_id, triggered_at, opened_at, first_action_at, closed_at,"
            " root_cause, reassign, updated_at)"
            " SELECT 'c' || lpad(i::VARCHAR, 4, '0'), 'r', 'j' || i, 'k' || i,"
            " ['VlotBezorgd', 'Webshop', 'Klantenservice'][1 + i % 3], NULL,"
            " CASE WHEN i % 11 = 0 THEN 'closed' WHEN i % 7 = 0 THEN 'waiting_customer'"
            " ELSE 'open' END, CASE WHEN i % 2 = 0 THEN 'snel' ELSE 'standaard' END,"
            " 'e' || i, ?::TIMESTAMPTZ + i * INTERVAL 1 HOUR, ?::TIMESTAMPTZ + i * INTERVAL 1 HOUR,"
            " CASE WHEN i % 5 = 0 THEN ?::TIMESTAMPTZ + i * INTERVAL 1 HOUR + INTERVAL 10 MINUTE"
            " END, NULL, NULL, false, ?::TIMESTAMPTZ FROM range(336) r(i)",
            [T0, T0, T0, T0],
        ).fetchall()
        con.execute(  # a step fired (held) before on some cases
            "INSERT INTO case_log (case_id, seq, happened_at, action, automatic, note, value)"
            " SELECT case_id, 1, opened_at, 'escalated', true, 'held', 'owner' FROM cases"
            " WHERE right(case_id, 1) IN ('3', '8')"
        ).fetchall()
    now = T0 + timedelta(days=14, hours=5)
    expected: dict[str, set[str]] = {}
    for case in cases.with_logs(app.store, cases.list_cases(app.store, limit=10_000)):
        if case.status != "open" or case.first_action_at is not None:
            continue
        fired = [e["value"] for e in case.log if e["action"] == "escalated"]
        clock = cases.case_clocks(case, rules, now)["first_action"]
        steps = due_escalations(case.case_id, case.owner, clock, fired, now.date())
        if steps:
            expected[case.case_id] = {s.step.action for s in steps}
    assert len(expected) > 50 and any(len(v) == 1 for v in expected.values())
    run_escalations(app, rules, now)
    rows = app.store.query(
        "SELECT case_id, list(value) AS steps FROM case_log WHERE action = 'escalated'"
        " AND happened_at = ? GROUP BY case_id",
        [now],
    ).to_pylist()
    assert {r["case_id"]: set(r["steps"]) for r in rows} == expected
    assert run_escalations(app, rules, now + timedelta(minutes=5)) == []


def test_escalation_chunks_never_split_a_case() -> None:
    from klantreis.act.runner import _chunks

    ids = ["a", "a", "b", "c", "c", "c", "d"]
    assert _chunks(ids, 2) == [(0, 3), (3, 7)]
    assert _chunks(ids, 1) == [(0, 2), (2, 3), (3, 6), (6, 7)]
    assert _chunks(ids, 10) == [(0, 7)]
    assert _chunks([], 3) == []
