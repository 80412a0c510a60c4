"""Responses: answers saved per question, one response per invitation, finished once.

Two tables, both keyed so the store itself enforces the rules:

* ``survey_responses`` — one row per invitation (``invitation_id`` PRIMARY KEY; the
  ``response_id`` is derived from it and UNIQUE). Two submits racing for one invitation
  cannot make two responses: the second insert finds the key taken.
* ``survey_answers`` — one row per (invitation, question): saved as each question is
  answered (``NULL`` for an optional question skipped), so a half-answered survey stays and
  its link reopens at the first unanswered question.

Finishing has three steps, each safe to repeat:

1. :func:`close` stamps ``finished_at`` (only the first call does; a closed response takes
   no more answers);
2. its answers become ``survey.response`` events (:func:`response_events`) written through
   the one ingest pipeline — the event ids are derived from the invitation and the
   question, so writing them again adds nothing;
3. :func:`settle` marks the invitation answered in the ledger, publishes exactly one
   ``response.finished`` webhook per subscription (keyed by the response id) and stamps
   ``recorded_at``.

A crash between the steps leaves a closed response without ``recorded_at``;
:func:`unrecorded` lists them and :func:`finish` (or :func:`recover`) completes them.

The events are on the invitation's customer, journey, touchpoint and owner (so NPS per
carrier needs no mapping): one per scored question (``metric``/``score``), the free-text
answer as ``text`` (+ ``lang``) on the primary (first scored) question's event, the choices
and the ids in ``attrs`` (``origin`` system|staff, ``survey_id``, ``invitation_id``,
``response_id``, ``via``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import duckdb
import pyarrow as pa

from klantreis.ingest.pipeline import ingest_table
from klantreis.listen import ledger, webhooks_out
from klantreis.listen.ledger import Invitation
from klantreis.model.events import derive_event_id, events_from_records
from klantreis.model.journey import JourneyConfig
from klantreis.model.survey import Question, Survey
from klantreis.store.duckdb_store import EventStore

__all__ = [
    "KIND",
    "AnswerError",
    "Closed",
    "EventSink",
    "Response",
    "answers",
    "close",
    "closed_records",
    "ensure_schema",
    "finish",
    "get",
    "is_finished",
    "next_question",
    "open_response",
    "record",
    "recover",
    "response_events",
    "response_id",
    "save_all",
    "save_answer",
    "settle",
    "store_sink",
    "submit_all",
    "submit_many",
    "unrecorded",
]

KIND = "survey.response"
Via = Literal["form", "widget", "api", "import"]
Value = int | str | list[str] | None
#: Writes event records through the ingest pipeline (raises when any is refused).
EventSink = Callable[[list[dict[str, Any]]], None]


class AnswerError(ValueError):
    """An answer that cannot be saved; ``code`` says why (``required``, ``out_of_range``,
    ``not_a_number``, ``too_long``, ``unknown_option``, ``one_option``, ``unknown_question``,
    ``finished``)."""

    def __init__(self, code: str, question_id: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.question_id = question_id


class Closed(AnswerError):
    def __init__(self) -> None:
        super().__init__("finished")


@dataclass(frozen=True)
class Response:
    response_id: str
    invitation_id: str
    survey_id: str
    via: str
    lang: str | None
    started_at: datetime
    finished_at: datetime | None = None
    recorded_at: datetime | None = None


_RESPONSE_COLUMNS = list(Response.__dataclass_fields__)
_ANSWER_COLUMNS = ("invitation_id", "question_id", "value", "answered_at")


def response_id(invitation_id: str) -> str:
    """The id of the one response to ``invitation_id``."""
    return "resp_" + hashlib.sha256(invitation_id.encode()).hexdigest()[:24]


def ensure_schema(store: EventStore) -> None:
    ledger.ensure_schema(store)
    webhooks_out.ensure_schema(store)
    with store.transaction() as con:
        con.execute(
            """CREATE TABLE IF NOT EXISTS survey_responses (
                response_id VARCHAR NOT NULL UNIQUE,
                invitation_id VARCHAR PRIMARY KEY,
                survey_id VARCHAR NOT NULL,
                via VARCHAR NOT NULL,
                lang VARCHAR,
                started_at TIMESTAMPTZ NOT NULL,
                finished_at TIMESTAMPTZ,
                recorded_at TIMESTAMPTZ
            )"""
        ).fetchall()
        con.execute(
            """CREATE TABLE IF NOT EXISTS survey_answers (
                invitation_id VARCHAR NOT NULL,
                question_id VARCHAR NOT NULL,
                value VARCHAR,
                answered_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (invitation_id, question_id)
            )"""
        ).fetchall()


def _rows(store: EventStore, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows of a query on the response tables; none when they do not exist yet."""
    try:
        rows: list[dict[str, Any]] = store.query(sql, params).to_pylist()
    except duckdb.CatalogException:
        return []
    return rows


def get(store: EventStore, invitation_id: str) -> Response | None:
    rows = _rows(
        store,
        f"SELECT {', '.join(_RESPONSE_COLUMNS)} FROM survey_responses WHERE invitation_id = ?",
        [invitation_id],
    )
    return Response(**rows[0]) if rows else None


def is_finished(store: EventStore, invitation_id: str) -> bool:
    found = get(store, invitation_id)
    return found is not None and found.finished_at is not None


def open_response(
    store: EventStore,
    invitation: Invitation,
    via: Via = "form",
    lang: str | None = None,
    at: datetime | None = None,
) -> Response:
    """The response to ``invitation``, started now unless it exists (never a second one)."""
    with store.transaction() as con:
        con.execute(
            "INSERT INTO survey_responses (response_id, invitation_id, survey_id, via, lang,"
            " started_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                response_id(invitation.invitation_id),
                invitation.invitation_id,
                invitation.survey_id,
                via,
                lang or invitation.lang,
                at or datetime.now(UTC),
            ],
        ).fetchall()
    found = get(store, invitation.invitation_id)
    assert found is not None
    return found


def answers(store: EventStore, invitation_id: str) -> dict[str, Value]:
    """The saved answers by question id (``None``: an optional question skipped)."""
    rows = _rows(
        store,
        "SELECT question_id, value FROM survey_answers WHERE invitation_id = ?",
        [invitation_id],
    )
    return {r["question_id"]: json.loads(r["value"]) if r["value"] else None for r in rows}


def next_question(survey: Survey, saved: Mapping[str, Value]) -> Question | None:
    """The first question without a saved answer (None: every question is answered)."""
    return next((q for q in survey.questions if q.id not in saved), None)


def save_answer(
    store: EventStore,
    survey: Survey,
    invitation_id: str,
    question_id: str,
    raw: Any,
    at: datetime | None = None,
) -> Value:
    """Check ``raw`` with the question's rules and save it (replacing an earlier answer to
    the same question); raises :class:`AnswerError` (``finished`` once closed)."""
    question = next((q for q in survey.questions if q.id == question_id), None)
    if question is None:
        raise AnswerError("unknown_question", question_id)
    try:
        value = question.check_answer(raw)
    except ValueError as exc:
        raise AnswerError(str(exc), question_id) from None
    with store.transaction() as con:
        done = con.execute(
            "SELECT finished_at FROM survey_responses WHERE invitation_id = ?", [invitation_id]
        ).fetchall()
        if not done:
            raise AnswerError("not_started", question_id)
        if done[0][0] is not None:
            raise Closed()
        con.execute(
            "INSERT OR REPLACE INTO survey_answers VALUES (?, ?, ?, ?)",
            [
                invitation_id,
                question_id,
                None if value is None else json.dumps(value, ensure_ascii=False),
                at or datetime.now(UTC),
            ],
        ).fetchall()
    return value


def close(
    store: EventStore, survey: Survey, invitation_id: str, at: datetime | None = None
) -> bool:
    """Stamp the response finished; True only for the call that did. A required question
    without an answer raises :class:`AnswerError` (``required``)."""
    saved = answers(store, invitation_id)
    missing = [q.id for q in survey.questions if q.required and saved.get(q.id) is None]
    if missing:
        raise AnswerError("required", missing[0])
    with store.transaction() as con:
        rows = con.execute(
            "UPDATE survey_responses SET finished_at = ? WHERE invitation_id = ?"
            " AND finished_at IS NULL RETURNING 1",
            [at or datetime.now(UTC), invitation_id],
        ).fetchall()
    return bool(rows)


def response_events(
    invitation: Invitation, survey: Survey, response: Response, saved: Mapping[str, Value]
) -> list[dict[str, Any]]:
    """The ``survey.response`` event records of a finished response (see the module notes)."""
    if response.finished_at is None:
        raise ValueError("the response is not finished")
    lang = response.lang or invitation.lang or survey.default_lang
    texts = [(q.id, saved[q.id]) for q in survey.questions if q.type == "text" and saved.get(q.id)]
    choices = {
        q.id: saved[q.id]
        for q in survey.questions
        if q.type in ("single", "multiple") and saved.get(q.id) is not None
    }
    base = {
        "occurred_at": response.finished_at.isoformat(),
        "kind": KIND,
        "customer_id": invitation.customer_id,
        "journey_id": invitation.journey_id,
        "touchpoint": invitation.touchpoint or survey.touchpoint,
        "owner": invitation.owner,
        "channel": invitation.channel,
    }
    attrs = {
        "origin": invitation.origin,
        "survey_id": survey.id,
        "invitation_id": invitation.invitation_id,
        "response_id": response.response_id,
        "via": response.via,
    }
    scored = [q for q in survey.questions if q.scored and saved.get(q.id) is not None]
    records = []
    for i, q in enumerate(scored or [None]):
        rec: dict[str, Any] = {**base, "attrs": dict(attrs)}
        qid = q.id if q else "response"
        rec["event_id"] = derive_event_id(KIND, invitation.invitation_id, qid)
        rec["attrs"]["question_id"] = qid
        if q is not None:
            rec["metric"], rec["score"] = q.type, saved[q.id]
        if i == 0:
            if texts:
                rec["text"], rec["lang"] = texts[0][1], lang
                rec["attrs"]["text_question_id"] = texts[0][0]
            if len(texts) > 1:
                rec["attrs"]["texts"] = dict(texts[1:])
            if choices:
                rec["attrs"]["choices"] = choices
        records.append(rec)
    return records


def store_sink(store: EventStore, journey: JourneyConfig) -> EventSink:
    """A sink writing straight into ``store`` through ``ingest_table`` (outside a web
    server, whose single writer is the sink there)."""

    def write(records: list[dict[str, Any]]) -> None:
        result = ingest_table(
            store,
            events_from_records(list[Mapping[str, Any]](records), source="survey"),
            journey,
            source="survey",
        )
        if result.quarantined:
            raise ValueError(f"{result.quarantined} survey.response event(s) were refused")

    return write


def webhook_data(
    invitation: Invitation, response: Response, saved: Mapping[str, Value]
) -> dict[str, Any]:
    return {
        "response_id": response.response_id,
        "invitation_id": invitation.invitation_id,
        "survey_id": invitation.survey_id,
        "customer_id": invitation.customer_id,
        "journey_id": invitation.journey_id,
        "touchpoint": invitation.touchpoint,
        "owner": invitation.owner,
        "origin": invitation.origin,
        "via": response.via,
        "lang": response.lang,
        "finished_at": response.finished_at.isoformat() if response.finished_at else None,
        "answers": dict(saved),
    }


def settle(
    store: EventStore,
    invitation: Invitation,
    queue: webhooks_out.WebhookQueue | None = None,
) -> None:
    """After the events are written: the ledger row answered, the webhook published once,
    ``recorded_at`` stamped. Safe to repeat."""
    response = get(store, invitation.invitation_id)
    if response is None or response.finished_at is None:
        raise ValueError("the response is not finished")
    ledger.set_status(store, [invitation.invitation_id], "answered", at=response.finished_at)
    data = webhook_data(invitation, response, answers(store, invitation.invitation_id))
    webhooks_out.publish(
        store, "response.finished", response.response_id, data, queue, response.finished_at
    )
    with store.transaction() as con:
        con.execute(
            "UPDATE survey_responses SET recorded_at = ? WHERE invitation_id = ?"
            " AND recorded_at IS NULL",
            [datetime.now(UTC), invitation.invitation_id],
        ).fetchall()


def record(
    store: EventStore,
    survey: Survey,
    invitation: Invitation,
    sink: EventSink,
    queue: webhooks_out.WebhookQueue | None = None,
) -> list[dict[str, Any]]:
    """Steps 2 and 3 for a closed response: write its events through ``sink`` and settle.
    Returns the event records."""
    records = closed_records(store, survey, invitation)
    sink(records)
    settle(store, invitation, queue)
    return records


def finish(
    store: EventStore,
    survey: Survey,
    invitation: Invitation,
    sink: EventSink,
    at: datetime | None = None,
    queue: webhooks_out.WebhookQueue | None = None,
) -> list[dict[str, Any]]:
    """Close the response (if it is not yet) and record it; idempotent."""
    close(store, survey, invitation.invitation_id, at)
    return record(store, survey, invitation, sink, queue)


def save_all(
    store: EventStore,
    survey: Survey,
    invitation: Invitation,
    given: Mapping[str, Any],
    via: Via = "api",
    lang: str | None = None,
    at: datetime | None = None,
) -> None:
    """Save a whole response at once (the API, an import, the widget): every answer is
    checked first (the first problem raises :class:`AnswerError`, nothing saved), then all
    are saved; :class:`Closed` when the response is finished already."""
    unknown = [k for k in given if k not in {q.id for q in survey.questions}]
    if unknown:
        raise AnswerError("unknown_question", unknown[0])
    for q in survey.questions:
        try:
            q.check_answer(given.get(q.id))
        except ValueError as exc:
            raise AnswerError(str(exc), q.id) from None
    open_response(store, invitation, via, lang, at)
    if is_finished(store, invitation.invitation_id):
        raise Closed()
    for q in survey.questions:
        save_answer(store, survey, invitation.invitation_id, q.id, given.get(q.id), at)


def submit_all(
    store: EventStore,
    survey: Survey,
    invitation: Invitation,
    given: Mapping[str, Any],
    sink: EventSink,
    via: Via = "api",
    lang: str | None = None,
    at: datetime | None = None,
    queue: webhooks_out.WebhookQueue | None = None,
) -> list[dict[str, Any]]:
    """:func:`save_all` and :func:`finish`: a whole response from one call."""
    save_all(store, survey, invitation, given, via, lang, at)
    return finish(store, survey, invitation, sink, at, queue)


def submit_many(
    store: EventStore,
    items: Sequence[tuple[Survey, Invitation, Mapping[str, Any], datetime]],
    sink: EventSink,
    via: Via = "import",
    queue: webhooks_out.WebhookQueue | None = None,
) -> int:
    """Many whole responses at once (an import, the demo's respondents): ``(survey,
    invitation, answers, finished at)`` each, checked like :func:`save_all`; an invitation
    that has a response already is left alone. Saved and closed in one transaction, their
    events written through ``sink`` in one call, then settled. Returns how many were new."""
    ensure_schema(store)
    taken = {
        r["invitation_id"]
        for r in _rows(
            store,
            "SELECT invitation_id FROM survey_responses WHERE invitation_id"
            " IN (SELECT unnest(?::VARCHAR[]))",
            [[i.invitation_id for _, i, _, _ in items]],
        )
    }
    todo, answer_rows = [], []
    for survey, invitation, given, at in items:
        if invitation.invitation_id in taken:
            continue
        checked = {}
        for q in survey.questions:
            try:
                checked[q.id] = q.check_answer(given.get(q.id))
            except ValueError as exc:
                raise AnswerError(str(exc), q.id) from None
        lang = invitation.lang or survey.default_lang
        resp = Response(
            response_id(invitation.invitation_id),
            invitation.invitation_id,
            survey.id,
            via,
            lang,
            at,
            at,
        )
        todo.append((survey, invitation, resp, checked))
        taken.add(invitation.invitation_id)
        answer_rows += [
            (
                invitation.invitation_id,
                qid,
                None if v is None else json.dumps(v, ensure_ascii=False),
                at,
            )
            for qid, v in checked.items()
        ]
    if not todo:
        return 0
    resp_rows = pa.Table.from_pylist([vars(r) for _, _, r, _ in todo])
    answer_table = pa.table(
        {k: [row[i] for row in answer_rows] for i, k in enumerate(_ANSWER_COLUMNS)}
    )
    with store.transaction() as con:
        con.register("_resp", resp_rows)
        con.register("_ans", answer_table)
        cols = ", ".join(_RESPONSE_COLUMNS)
        con.execute(
            f"INSERT INTO survey_responses ({cols}) SELECT {cols} FROM _resp ON CONFLICT DO NOTHING"
        ).fetchall()
        con.execute("INSERT OR REPLACE INTO survey_answers SELECT * FROM _ans").fetchall()
        con.unregister("_resp")
        con.unregister("_ans")
    sink([rec for survey, inv, r, saved in todo for rec in response_events(inv, survey, r, saved)])
    if webhooks_out.list_subscriptions(store, "response.finished"):
        for _, inv, r, saved in todo:
            data = webhook_data(inv, r, saved)
            webhooks_out.publish(
                store, "response.finished", r.response_id, data, queue, r.finished_at
            )
    with store.transaction() as con:
        con.register("_resp", resp_rows.select(["invitation_id", "finished_at"]))
        con.execute(
            "UPDATE survey_invitations i SET status = 'answered', reason = NULL,"
            " answered_at = r.finished_at FROM _resp r WHERE i.invitation_id = r.invitation_id"
        ).fetchall()
        con.execute(
            "UPDATE survey_responses s SET recorded_at = ? FROM _resp r"
            " WHERE s.invitation_id = r.invitation_id",
            [datetime.now(UTC)],
        ).fetchall()
        con.unregister("_resp")
    return len(todo)


def closed_records(
    store: EventStore, survey: Survey, invitation: Invitation
) -> list[dict[str, Any]]:
    """The event records of a closed response (for a caller with its own writer, which
    then calls :func:`settle`)."""
    response = get(store, invitation.invitation_id)
    if response is None or response.finished_at is None:
        raise ValueError("the response is not finished")
    return response_events(invitation, survey, response, answers(store, invitation.invitation_id))


def unrecorded(store: EventStore) -> list[str]:
    """Invitation ids of responses that were closed but not recorded (a crash between)."""
    rows = _rows(
        store,
        "SELECT invitation_id FROM survey_responses WHERE finished_at IS NOT NULL"
        " AND recorded_at IS NULL ORDER BY finished_at",
    )
    return [r["invitation_id"] for r in rows]


def recover(
    store: EventStore,
    surveys: Callable[[str], Survey | None],
    sink: EventSink,
    queue: webhooks_out.WebhookQueue | None = None,
) -> int:
    """Record every closed but unrecorded response (after a restart); how many."""
    done = 0
    for inv_id in unrecorded(store):
        invitation = ledger.get(store, inv_id)
        survey = surveys(invitation.survey_id) if invitation else None
        if invitation is None or survey is None:
            continue
        record(store, survey, invitation, sink, queue)
        done += 1
    return done
