"""Theme labels and the theme labelling queue.

An analyst accepts or rejects a theme suggested for a comment. The verdict is an event of
kind ``comment.themed`` with attrs ``{"comment_id", "theme", "verdict", "labeller"}``
(``verdict``: ``yes`` or ``no``) and the comment's ``journey_id`` and ``touchpoint`` on the
comment's customer — the journey in ``attrs``, not in the columns, so a verdict is never a
step of the journey (verdicts stored before that carry them in the columns; the readers use
only ``attrs``, so both shapes are read). Stored through
``ingest_table`` (the web app's writer uses the same pipeline), so it is in the log and
idempotent: the event id comes from the comment, the theme, the verdict and the labeller.
The latest verdict per comment and theme wins.

The queue shows each distinct text once (compared after folding case and whitespace,
:func:`same_text_key`), with how many comments of the queue's window share it; a verdict on
it is stored for every one of those comments (:func:`theme_label_records`), so they leave the
queue together and the next model learns from all of them.

Labelled comments train the theme tagger (:func:`labelled_comments`): a comment's accepted
themes are its positives; every other theme of the taxonomy is a negative for it.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from klantreis.contacts.data import events_frame, parse_attrs
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import derive_event_id, events_from_records
from klantreis.store import AppendResult
from klantreis.text.themes import ThemeTagger

__all__ = [
    "COMMENT_KINDS",
    "THEME_LABEL_KIND",
    "ThemeQueueItem",
    "comment_filter",
    "comments_frame",
    "labelled_comments",
    "same_text_key",
    "store_theme_label",
    "theme_label_record",
    "theme_label_records",
    "theme_labels",
    "theme_queue",
]

THEME_LABEL_KIND = "comment.themed"
#: Event kinds whose text is a comment that themes and sentiment read.
COMMENT_KINDS = ("survey.response", "review.posted")
VERDICTS = ("yes", "no")
#: How many of the newest comments the labelling queue reads (and a verdict's copies are
#: looked for in).
QUEUE_WINDOW = 2000


def same_text_key(text: str) -> str:
    """The text as the queue compares it: case folded, whitespace collapsed."""
    return " ".join(str(text).split()).casefold()


def comment_filter(events: Any) -> Any:
    """The predicate (ibis) "the event is a comment" (of :data:`COMMENT_KINDS`), as one
    closed range per kind (``kind BETWEEN k AND k OR ...``): DuckDB takes that into the scan
    as a filter and reads ``text`` only for the rows it keeps. An ``IN`` list (or ``=`` ORs)
    is only an optional scan filter there, so every event's text was read (3.1 GiB for
    ``/comments/themes`` at 100M); one range from the first to the last kind would keep
    ``shipment.*`` and ``social.*`` (the pattern of ``act.proactive``'s decision kinds)."""
    kind = events.kind
    return functools.reduce(operator.or_, [kind.between(k, k) for k in COMMENT_KINDS])


def comments_frame(
    events: Any, newest: int | None = None, ids: Sequence[str] | None = None
) -> pd.DataFrame:
    """Comments (events of :data:`COMMENT_KINDS` with a text), oldest first: all, only the
    ``newest`` ones, or only those with the event ids ``ids`` (filtered in the engine)."""
    t = events.filter(comment_filter(events), events.text.notnull())
    t = t.filter(t.text != "")
    if ids is not None:
        t = t.filter(t.event_id.isin(list(ids)))
    if newest is not None:
        t = t.order_by([t.occurred_at.desc(), t.event_id.desc()]).limit(newest)
    df = events_frame(t)
    return df.sort_values(["occurred_at", "event_id"], kind="stable").reset_index(drop=True)


def theme_labels(events: Any) -> pd.DataFrame:
    """The latest verdict per comment and theme: columns comment_id, theme, verdict."""
    df = events_frame(events, [THEME_LABEL_KIND])
    rows = []
    for at, attrs in zip(df["occurred_at"], df["attrs"], strict=True):
        a = parse_attrs(attrs)
        if a.get("comment_id") and a.get("theme") and a.get("verdict") in VERDICTS:
            rows.append((str(a["comment_id"]), str(a["theme"]), str(a["verdict"]), at))
    out = pd.DataFrame(rows, columns=["comment_id", "theme", "verdict", "at"])
    out = out.sort_values(["at", "verdict"], kind="stable")
    out = out.drop_duplicates(["comment_id", "theme"], keep="last")
    return out[["comment_id", "theme", "verdict"]].reset_index(drop=True)


def labelled_comments(events: Any, theme_ids: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Texts of the comments with at least one verdict, and the accepted (known) themes of
    each: training data for :meth:`ThemeTagger.fit`."""
    labels = theme_labels(events)
    if labels.empty:
        return [], []
    known = set(theme_ids)
    accepted: dict[str, list[str]] = {}
    for cid, theme, verdict in labels.itertuples(index=False):
        accepted.setdefault(cid, [])
        if verdict == "yes" and theme in known:
            accepted[cid].append(theme)
    comments = comments_frame(events, ids=list(accepted))
    texts = [str(t) for t in comments["text"]]
    return texts, [sorted(accepted[c]) for c in comments["event_id"]]


@dataclass(frozen=True)
class ThemeQueueItem:
    comment_id: str
    occurred_at: str
    touchpoint: str | None
    owner: str | None
    metric: str | None
    score: float | None
    text: str
    theme: str
    confidence: float
    #: How many comments of the window share this text (and get the verdict).
    count: int = 1
    #: Those comments, the shown one first.
    comment_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["comment_ids"] = list(self.comment_ids)
        return out


def theme_queue(
    events: Any, tagger: ThemeTagger, limit: int = 25, newest: int = QUEUE_WINDOW
) -> list[ThemeQueueItem]:
    """Suggested themes without a verdict, the least certain first (confidence nearest the
    tagging threshold): for each of the ``newest`` comments, its best suggestion that has
    no verdict yet (a suggestion above the threshold, else the best below it). Comments with
    the same text (:func:`same_text_key`) and suggestion are one item: the oldest one's
    text, with ``count`` and ``comment_ids`` of them all."""
    comments = comments_frame(events, newest=newest)
    if comments.empty:
        return []
    done = {(c, t) for c, t, _ in theme_labels(events).itertuples(index=False)}
    proba = tagger.predict_proba([str(t) for t in comments["text"]])
    ids, cut = tagger.theme_ids, tagger.taxonomy.threshold
    groups: dict[tuple[str, str], list[ThemeQueueItem]] = {}
    for row, p in zip(comments.itertuples(index=False), proba, strict=True):
        order = sorted(range(len(ids)), key=lambda j: -p[j])
        todo = [j for j in order if (row.event_id, ids[j]) not in done]
        if not todo:
            continue
        j = todo[0]
        score = None if pd.isna(row.score) else float(row.score)
        groups.setdefault((same_text_key(row.text), ids[j]), []).append(
            ThemeQueueItem(
                str(row.event_id),
                row.occurred_at.isoformat(),
                row.touchpoint,
                row.owner,
                row.metric,
                score,
                str(row.text),
                ids[j],
                round(float(p[j]), 4),
            )
        )
    items = [
        replace(same[0], count=len(same), comment_ids=tuple(i.comment_id for i in same))
        for same in groups.values()  # oldest first within each (comments are oldest first)
    ]
    items.sort(key=lambda i: (abs(i.confidence - cut), i.occurred_at, i.comment_id))
    return items[:limit]


def theme_label_record(
    events: Any,
    comment_id: str,
    theme: str,
    verdict: str,
    theme_ids: Sequence[str],
    labeller: str = "user",
    at: datetime | None = None,
) -> dict[str, Any]:
    """The ``comment.themed`` event of a verdict; ValueError for an unknown theme or verdict,
    KeyError for an unknown comment."""
    if theme not in theme_ids:
        raise ValueError(f"unknown theme '{theme}' (known: {', '.join(theme_ids)})")
    if verdict not in VERDICTS:
        raise ValueError("verdict must be 'yes' or 'no'")
    t = events.filter(events.event_id == comment_id, comment_filter(events))
    rows = t.select("customer_id", "journey_id", "touchpoint").limit(1).to_pyarrow().to_pylist()
    if not rows:
        raise KeyError(f"no comment with id '{comment_id}'")
    row = rows[0]
    return {
        "event_id": derive_event_id(THEME_LABEL_KIND, comment_id, theme, verdict, labeller),
        "occurred_at": (at or datetime.now(UTC)).isoformat(),
        "kind": THEME_LABEL_KIND,
        "customer_id": row["customer_id"],
        "journey_id": None,  # in attrs: a verdict is not a step of the journey
        "attrs": {
            "comment_id": comment_id,
            "theme": theme,
            "verdict": verdict,
            "labeller": labeller,
            "journey_id": row["journey_id"],
            "touchpoint": row["touchpoint"],
        },
    }


def _or_none(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def theme_label_records(
    events: Any, first: dict[str, Any], newest: int = QUEUE_WINDOW
) -> list[dict[str, Any]]:
    """The verdict ``first`` (from :func:`theme_label_record`) and the same verdict for every
    comment among the ``newest`` (the queue's window) with the same text as its comment
    (:func:`same_text_key`): one ``comment.themed`` event each, ``first`` first."""
    a = first["attrs"]
    comment_id, theme, verdict, labeller = a["comment_id"], a["theme"], a["verdict"], a["labeller"]
    t = events.filter(events.event_id == comment_id, comment_filter(events))
    texts = t.select("text").limit(1).to_pyarrow().to_pylist()
    key = same_text_key(texts[0]["text"] or "")
    if not key:
        return [first]
    window = comments_frame(events, newest=newest)
    records = [first]
    for row in window.itertuples(index=False):
        if row.event_id == comment_id or same_text_key(row.text) != key:
            continue
        records.append(
            {
                **first,
                "event_id": derive_event_id(
                    THEME_LABEL_KIND, row.event_id, theme, verdict, labeller
                ),
                "customer_id": _or_none(row.customer_id),
                "attrs": {
                    **first["attrs"],
                    "comment_id": str(row.event_id),
                    "journey_id": _or_none(row.journey_id),
                    "touchpoint": _or_none(row.touchpoint),
                },
            }
        )
    return records


def store_theme_label(
    app: Any,
    comment_id: str,
    theme: str,
    verdict: str,
    theme_ids: Sequence[str],
    labeller: str = "user",
    at: datetime | None = None,
) -> AppendResult:
    """Store a verdict as a ``comment.themed`` event through ``ingest_table``."""
    record = theme_label_record(
        app.events_table(), comment_id, theme, verdict, theme_ids, labeller, at
    )
    return ingest_table(
        app.store, events_from_records([record], source="label"), app.journey, source="label"
    )
