"""Labels and the labelling queue.

A human label is an event of kind ``contact.labelled`` with attrs ``{"contact_id", "reason",
"labeller", "journey_id", "touchpoint"}``, on the contact's customer. The journey and the
touchpoint are in ``attrs`` (as for ``case.*`` and ``proactive.*`` events), not in the
columns: a label is work about the contact, not a step of the customer's journey, so journey
discovery, hand-overs and answer contexts never see it. Labels stored before that carry the
journey in the columns; the readers read only ``attrs.contact_id``/``attrs.reason``, so both
shapes work. It goes through ``ingest_table`` like
every other event, so it is in the log and idempotent: the event id is derived from the
contact, the reason and the labeller, so labelling the same contact the same way twice stores
one event. Relabelling stores a new event; the latest label of a contact wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from klantreis.contacts.classifier import ColdStart, ContactClassifier, Prediction
from klantreis.contacts.data import CONTACT_KIND, LABEL_KIND, contacts_frame, parse_attrs
from klantreis.contacts.taxonomy import UNKNOWN, Taxonomy
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import derive_event_id, events_from_records
from klantreis.store import AppendResult

if TYPE_CHECKING:
    from klantreis.contacts.clusters import Cluster

__all__ = [
    "QueueItem",
    "app_new_reasons",
    "app_queue",
    "assign_reasons",
    "label_record",
    "labelling_queue",
    "store_label",
]


def assign_reasons(
    contacts: pd.DataFrame,
    taxonomy: Taxonomy,
    model: ContactClassifier | None = None,
    trust_given: bool = True,
) -> pd.DataFrame:
    """Add ``reason``, ``confidence`` and ``reason_source`` to a contacts frame.

    A human label wins; then (``trust_given``) a known ``attrs.reason`` from the source
    system; otherwise the model, or the cold start (phrase rules, then a classifier trained
    on the taxonomy's example phrases) when no model is trained yet.
    """
    df = contacts.copy()
    known = set(taxonomy.reason_ids())
    classifier: ContactClassifier | ColdStart = model or ColdStart(taxonomy)
    preds = classifier.predict(df["text"].fillna("").tolist()) if len(df) else []
    rows: list[tuple[str, float, str]] = []
    for i, (label, given) in enumerate(zip(df["label"], df["given_reason"], strict=True)):
        if isinstance(label, str) and label:
            rows.append((label, 1.0, "label"))
        elif trust_given and isinstance(given, str) and given in known:
            rows.append((given, 1.0, "source"))
        else:
            rows.append((preds[i].reason, preds[i].confidence, preds[i].method))
    reasons = [r[0] for r in rows]
    confs = [r[1] for r in rows]
    sources = [r[2] for r in rows]
    df["reason"] = reasons
    df["confidence"] = confs
    df["reason_source"] = sources
    return df


@dataclass(frozen=True)
class QueueItem:
    contact_id: str
    occurred_at: str
    channel: str | None
    text: str
    suggestion: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def labelling_queue(
    events: Any,
    taxonomy: Taxonomy,
    model: ContactClassifier | None = None,
    limit: int = 50,
    max_confidence: float = 1.0,
) -> list[QueueItem]:
    """Contacts without a human label, lowest model confidence first (the portable
    reference: it classifies every contact; :func:`app_queue` reads the kept ones)."""
    df = contacts_frame(events)
    df = df[df["label"].isna()]
    if df.empty:
        return []
    classifier: ContactClassifier | ColdStart = model or ColdStart(taxonomy)
    preds: list[Prediction] = classifier.predict(df["text"].fillna("").tolist())
    df = df.assign(suggestion=[p.best for p in preds], confidence=[p.confidence for p in preds])
    df = df[df["confidence"] <= max_confidence]
    df = df.sort_values(["confidence", "occurred_at", "contact_id"], kind="stable").head(limit)
    return _items(df)


def app_queue(app: Any, limit: int = 50, max_confidence: float = 1.0) -> list[QueueItem]:
    """:func:`labelling_queue` of ``app``'s store and classifier, read from its kept
    contacts (``App.contact_views``: classified once, one query with a ``LIMIT``) when the
    store can hold them, else from the log."""
    views = app.contact_views()
    if views is None:
        return labelling_queue(
            app.events_table(), app.contacts.taxonomy, app.contacts.model(), limit, max_confidence
        )
    return _items(views.queue(limit, max_confidence))


def app_new_reasons(app: Any, k: int | None = None) -> list[Cluster]:
    """:func:`~klantreis.contacts.clusters.new_reason_clusters` of ``app``'s contacts that no
    reason fits (the source system's reasons not trusted), read from its kept contacts
    (``App.contact_views``: only those contacts, in parts) when the store can hold them,
    else classified from the log."""
    from klantreis.contacts.clusters import new_reason_clusters  # scikit-learn: when used

    views = app.contact_views()
    if views is None:
        contacts = app.contacts
        frame = contacts_frame(app.events_table())
        df = assign_reasons(frame, contacts.taxonomy, contacts.model(), trust_given=False)
        return new_reason_clusters(df, k=k)
    return new_reason_clusters(views.unknown(), k=k)


def _items(df: pd.DataFrame) -> list[QueueItem]:
    return [
        QueueItem(
            str(r.contact_id),
            r.occurred_at.isoformat(),
            r.channel,
            r.text if isinstance(r.text, str) else "",  # NaN/None when a contact has no text
            r.suggestion,
            float(r.confidence),
        )
        for r in df.itertuples()
    ]


def label_record(
    events: Any,
    contact_id: str,
    reason: str,
    taxonomy: Taxonomy,
    labeller: str = "user",
    at: datetime | None = None,
) -> dict[str, Any]:
    """The ``contact.labelled`` event of a label (validated against the taxonomy and the
    contacts in ``events``); raises ValueError for an unknown reason, KeyError for an unknown
    contact."""
    if reason != UNKNOWN and reason not in taxonomy.reason_ids():
        raise ValueError(f"unknown reason '{reason}' (known: {', '.join(taxonomy.reason_ids())})")
    t = events.filter(events.kind == CONTACT_KIND)
    rows = (
        t.filter(t.attrs.contains(contact_id) | (t.event_id == contact_id))
        .select("event_id", "customer_id", "journey_id", "attrs")
        .to_pandas()
    )
    match = rows[
        [
            parse_attrs(a).get("contact_id") == contact_id or e == contact_id
            for a, e in zip(rows["attrs"], rows["event_id"], strict=True)
        ]
    ]
    if match.empty:
        raise KeyError(f"no contact with id '{contact_id}'")
    first = match.iloc[0]
    return {
        "event_id": derive_event_id(LABEL_KIND, contact_id, reason, labeller),
        "occurred_at": (at or datetime.now(UTC)).isoformat(),
        "kind": LABEL_KIND,
        "customer_id": first["customer_id"],
        "journey_id": None,  # in attrs: a label is not a step of the journey
        "attrs": {
            "contact_id": contact_id,
            "reason": reason,
            "labeller": labeller,
            "journey_id": first["journey_id"],
            "touchpoint": "klantenservice",
        },
    }


def store_label(
    app: Any,
    contact_id: str,
    reason: str,
    taxonomy: Taxonomy,
    labeller: str = "user",
    at: datetime | None = None,
) -> AppendResult:
    """Store a human label as a ``contact.labelled`` event through ``ingest_table``."""
    record = label_record(app.events_table(), contact_id, reason, taxonomy, labeller, at)
    return ingest_table(
        app.store, events_from_records([record], source="label"), app.journey, source="label"
    )
