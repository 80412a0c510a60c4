from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from klantreis.app import App
from klantreis.contacts import rootcause as rc
from klantreis.contacts.data import attr_values, contacts_frame, parse_attrs
from klantreis.contacts.labels import assign_reasons
from klantreis.contacts.metrics import orders_frame
from klantreis.contacts.taxonomy import default_taxonomy

from .helpers import at, contact, event, load

WAAR = "waar_is_mijn_pakket"
VLOT, SNEL = "carrier:vlotbezorgd", "carrier:snelpost"
OWNERS = [VLOT, VLOT, VLOT, SNEL, SNEL, SNEL, SNEL, VLOT, VLOT, VLOT]
LATE = {0, 1, 2, 3}


def journey_events(i: int) -> list[dict]:
    j = f"J{i}"
    deadline = at(i + 3).isoformat()
    out = [
        event("order.placed", j, i),
        event("delivery.promised", j, i + 1, owner=OWNERS[i], attrs={"deadline": deadline}),
    ]
    if i != 3:  # J3 is never delivered
        out.append(event("delivery.completed", j, i + (5 if i in LATE else 2), owner=OWNERS[i]))
    return out


@pytest.fixture
def setup(app: App) -> tuple:
    records = [e for i in range(10) for e in journey_events(i)]
    records += [contact(f"J{i}", i + 4, WAAR) for i in (0, 1, 2)]  # after the deadline
    records += [
        contact("J3", 3 + 2, WAAR),  # before J3's deadline (day 6): does not count
        contact("J5", 5 + 1.5, WAAR),
    ]  # on-time journey
    load(app, records)
    ev = app.events_table()
    contacts = assign_reasons(contacts_frame(ev), default_taxonomy())
    conds = rc.condition_times(ev, app.journey)
    return contacts, conds, orders_frame(ev)["journey_id"]


def test_broken_promise_is_a_condition_with_its_moment_and_owner(setup: tuple) -> None:
    _, conds, _ = setup
    broken = conds[conds["condition"] == "broken:op_tijd_bezorgd"].set_index("journey_id")
    assert sorted(broken.index) == ["J0", "J1", "J2", "J3"]
    assert broken.loc["J0", "at"] == at(3) and broken.loc["J3", "owner"] == SNEL
    assert "kind:order.placed" not in set(conds["condition"])


def test_lift_and_its_confidence_interval(setup: tuple) -> None:
    contacts, conds, journeys = setup
    table = rc.root_causes(contacts, conds, journeys, min_contacts=1)
    row = table[(table["reason"] == WAAR) & (table["condition"] == "broken:op_tijd_bezorgd")].iloc[
        0
    ]
    # 3 of 5 contacts had a broken promise before them; 4 of 10 journeys have one.
    assert (row["with_condition"], row["contacts"]) == (3, 5)
    assert row["lift"] == pytest.approx(0.6 / 0.4)
    se = math.sqrt(1 / 3 - 1 / 5 + 1 / 4 - 1 / 10)
    assert row["ci_low"] == pytest.approx(1.5 * math.exp(-1.959964 * se), rel=1e-5)
    assert row["ci_high"] == pytest.approx(1.5 * math.exp(1.959964 * se), rel=1e-5)
    assert row["attributable"] == pytest.approx(0.6 * 0.5 / 1.5)


def test_owner_breakdown_names_the_concentrating_carrier(setup: tuple) -> None:
    contacts, conds, journeys = setup
    owners = rc.owner_breakdown(contacts, conds, WAAR, "broken:op_tijd_bezorgd", journeys)
    top = owners.iloc[0]
    assert top["owner"] == VLOT and top["contacts"] == 3 and top["journeys"] == 6
    assert top["expected"] == pytest.approx(1.8) and top["excess"] == pytest.approx(1.2)
    assert top["lift"] == pytest.approx(1 / 0.6)
    assert owners.set_index("owner").loc[SNEL, "contacts"] == 0


def test_top_causes_need_a_significant_lift(setup: tuple) -> None:
    contacts, conds, journeys = setup
    table = rc.root_causes(contacts, conds, journeys, min_contacts=1)
    assert rc.top_causes(table, WAAR) == []  # 5 contacts: the CI includes 1
    strong = table.assign(ci_low=2.0, lift=3.0, precondition_of=None)
    assert rc.top_causes(strong, WAAR, limit=1)[0].condition == "broken:op_tijd_bezorgd"


_IDS = st.sampled_from(["j1", "j2", "j3", "é", "", "j-10"])


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), _IDS), max_size=12),
    journeys=st.lists(_IDS, max_size=8),
    arrow=st.booleans(),
)
def test_membership_by_arrow_equals_pandas_isin(
    values: list[str | None], journeys: list[str], arrow: bool
) -> None:
    """The population filter (Arrow's hash set) selects what ``isin(set(journeys))`` did,
    on Arrow-backed and object columns alike, and counts the distinct journeys."""
    series = pd.Series(values, dtype="string[pyarrow]" if arrow else object)
    pop = rc._population(pd.Series(journeys, dtype="string[pyarrow]" if arrow else object))
    assert len(pop) == len(set(journeys))
    expected = series.isin(set(journeys)).to_numpy(dtype=bool)
    assert rc._member(series, pop).tolist() == expected.tolist()
    assert rc._member(series, rc._population(set(journeys))).tolist() == expected.tolist()


_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.lists(st.integers(), max_size=2),
)

KEYS = ("deadline", "x")


@settings(max_examples=150, deadline=None)
@given(
    attrs=st.one_of(
        st.dictionaries(st.sampled_from(["deadline", "x", "y"]), _JSON_VALUES, max_size=3).map(
            json.dumps
        ),
        st.text(max_size=12),
        st.sampled_from(['{"deadline": "\\ud800"}', '{"deadline": 1e400}', "[1]", "", "null"]),
        st.none(),
    )
)
def test_fast_attribute_read_equals_parse_attrs(attrs: str | None) -> None:
    """The attribute read (orjson; json for floats, containers, refused texts) gives what
    parse_attrs gave: same type, same value (repr: NaN equals NaN, 1 differs from 1.0)."""
    parsed = parse_attrs(attrs)
    for fast, key in zip(attr_values(attrs, KEYS), KEYS, strict=True):
        slow = parsed.get(key)
        assert type(fast) is type(slow)
        assert repr(fast) == repr(slow)
