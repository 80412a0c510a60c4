from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from klantreis.app import App
from klantreis.contacts.classifier import ContactClassifier
from klantreis.contacts.data import LABEL_KIND, contacts_frame
from klantreis.contacts.labels import app_queue, assign_reasons, labelling_queue, store_label
from klantreis.contacts.taxonomy import default_taxonomy
from klantreis.contacts.training import labelled_from_store

from .helpers import contact, load

TAX = default_taxonomy()


@pytest.fixture
def loaded(app: App) -> App:
    load(
        app,
        [
            contact("J1", 1, None, text="Waar blijft mijn pakket? Het is te laat"),
            contact("J2", 2, None, text="mijn factuur niet ontvangen, kunt u de factuur sturen"),
            contact("J3", 3, None, text="qwerty"),
            contact("J4", 4, "productvraag", text="welke maat moet ik nemen?"),
        ],
    )
    return app


def test_queue_is_lowest_confidence_first_and_skips_labelled(loaded: App) -> None:
    queue = labelling_queue(loaded.events_table(), TAX)
    assert [q.confidence for q in queue] == sorted(q.confidence for q in queue)
    assert queue[0].contact_id == "J3-C0" and queue[0].confidence < TAX.unknown_threshold
    store_label(loaded, "J3-C0", "productvraag", TAX, at=datetime(2026, 3, 9, tzinfo=UTC))
    ids = [q.contact_id for q in labelling_queue(loaded.events_table(), TAX)]
    assert "J3-C0" not in ids and len(ids) == 3


def test_labels_are_idempotent_events_and_the_latest_wins(loaded: App) -> None:
    first = store_label(loaded, "J1-C0", "productvraag", TAX, at=datetime(2026, 3, 9, tzinfo=UTC))
    again = store_label(loaded, "J1-C0", "productvraag", TAX, at=datetime(2026, 3, 9, tzinfo=UTC))
    assert (first.stored, again.stored, again.duplicates) == (1, 0, 1)
    store_label(loaded, "J1-C0", "waar_is_mijn_pakket", TAX, at=datetime(2026, 3, 10, tzinfo=UTC))
    t = loaded.events_table()
    assert t.filter(t.kind == LABEL_KIND).count().execute() == 2
    frame = contacts_frame(t).set_index("contact_id")
    assert frame.loc["J1-C0", "label"] == "waar_is_mijn_pakket"
    assert frame.loc["J1-C0", "journey_id"] == "J1"


def test_label_validation(loaded: App) -> None:
    with pytest.raises(ValueError, match="unknown reason"):
        store_label(loaded, "J1-C0", "nonsense", TAX)
    with pytest.raises(KeyError):
        store_label(loaded, "nope", "productvraag", TAX)


def test_reason_sources_label_then_source_then_classifier(loaded: App) -> None:
    store_label(loaded, "J2-C0", "factuur_onjuist", TAX)
    frame = assign_reasons(contacts_frame(loaded.events_table()), TAX).set_index("contact_id")
    assert frame.loc["J2-C0", ["reason", "reason_source"]].tolist() == ["factuur_onjuist", "label"]
    assert frame.loc["J4-C0", "reason_source"] == "source"
    assert frame.loc["J1-C0", ["reason", "reason_source"]].tolist() == [
        "waar_is_mijn_pakket",
        "rules",
    ]
    data = labelled_from_store(loaded.events_table(), TAX)
    assert sorted(data.labels) == ["factuur_onjuist", "productvraag"] and data.skipped == 2
    model = ContactClassifier().fit(["a b c", "d e f", "a b", "d e"], ["x", "y", "x", "y"])
    untrusted = assign_reasons(
        contacts_frame(loaded.events_table()), TAX, model, trust_given=False
    ).set_index("contact_id")
    assert untrusted.loc["J4-C0", "reason_source"] == "model"


def test_a_label_adds_no_step_to_the_journey_graph(loaded: App) -> None:
    from klantreis.analytics.discovery import discover

    before = discover(loaded.events_table(), loaded.journey).as_dict()
    store_label(loaded, "J1-C0", "productvraag", TAX, at=datetime(2026, 3, 9, tzinfo=UTC))
    t = loaded.events_table()
    assert discover(t, loaded.journey).as_dict() == before
    row = t.filter(t.kind == LABEL_KIND).to_pyarrow().to_pylist()[0]
    assert row["journey_id"] is None and row["touchpoint"] is None
    assert '"journey_id": "J1"' in row["attrs"] and '"touchpoint": "klantenservice"' in row["attrs"]


def test_labels_stored_in_the_old_shape_are_still_read(loaded: App) -> None:
    """Labels written before the journey moved to attrs carry it in the columns."""
    old = {
        "event_id": "old-label",
        "occurred_at": datetime(2026, 3, 9, tzinfo=UTC),
        "kind": LABEL_KIND,
        "customer_id": "K-J3",
        "journey_id": "J3",
        "touchpoint": "klantenservice",
        "attrs": {"contact_id": "J3-C0", "reason": "productvraag", "labeller": "user"},
    }
    load(loaded, [old])
    frame = contacts_frame(loaded.events_table()).set_index("contact_id")
    assert frame.loc["J3-C0", "label"] == "productvraag"


def _queues(app: App, limit: int, most: float = 1.0) -> tuple[list[Any], list[Any]]:
    tax, model = app.contacts.taxonomy, app.contacts.model()
    portable = labelling_queue(app.events_table(), tax, model, limit, most)
    return app_queue(app, limit, most), portable


def test_the_kept_queue_is_the_portable_queue(loaded: App) -> None:
    """The queue read from the kept contacts (lowest confidence first, a ``LIMIT``) equals
    the one that classifies every contact: source-given contacts keep their classifier
    confidence, labelled ones leave, ties (the same text) keep the log's order, after a
    label and after an append (the kept rows' incremental refresh)."""
    load(
        loaded,
        [
            contact("J5", 5, None, text="qwerty"),
            contact("J6", 6, "waar_is_mijn_pakket", text="factuur niet ontvangen"),
            contact("J7", 7, None, text=""),
        ],
    )
    for limit in (1, 2, 3, 5, 50):
        for most in (0.0, 0.5, 1.0):
            kept, portable = _queues(loaded, limit, most)
            assert kept == portable
    kept, _ = _queues(loaded, 50)
    assert len(kept) == 7 and "J4-C0" in [q.contact_id for q in kept]
    store_label(loaded, "J3-C0", "productvraag", TAX, at=datetime(2026, 3, 9, tzinfo=UTC))
    load(loaded, [contact("J8", 8, "productvraag", text="mijn pakket is te laat")])
    kept, portable = _queues(loaded, 50)
    assert kept == portable and len(kept) == 7
    assert "J3-C0" not in [q.contact_id for q in kept]
