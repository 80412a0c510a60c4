"""The kept contacts equal their portable reference (``assign_reasons(contacts_frame(...))``)
after every append: random batches of contacts (texts, source reasons known and unknown,
contact ids in the attributes or not, tied time stamps) and human labels (for contacts stored
before, in the same batch or later; relabelled; ties), repeated event ids, quarantined rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.journeys.logs import T0, ev

from klantreis.app import App
from klantreis.contacts import derived
from klantreis.contacts.data import contacts_frame
from klantreis.contacts.derived import ContactViews
from klantreis.contacts.labels import app_queue, assign_reasons, labelling_queue
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.settings import Settings

TEXTS = [
    "waar blijft mijn pakket",
    "ik wil mijn geld terug",
    "de factuur klopt niet",
    "",
    None,
    "hoe kan ik retourneren?",
]
REASONS = [None, "waar_is_mijn_pakket", "not-a-reason", "factuur_onjuist"]
COMPARED = [
    "event_id",
    "contact_id",
    "journey_id",
    "customer_id",
    "occurred_at",
    "channel",
    "given_reason",
    "response_minutes",
    "resolved",
    "label",
    "reason",
    "confidence",
    "reason_source",
]

_event = st.tuples(
    st.sampled_from(["contact.inbound", "contact.inbound", "contact.labelled", "order.placed"]),
    st.integers(0, 4),  # journey
    st.integers(0, 48),  # hours after T0 (ties)
    st.integers(0, len(TEXTS) - 1),
    st.integers(0, len(REASONS) - 1),  # source reason, or the label's reason
    st.integers(0, 6),  # contact id: c0..c5, 6: none (the event id is the contact id)
    st.sampled_from([None, True, False, "yes"]),  # resolved
    st.sampled_from([None, 5, "12", "soon"]),  # response minutes
    st.integers(0, 40),  # a repeated id: reuse an earlier event's id when < 4
    st.booleans(),  # quarantined: no occurred_at
)


def _records(batch: list[tuple[Any, ...]], n: int, seen: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, (kind, j, h, text, reason, cid, resolved, minutes, again, bad) in enumerate(batch):
        eid = seen[again] if again < 4 and again < len(seen) else f"b{n}-{i}"
        attrs: dict[str, Any] = {}
        if cid < 6:
            attrs["contact_id"] = f"c{cid}"
        if kind == "contact.labelled":
            attrs["reason"] = REASONS[reason] or "retour_aanmelden"
        elif REASONS[reason]:
            attrs["reason"] = REASONS[reason]
        if resolved is not None:
            attrs["resolved"] = resolved
        if minutes is not None:
            attrs["response_minutes"] = minutes
        at: Any = T0 + timedelta(hours=h)
        rec = ev(eid, f"j{j}", kind, at, text=TEXTS[text], channel="chat", attrs=attrs)
        if bad and kind == "order.placed":
            rec["occurred_at"] = None  # quarantined by the pipeline
        out.append(rec)
        seen.append(eid)
    return out


def _load(app: App, records: list[dict[str, Any]]) -> None:
    ingest_table(app.store, events_from_records(records, source="test"), app.journey, "test")


def _check(app: App, views: ContactViews) -> None:
    ref = assign_reasons(contacts_frame(app.events_table()), app.contacts.taxonomy, None)
    mine = views.frame(with_text=True)
    key = ["occurred_at", "event_id"]
    ref = ref.sort_values(key).reset_index(drop=True)
    mine = mine.sort_values(key).reset_index(drop=True)
    assert len(mine) == len(ref)
    for col in COMPARED:
        for a, b in zip(mine[col].tolist(), ref[col].tolist(), strict=True):
            same = a == b or (pd.isna(a) and pd.isna(b))
            if col == "given_reason" and not isinstance(b, str):
                same = a is None  # kept as text only (a number never matches a reason)
            assert same, f"{col}: {a!r} != {b!r}\n{mine[COMPARED]}\n{ref[COMPARED]}"
    assert mine["text"].tolist() == ref["text"].tolist() or all(
        (a == b) or (pd.isna(a) and pd.isna(b))
        for a, b in zip(mine["text"], ref["text"], strict=True)
    )
    # the labelling queue read from the kept rows is the one classifying every contact
    portable = labelling_queue(app.events_table(), app.contacts.taxonomy, None, 1000)
    assert app_queue(app, 1000) == portable


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(_event, min_size=1, max_size=10), min_size=1, max_size=4))
def test_kept_contacts_equal_the_portable_reference_after_every_append(
    batches: list[list[tuple[Any, ...]]],
) -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        views = ContactViews(app.store, app.journey, app.contacts)
        seen: list[str] = []
        _load(app, _records(batches[0], 0, seen))
        assert views.ensure().mode == "full"
        _check(app, views)
        for n, batch in enumerate(batches[1:], start=1):
            _load(app, _records(batch, n, seen))
            assert views.ensure().mode in ("incremental", "current")
            _check(app, views)
        before = views.counter()
        assert views.rebuild().mode == "full"
        assert views.counter() == before + 1


def test_a_contact_is_classified_once_and_a_label_reasons_it_again() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        views = ContactViews(app.store, app.journey, app.contacts)
        _load(app, [ev("a", "j1", "contact.inbound", T0, text="waar blijft mijn pakket")])
        assert views.ensure().added == 1
        first = views.counter()
        _load(app, [ev("o", "j1", "order.placed", T0)])
        assert views.ensure().reasoned == 0 and views.counter() == first  # nothing to classify
        label = {"contact_id": "a", "reason": "factuur_onjuist"}
        _load(app, [ev("l", "j1", "contact.labelled", T0, attrs=label)])
        result = views.ensure()
        assert (result.added, result.reasoned) == (0, 1) and views.counter() == first + 1
        row = views.frame().iloc[0]
        assert (row["reason"], row["reason_source"], row["label"]) == (
            "factuur_onjuist",
            "label",
            "factuur_onjuist",
        )


def test_kept_contacts_out_of_step_are_rebuilt() -> None:
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        views = ContactViews(app.store, app.journey, app.contacts)
        _load(app, [ev("a", "j1", "contact.inbound", T0, text="x")])
        views.ensure()
        with app.store.transaction() as con:
            con.execute("DELETE FROM dc_contacts").fetchall()
        _load(app, [ev("b", "j1", "contact.inbound", T0, text="y")])
        assert views.ensure().mode == "full"
        assert sorted(views.frame()["event_id"]) == ["a", "b"]


def test_a_full_build_in_chunks_equals_the_portable_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The full build reads the contacts ``CHUNK_ROWS`` at a time (its memory at 100M events);
    with chunks of 3 and a label, the kept contacts still equal the reference, each once."""
    monkeypatch.setattr(derived, "CHUNK_ROWS", 3)
    reads: list[str] = []
    frame = derived._frame

    def spy(con: Any, sql: str, params: Any = None) -> pd.DataFrame:
        reads.append(sql)
        return frame(con, sql, params)

    monkeypatch.setattr(derived, "_frame", spy)
    texts = ["waar blijft mijn pakket", "factuur klopt niet", "retour aanmelden", "x"]
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        _load(
            app,
            [
                ev(
                    f"c{i}",
                    f"j{i % 3}",
                    "contact.inbound",
                    T0 + timedelta(minutes=i),
                    text=texts[i % 4],
                    channel="chat",
                )
                for i in range(10)
            ]
            + [
                ev(
                    "l",
                    "j1",
                    "contact.labelled",
                    T0,
                    attrs={"contact_id": "c4", "reason": "factuur_onjuist"},
                )
            ],
        )
        views = ContactViews(app.store, app.journey, app.contacts)
        assert views.rebuild().added == 10
        _check(app, views)
        kept = views.frame()
        assert len(kept) == 10 and kept["event_id"].is_unique
        assert sum("_dc_all" in r for r in reads) == 4  # 10 contacts in chunks of 3
        assert kept.loc[kept["event_id"] == "c4", "reason_source"].tolist() == ["label"]


def test_kept_contacts_of_the_layout_before_the_queue_columns_are_rebuilt() -> None:
    """A store whose kept contacts have no queue columns (layout 1) gets them by a full
    build on the next read, and the queue reads them."""
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        views = ContactViews(app.store, app.journey, app.contacts)
        _load(app, [ev("a", "j1", "contact.inbound", T0, text="waar blijft mijn pakket")])
        views.ensure()
        with app.store.transaction() as con:
            for column in ("suggestion", "model_confidence"):
                con.execute(f"ALTER TABLE dc_contacts DROP COLUMN {column}").fetchall()
            con.execute("UPDATE dc_state SET layout = 1").fetchall()
        again = ContactViews(app.store, app.journey, app.contacts)
        assert again.ensure().mode == "full"
        queue = again.queue(5)
        assert queue["contact_id"].tolist() == ["a"]
        assert queue["suggestion"].tolist() == ["waar_is_mijn_pakket"]
