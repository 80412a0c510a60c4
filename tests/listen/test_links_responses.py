"""Personal links (signed, expiring, single use) and responses (saved per question, one per
invitation, finished once, recovered after a crash)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from klantreis.app import default_journey_config
from klantreis.listen import ledger, responses
from klantreis.listen.ledger import Invitation
from klantreis.listen.links import Links, Verified, derive_key
from klantreis.listen.survey_file import load_surveys
from klantreis.settings import Settings
from klantreis.store.duckdb_store import EventStore

NOW = datetime(2026, 3, 3, 10, tzinfo=UTC)
KEY = derive_key("test-secret-key-0123456789abcdef")


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with EventStore(tmp_path / "s.duckdb") as s:
        responses.ensure_schema(s)
        yield s


def _survey() -> Any:
    survey = load_surveys(Settings.load(env={})).survey("na_bezorging")
    assert survey is not None
    return survey


def _invite(store: EventStore, event: str = "e1", customer: str = "c1") -> Invitation:
    inv = Invitation(
        invitation_id=ledger.invitation_id("na_bezorging", event),
        survey_id="na_bezorging",
        customer_id=customer,
        journey_id="o1",
        trigger_event_id=event,
        touchpoint="bezorging",
        owner="carrier:vlotbezorgd",
        channel="email",
        send_at=NOW - timedelta(days=1),
        status="sent",
        origin="system",
        lang="nl",
        sent_at=NOW - timedelta(days=1),
        expires_at=NOW + timedelta(days=6),
    )
    ledger.insert_new(store, [inv])
    return inv


def _token(links: Links, inv: Invitation) -> str:
    return links.sign(inv, "https://cx.example.nl").rsplit("/", 1)[1]


def test_a_genuine_link_verifies_and_any_change_is_refused(store: EventStore) -> None:
    links = Links(KEY, store)
    inv = _invite(store)
    url = links.sign(inv, "https://cx.example.nl/")
    assert url.startswith("https://cx.example.nl/s/s1.")
    token = url.rsplit("/", 1)[1]
    assert links.verify(token, NOW) == Verified(inv.invitation_id, "na_bezorging", inv.expires_at)
    prefix, inv_id, survey, stamp, mac = token.split(".")
    later = str(int(stamp) + 86400)
    tampered = [
        ".".join([prefix, inv_id, "na_contact", stamp, mac]),  # another survey
        ".".join([prefix, inv_id, survey, later, mac]),  # a longer life
        ".".join([prefix, inv_id[:-1] + "0", survey, stamp, mac]),  # another invitation
        token[:-2],  # truncated
        token + "A",
        "s2" + token[2:],
        "garbage",
        "",
    ]
    for bad in tampered:
        assert links.verify(bad, NOW) == "bad_signature", bad
    other_key = Links(derive_key("another-secret-key-0123456789"), store)
    assert other_key.verify(token, NOW) == "bad_signature"


def test_expired_unknown_and_already_answered(store: EventStore) -> None:
    links = Links(KEY, store)
    inv = _invite(store)
    token = _token(links, inv)
    assert links.verify(token, inv.expires_at) == "expired"  # type: ignore[arg-type]
    ghost = links.token("inv_" + "0" * 24, "na_bezorging", NOW + timedelta(days=1))
    assert links.verify(ghost, NOW) == "unknown"
    survey = _survey()
    sink_calls: list[list[dict[str, Any]]] = []
    responses.submit_all(
        store, survey, inv, {"nps": 9, "waarom": "snel"}, sink_calls.append, via="form", at=NOW
    )
    assert links.verify(token, NOW) == "already_answered"
    assert ledger.get(store, inv.invitation_id).status == "answered"  # type: ignore[union-attr]


def test_answers_are_saved_per_question_and_the_link_resumes(store: EventStore) -> None:
    survey = _survey()
    inv = _invite(store)
    responses.open_response(store, inv, "form", "nl", NOW)
    assert responses.next_question(survey, responses.answers(store, inv.invitation_id)).id == "nps"  # type: ignore[union-attr]
    with pytest.raises(responses.AnswerError) as err:
        responses.save_answer(store, survey, inv.invitation_id, "nps", "11")
    assert err.value.code == "out_of_range"
    with pytest.raises(responses.AnswerError) as err:
        responses.save_answer(store, survey, inv.invitation_id, "nps", "")
    assert err.value.code == "required"
    assert responses.save_answer(store, survey, inv.invitation_id, "nps", " 7 ") == 7
    # a new visit (another process, another day) finds the answer and the next question
    saved = responses.answers(store, inv.invitation_id)
    assert saved == {"nps": 7}
    assert responses.next_question(survey, saved).id == "waarom"  # type: ignore[union-attr]
    responses.save_answer(store, survey, inv.invitation_id, "nps", 8)  # changed, not added
    responses.save_answer(store, survey, inv.invitation_id, "waarom", "")  # optional: skipped
    saved = responses.answers(store, inv.invitation_id)
    assert saved == {"nps": 8, "waarom": None}
    assert responses.next_question(survey, saved) is None
    assert responses.open_response(store, inv).started_at == NOW  # the same response


def test_concurrent_submits_make_one_response_and_one_set_of_events(store: EventStore) -> None:
    survey = _survey()
    inv = _invite(store)
    written: list[dict[str, Any]] = []
    lock = threading.Lock()
    outcomes: list[str] = []

    def sink(records: list[dict[str, Any]]) -> None:
        with lock:
            written.extend(records)

    barrier = threading.Barrier(8)

    def submit(score: int) -> None:
        barrier.wait()
        try:
            responses.submit_all(store, survey, inv, {"nps": score}, sink, via="api")
            outcomes.append("ok")
        except responses.AnswerError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=submit, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    count = store.query(
        "SELECT count(*) AS n FROM survey_responses WHERE invitation_id = ?", [inv.invitation_id]
    ).to_pylist()[0]["n"]
    assert count == 1
    assert "ok" in outcomes and set(outcomes) <= {"ok", "finished"}
    # the store refuses a second row for the invitation outright
    with (
        pytest.raises(Exception, match=r"(?i)constraint|duplicate"),
        store.transaction() as con,
    ):
        con.execute(
            "INSERT INTO survey_responses (response_id, invitation_id, survey_id, via,"
            " started_at) VALUES ('resp_x', ?, 'na_bezorging', 'api', now())",
            [inv.invitation_id],
        ).fetchall()
    # every finisher wrote the same event ids: the log keeps one of each
    assert len({r["event_id"] for r in written}) == 1


def test_events_carry_journey_touchpoint_owner_and_origin(store: EventStore) -> None:
    survey = _survey()
    inv = _invite(store)
    records = responses.submit_all(
        store, survey, inv, {"nps": "6", "waarom": "Te laat <b>"}, lambda r: None, at=NOW
    )
    assert len(records) == 1
    (event,) = records
    assert event["kind"] == "survey.response"
    assert (event["metric"], event["score"]) == ("nps", 6)
    assert (event["journey_id"], event["touchpoint"], event["owner"]) == (
        "o1",
        "bezorging",
        "carrier:vlotbezorgd",
    )
    assert (event["text"], event["lang"]) == ("Te laat <b>", "nl")
    assert event["attrs"]["origin"] == "system"
    assert event["attrs"]["survey_id"] == "na_bezorging"
    assert event["attrs"]["invitation_id"] == inv.invitation_id


def test_a_crash_between_closing_and_the_event_write_is_recovered(tmp_path: Path) -> None:
    journey = default_journey_config()
    path = tmp_path / "crash.duckdb"
    survey = _survey()
    with EventStore(path) as store:
        responses.ensure_schema(store)
        inv = _invite(store)
        responses.open_response(store, inv, "form", "nl", NOW)
        responses.save_answer(store, survey, inv.invitation_id, "nps", 3)
        responses.save_answer(store, survey, inv.invitation_id, "waarom", "kapot")

        def crash(records: list[dict[str, Any]]) -> None:
            raise SystemExit("killed before the events were written")

        with pytest.raises(SystemExit):
            responses.finish(store, survey, inv, crash, at=NOW)
        assert responses.is_finished(store, inv.invitation_id)
        assert responses.unrecorded(store) == [inv.invitation_id]
        assert store.count() == 0
    with EventStore(path) as store:  # the restart
        sink = responses.store_sink(store, journey)
        assert responses.recover(store, lambda sid: survey, sink) == 1
        assert responses.unrecorded(store) == []
        assert store.count() == 1
        # finishing again (a second submit, a retry) adds nothing
        responses.finish(store, survey, inv, sink, at=NOW)
        assert store.count() == 1
        row = store.query("SELECT owner, score, text FROM events").to_pylist()[0]
        assert row == {"owner": "carrier:vlotbezorgd", "score": 3.0, "text": "kapot"}
        assert ledger.get(store, inv.invitation_id).status == "answered"  # type: ignore[union-attr]


def test_one_reader_for_the_surveys_file(tmp_path: Path) -> None:
    """App.surveys, the survey form's runtime and the editor's writer use one locator and one
    cached reader: a save is seen by both at once, a broken file by both as its problems."""
    from dataclasses import replace as _replace

    from klantreis.app import App, surveys_path
    from klantreis.listen.survey_file import BUILT_IN, save_surveys, survey_text, writable_path
    from klantreis.model.survey import SurveyConfigError
    from klantreis.web.pages.survey_form import runtime

    built_in = Settings.load(env={}, db_path=":memory:")
    assert writable_path(built_in) is None and str(surveys_path(built_in)).endswith(
        BUILT_IN.split("/", 1)[1]
    )
    path = tmp_path / "surveys.toml"
    path.write_text(survey_text(built_in), encoding="utf-8")
    settings = _replace(built_in, surveys_path=str(path), secret_key="f3c9a1e07b5d4c2a8e6f1b3d")
    with App(settings) as app:
        rt = runtime(app)
        assert app.surveys_path == path == writable_path(app.settings)
        assert rt.config() is app.surveys  # the same object: read once
        text = path.read_text("utf-8").replace('id = "na_bezorging"', 'id = "na_levering"', 1)
        save_surveys(app.settings, text, app.journey)
        assert app.surveys.survey("na_levering") is not None
        assert rt.survey("na_levering") is not None and rt.survey("na_bezorging") is None
        path.write_text("[[survey]]\nid = 3\n", encoding="utf-8")
        with pytest.raises(SurveyConfigError):
            _ = app.surveys
        assert rt.config() is None and rt.problems()
