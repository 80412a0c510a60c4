"""Proactive messages: signals from the log, a stable randomised holdout, consent first, and
an effect reported only against the holdout, with its interval."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from klantreis.act import proactive
from klantreis.act.proactive import (
    ProactiveConfigError,
    arm_of,
    holdout_report,
    parse_proactive_config,
)
from klantreis.analytics.backend import duckdb_events
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.model.journey import parse_journey_config
from klantreis.store import EventStore

JOURNEY = parse_journey_config(
    resources.files("klantreis.demo").joinpath("journey.toml").read_text("utf-8")
)
RULES = """
[[rule]]
id = "pakket_te_laat"
name_nl = "Pakket dreigt te laat"
name_en = "Parcel about to be late"
signal = "promise"
promise = "op_tijd_bezorgd"
lead_hours = 4
holdout = 0.2
salt = "test"
outcome_reasons = ["waar_is_mijn_pakket"]
text = { nl = "Je pakket {order} is later dan beloofd.", en = "Your parcel {order} is later than promised." }
"""
T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


def _store(
    tmp_path: Path, n: int, effect: float, seed: int = 1, holdout: float = 0.2
) -> tuple[EventStore, proactive.ProactiveConfig]:
    """``n`` orders; 40% late (delivered 12 h after the deadline), 10% delivered in the last
    4 hours before it (a false alarm); late ones ask "waar is mijn pakket?" with chance 0.5,
    or 0.5 * (1 - effect) when the rule's arm is ``message``."""
    config = parse_proactive_config(RULES.replace("holdout = 0.2", f"holdout = {holdout}"))
    rule = config.rules[0]
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        j, c = f"O{i:06d}", f"K{i:06d}"
        t = T0 + timedelta(minutes=7 * i)
        deadline = t + timedelta(hours=48)
        u = rng.random()
        late = u < 0.4
        delivered = (
            deadline + timedelta(hours=12)
            if late
            else (deadline - timedelta(hours=2) if u < 0.5 else deadline - timedelta(hours=20))
        )
        base = {"customer_id": c, "journey_id": j}
        records += [
            {**base, "event_id": f"{j}-o", "occurred_at": t, "kind": "order.placed"},
            {
                **base,
                "event_id": f"{j}-p",
                "occurred_at": t + timedelta(hours=1),
                "kind": "delivery.promised",
                "owner": "carrier:vlotbezorgd",
                "attrs": {"deadline": deadline.isoformat()},
            },
            {
                **base,
                "event_id": f"{j}-d",
                "occurred_at": delivered,
                "kind": "delivery.completed",
                "owner": "carrier:vlotbezorgd",
            },
        ]
        p = 0.5 * (1 - effect) if arm_of(rule, j) == "message" else 0.5
        if late and rng.random() < p:
            records.append(
                {
                    **base,
                    "event_id": f"{j}-c",
                    "occurred_at": deadline + timedelta(hours=2),
                    "kind": "contact.inbound",
                    "channel": "phone",
                    "attrs": {"reason": "waar_is_mijn_pakket"},
                }
            )
    store = EventStore(tmp_path / f"s{seed}-{n}.duckdb")
    ingest_table(store, events_from_records(records), JOURNEY, "test")
    return store, config


NOW = T0 + timedelta(days=40)


def test_the_arm_draw_is_stable_uniform_and_blind_to_the_order() -> None:
    rule = parse_proactive_config(RULES).rules[0]
    ids = [f"HH{i:08d}" for i in range(40_000)]
    arms = [arm_of(rule, j) for j in ids]
    assert arms == [arm_of(rule, j) for j in ids]  # stable
    share = arms.count("holdout") / len(arms)
    se = (0.2 * 0.8 / len(arms)) ** 0.5
    assert abs(share - 0.2) < 4 * se  # uniform: 0.2 within 4 standard errors
    # blind to anything about the order: even and odd order numbers get the same share
    even = Counter(a for j, a in zip(ids, arms, strict=True) if int(j[-1]) % 2 == 0)
    odd = Counter(a for j, a in zip(ids, arms, strict=True) if int(j[-1]) % 2 == 1)
    assert abs(even["holdout"] / sum(even.values()) - odd["holdout"] / sum(odd.values())) < 0.02
    # a new salt is a new experiment: the arms are reshuffled
    other = rule.model_copy(update={"salt": "again"})
    moved = sum(arm_of(other, j) != a for j, a in zip(ids, arms, strict=True))
    assert 0.25 < moved / len(ids) < 0.4  # 2 * 0.2 * 0.8 = 0.32 expected


def test_signals_are_the_promises_still_open_lead_hours_before_their_deadline(
    tmp_path: Path,
) -> None:
    store, config = _store(tmp_path, 400, effect=0.0)
    with store:
        found = proactive.signals(duckdb_events(store), JOURNEY, config, NOW)
        late_or_close = (
            store.query(
                """SELECT count(*) AS n FROM events d JOIN events p USING (journey_id)
               WHERE d.kind = 'delivery.completed' AND p.kind = 'delivery.promised'
                 AND d.occurred_at > CAST(json_extract_string(p.attrs, '$.deadline')
                     AS TIMESTAMPTZ) - INTERVAL 4 HOUR"""
            )
            .column("n")[0]
            .as_py()
        )
        assert found.num_rows == late_or_close > 0
        # nothing signals before its moment: an earlier "now" sees fewer
        early = proactive.signals(duckdb_events(store), JOURNEY, config, T0 + timedelta(hours=60))
        assert 0 < early.num_rows < found.num_rows


def test_deciding_twice_stores_nothing_new_and_consent_comes_first(tmp_path: Path) -> None:
    store, config = _store(tmp_path, 400, effect=0.0)
    refused = {f"K{i:06d}" for i in range(0, 400, 5)}

    def may_contact(customer: str, purpose: str, channel: str) -> tuple[bool, str | None]:
        assert (purpose, channel) == ("service", "email")
        return (False, "objected") if customer in refused else (True, None)

    with store:
        first, stored = proactive.run(store, JOURNEY, config, NOW, may_contact)
        assert stored.stored == len(first) > 0
        again, stored_again = proactive.run(store, JOURNEY, config, NOW, may_contact)
        assert again == [] and stored_again.stored == 0
        arms = Counter(d.arm for d in first)
        assert all(d.reason == "objected" for d in first if d.arm == "ineligible")
        assert {d.customer_id for d in first if d.arm == "ineligible"} <= refused
        assert not any(d.customer_id in refused for d in first if d.arm != "ineligible")
        report = holdout_report(store, JOURNEY, config.rules[0], min_per_arm=5)
        assert report.arms["ineligible"].journeys == arms["ineligible"]
        assert report.arms["message"].journeys == arms["message"]


@pytest.mark.slow
def test_a_real_effect_is_found_with_an_interval_that_covers_it(tmp_path: Path) -> None:
    store, config = _store(tmp_path, 6000, effect=0.5, seed=3)
    with store:
        proactive.run(store, JOURNEY, config, NOW)
        report = holdout_report(store, JOURNEY, config.rules[0])
    # true effect: late share among signals (0.4/0.5 = 0.8) x 0.5 x 0.5 = -20 contacts per 100
    assert report.reason is None and report.significant
    assert report.ci_low is not None and report.ci_high is not None
    assert report.ci_low < -20 < report.ci_high < 0
    assert report.avoided is not None and report.avoided > 0
    assert report.avoided_low is not None and report.avoided_low > 0
    assert report.saved == pytest.approx(report.avoided * 6.50)  # all contacts by phone
    # false alarms: messaged signals whose parcel then came on time (1 in 5 signals)
    assert report.false_alarm_rate is not None and 0.15 < report.false_alarm_rate < 0.25


def test_no_effect_is_not_called_one(tmp_path: Path) -> None:
    store, config = _store(tmp_path, 3000, effect=0.0, seed=4)
    with store:
        proactive.run(store, JOURNEY, config, NOW)
        report = holdout_report(store, JOURNEY, config.rules[0])
    assert report.ci_low is not None and report.ci_high is not None
    assert report.ci_low < 0 < report.ci_high


def test_without_a_holdout_no_contacts_avoided_are_claimed(tmp_path: Path) -> None:
    store, config = _store(tmp_path, 300, effect=0.5, holdout=0.0)
    with store:
        proactive.run(store, JOURNEY, config, NOW)
        report = holdout_report(store, JOURNEY, config.rules[0])
    assert report.reason == "no_holdout"
    assert report.avoided is None and report.saved is None and report.diff_per_100 is None
    assert report.arms["message"].journeys > 0


def test_rules_are_validated_with_every_problem() -> None:
    with pytest.raises(ProactiveConfigError, match="needs a promise"):
        parse_proactive_config(RULES.replace('promise = "op_tijd_bezorgd"\n', ""))
    with pytest.raises(ProactiveConfigError, match="unknown promise 'nope'"):
        parse_proactive_config(RULES.replace("op_tijd_bezorgd", "nope"), journey=JOURNEY)
    with pytest.raises(ProactiveConfigError, match="holdout"):
        parse_proactive_config(RULES.replace("holdout = 0.2", "holdout = 1.5"))


def test_the_message_names_the_order_in_the_customers_language() -> None:
    rule = parse_proactive_config(RULES).rules[0]
    assert proactive.message_for(rule, "en", "HH1")[1] == "Your parcel HH1 is later than promised."
    assert proactive.message_for(rule, "nl-BE", "HH1")[1] == "Je pakket HH1 is later dan beloofd."
    assert proactive.message_for(rule, "de", "HH1")[0] == "Pakket dreigt te laat"


def test_the_decision_filter_selects_exactly_the_three_decision_kinds() -> None:
    import duckdb

    near = ["proactive.held", "proactive.other", "proactive.sent.x", "order.placed", "z"]
    kinds = [*proactive.KIND_OF_ARM.values(), *near]
    con = duckdb.connect()
    con.execute("CREATE TABLE events AS SELECT unnest(?::VARCHAR[]) AS kind", [kinds])
    rows = con.execute(f"SELECT kind FROM events WHERE {proactive._DECISION_KINDS}").fetchall()
    assert sorted(k for (k,) in rows) == sorted(proactive.KIND_OF_ARM.values())


def test_the_decision_filter_is_pushed_into_the_scan_not_only_optional() -> None:
    """An ``IN`` list alone is an optional scan filter in DuckDB (every row's ``attrs`` was
    read: 9 CPU s and 3 GB at 100M events); the range must reach the scan as a real filter."""
    import duckdb

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE events AS SELECT CASE WHEN i % 2 = 0 THEN 'a' ELSE 'z' END AS kind,"
        " '{}' AS attrs FROM range(10) t(i)"
    )
    plan = con.execute(f"EXPLAIN SELECT attrs FROM events WHERE {proactive._DECISION_KINDS}")
    scan = plan.fetchall()[0][1].split("Seq Scan")[1]
    assert f"(kind >= '{min(proactive.KIND_OF_ARM.values())}')" in scan


def _outcomes_from_the_log(store: EventStore, rule: proactive.Rule) -> dict[str, tuple[Any, ...]]:
    """The reference of ``_outcomes``: per decided journey (its first decision), the
    outcome contacts in the window and the first NPS after the signal, from the events."""
    ev = store.events().to_pandas()
    attrs = [json.loads(a) if isinstance(a, str) else {} for a in ev["attrs"]]
    decided: dict[str, tuple[Any, str]] = {}
    for row, a in zip(ev.itertuples(), attrs, strict=True):
        if row.kind in proactive.KIND_OF_ARM.values() and a.get("rule") == rule.id:
            at, kind = decided.get(a["journey_id"], (row.occurred_at, row.kind))
            decided[a["journey_id"]] = min((at, kind), (row.occurred_at, row.kind))
    out: dict[str, tuple[Any, ...]] = {}
    for j, (signal, kind) in decided.items():
        window = signal + timedelta(days=rule.outcome_days)
        mine = [
            r
            for r, a in zip(ev.itertuples(), attrs, strict=True)
            if r.journey_id == j
            and r.kind == "contact.inbound"
            and signal <= r.occurred_at < window
            and (not rule.outcome_reasons or a.get("reason") in rule.outcome_reasons)
        ]
        out[j] = (kind, len(mine), sorted(r.channel for r in mine))
    return out


def test_the_outcomes_read_only_near_the_decided_journeys_are_the_logs(tmp_path: Path) -> None:
    """``_outcomes`` bounds the contacts' scan by the decided journeys' key range and first
    signal (constants DuckDB skips row groups by): the rows are those of the log, and with
    no decision it reads nothing and returns no row."""
    store, config = _store(tmp_path, 400, effect=0.5)
    rule = config.rules[0]
    with store:
        empty = proactive._outcomes(store, rule)
        assert empty.num_rows == 0
        assert empty.column_names == ["journey_id", "kind", "contacts", "channels", "nps"]
        proactive.run(store, JOURNEY, config, NOW)
        table = proactive._outcomes(store, rule).to_pylist()
        ref = _outcomes_from_the_log(store, rule)
    assert len(table) == len(ref) > 20
    assert sum(r["contacts"] for r in table) > 10
    for r in table:
        assert (r["kind"], r["contacts"], sorted(r["channels"] or [])) == ref[r["journey_id"]]
