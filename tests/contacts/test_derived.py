"""The kept contacts equal their portable reference (``assign_reasons(contacts_frame(...))``)
after every append: random batches of contacts (texts, source reasons known and unknown,
contact ids in the attributes or not, tied time stamps) and human labels (for contacts stored
before, in the same batch or later; relabelled; ties), repeated event ids, quarantined rows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.journeys.logs import T0, ev

from klantreis.app import App
from klantreis.contacts import derived, features
from klantreis.contacts.classifier import Prediction
from klantreis.contacts.data import contacts_frame
from klantreis.contacts.derived import ContactViews
from klantreis.contacts.kept_gaps import KeptGaps
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
    rows: list[Mapping[str, Any]] = list(records)
    ingest_table(app.store, events_from_records(rows, source="test"), app.journey, "test")


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


def _ten_contacts_and_a_label(app: App) -> None:
    texts = ["waar blijft mijn pakket", "factuur klopt niet", "retour aanmelden", "x"]
    records = []
    for i in range(10):
        at = T0 + timedelta(minutes=(7 * i) % 10)  # the log's order is not the time order
        records.append(
            ev(f"c{i}", f"j{i % 3}", "contact.inbound", at, text=texts[i % 4], channel="chat")
        )
        if i % 4 == 1:
            records.append(ev(f"o{i}", f"j{i % 3}", "order.placed", at))
    label = {"contact_id": "c4", "reason": "factuur_onjuist"}
    records.append(ev("l", "j1", "contact.labelled", T0, attrs=label))
    _load(app, records)


def _limit(con: Any) -> str:
    return str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])


def test_a_full_build_in_ranges_equals_the_portable_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The full build reads the log ``range_events`` stored rows at a time under its memory
    limit (its memory at 100M events); with ranges of 3 rows and a label, the kept contacts
    still equal the reference, each once, numbered in the log's order, and the limit is put
    back afterwards; an append after it continues the numbers."""
    reads: list[tuple[str, str]] = []
    frame = derived._frame

    def spy(con: Any, sql: str, params: Any = None) -> pd.DataFrame:
        reads.append((sql, _limit(con)))
        return frame(con, sql, params)

    monkeypatch.setattr(derived, "_frame", spy)
    gaps: list[str] = []  # the limit each follow of the repeat gaps ran under

    class SeenGaps(KeptGaps):
        def _follow(self, con: Any) -> str:
            gaps.append(_limit(con))
            return super()._follow(con)

    monkeypatch.setattr(derived, "KeptGaps", SeenGaps)
    with App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"))) as app:
        _ten_contacts_and_a_label(app)
        before = _limit(app.store.con)
        views = ContactViews(app.store, app.journey, app.contacts, memory_mb=64, range_events=3)
        assert views.ensure().added == 10
        _check(app, views)
        ranged = [limit for sql, limit in reads if "rowid >= ?" in sql]
        assert ranged == ["64.0 MiB"] * 5  # 13 stored events in ranges of 3
        assert gaps[0] == "64.0 MiB"  # the gaps' full build too
        assert _limit(app.store.con) == before
        kept = views.frame()
        assert len(kept) == 10 and kept["event_id"].is_unique
        assert kept.loc[kept["event_id"] == "c4", "reason_source"].tolist() == ["label"]
        numbered = app.store.con.execute(
            "SELECT event_id, ord FROM dc_contacts ORDER BY ord"
        ).fetchall()
        assert numbered == [(f"c{i}", i) for i in range(10)]
        _load(app, [ev("c10", "j1", "contact.inbound", T0, text="x")])
        assert views.ensure().mode == "incremental"
        _check(app, views)
        assert app.store.con.execute("SELECT max(ord) FROM dc_contacts").fetchall() == [(10,)]
        assert len(gaps) > 1 and set(gaps[1:]) == {before}  # a refresh keeps the limit it found
        gaps.clear()
        assert views.rebuild().mode == "full"
        assert gaps == ["64.0 MiB"] and _limit(app.store.con) == before
    with pytest.raises(ValueError, match="at least 1"):
        ContactViews(app.store, app.journey, app.contacts, range_events=0)


def test_a_full_build_stopped_half_way_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each range is committed: a build stopped after its first ranges leaves the kept
    contacts marked unfinished, and the next read builds them afresh."""
    insert = ContactViews._insert
    calls: list[int] = []

    def failing(self: ContactViews, *args: Any) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("stopped")
        return insert(self, *args)

    with App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"))) as app:
        _ten_contacts_and_a_label(app)
        views = ContactViews(app.store, app.journey, app.contacts, range_events=3)
        views.ensure()
        monkeypatch.setattr(ContactViews, "_insert", failing)
        with pytest.raises(RuntimeError, match="stopped"):
            views.rebuild()
        monkeypatch.setattr(ContactViews, "_insert", insert)
        rows = app.store.con.execute("SELECT count(*) FROM dc_contacts").fetchall()[0][0]
        assert 0 < rows < 10  # the first ranges were committed
        again = ContactViews(app.store, app.journey, app.contacts, range_events=3)
        assert again.ensure().mode == "full"
        _check(app, again)


def test_a_new_classifier_reasons_again_in_chunks_as_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another classifier reasons the kept contacts ``CHUNK_ROWS`` numbers at a time: with
    chunks of 3 the rows are those of one pass."""

    class Fixed:
        def predict(self, texts: list[str]) -> list[Prediction]:
            return [Prediction(f"r{len(t)}", len(t) / 100, "model", f"b{len(t)}") for t in texts]

    def reasoned(chunk: int) -> tuple[int, list[tuple[Any, ...]]]:
        monkeypatch.setattr(derived, "CHUNK_ROWS", chunk)
        with App(Settings.load(env={}, db_path=":memory:")) as app:
            _ten_contacts_and_a_label(app)
            views = ContactViews(app.store, app.journey, app.contacts)
            views.ensure()
            with app.store.transaction() as con:
                n = views._reclassify(con, Fixed)
            rows = app.store.con.execute(
                "SELECT ord, reason, confidence, reason_source, suggestion, model_confidence"
                " FROM dc_contacts ORDER BY ord"
            ).fetchall()
        return n, rows

    once, chunked = reasoned(1000), reasoned(3)
    assert chunked == once
    assert once[0] == 9  # every contact but the labelled one
    assert {r[3] for r in once[1]} == {"model", "label"}


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


def test_warm_classifies_once_and_only_when_contacts_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``warm`` (the kept-views job's part) makes the classifier in use ready once, and only
    for kept contacts that hold a contact; the kept rows stay as they were."""
    with App(Settings.load(env={}, db_path=":memory:")) as app:
        views = ContactViews(app.store, app.journey, app.contacts)
        texts: list[list[str]] = []
        cold = app.contacts.cold_start()
        predict = cold.predict
        monkeypatch.setattr(cold, "predict", lambda t: texts.append(list(t)) or predict(t))
        assert views.warm() is False  # no kept contacts yet
        views.ensure()
        assert views.warm() is False and texts == []  # none held
        _load(app, [ev("o", "j1", "order.placed", T0)])
        views.ensure()
        assert views.warm() is False and texts == []
        _load(app, [ev("a", "j1", "contact.inbound", T0, text="waar blijft mijn pakket")])
        views.ensure()
        kept = views.frame()
        classified = len(texts)
        kernels: list[int] = []
        compiled = features._char_block_compiled

        def counted(docs: Any, *args: Any) -> Any:
            kernels.append(len(docs))
            return compiled(docs, *args)

        monkeypatch.setattr(features, "_char_block_compiled", counted)
        assert views.warm() is True and len(texts) == classified + 1
        assert kernels  # the compiled path a batch's refresh takes, loaded now
        assert views.warm() is False and len(texts) == classified + 1  # once per process
        pd.testing.assert_frame_equal(views.frame(), kept)
