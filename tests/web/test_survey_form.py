"""The respondent form (``/s/{token}``), the widget endpoints, the responses API and the
survey pages, through the web app (TestClient; the browser tests are in
test_survey_browser.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import bearer, do_login, make_settings
from klantreis.access import accounts
from klantreis.app import App
from klantreis.listen import ledger, responses
from klantreis.listen.ledger import Invitation
from klantreis.web import create_app
from klantreis.web.pages.survey_form import runtime

OWNER = "carrier:snelpost"
WIDGET_SECRET = "9c1e07b5d4c2a8e6f1b3d9c7a5e2f4b8"


def shop_signed(customer: str, ttl: int = 3600, secret: str = WIDGET_SECRET) -> str:
    """``&customer=...&expires=...&sig=...`` as the shop's server computes it (independently
    of klantreis: hashlib and hmac only)."""
    expires = int(time.time()) + ttl
    sig = hmac.new(secret.encode(), f"{customer}.{expires}".encode(), hashlib.sha256)
    return f"&customer={customer}&expires={expires}&sig={sig.hexdigest()}"


def invite(
    app: App, event: str, lang: str = "nl", expires_in: float = 6, customer: str = "C1"
) -> str:
    """A sent invitation to ``na_bezorging``; its link's path (``/s/<token>``)."""
    now = datetime.now(UTC)
    inv = Invitation(
        invitation_id=ledger.invitation_id("na_bezorging", event),
        survey_id="na_bezorging",
        customer_id=customer,
        journey_id=f"O-{event}",
        trigger_event_id=event,
        touchpoint="bezorging",
        owner=OWNER,
        channel="email",
        send_at=now - timedelta(days=1),
        status="sent",
        lang=lang,
        sent_at=now - timedelta(days=1),
        expires_at=now + timedelta(days=expires_in),
    )
    rt = runtime(app)
    ledger.insert_new(app.store, [inv])
    return "/" + rt.links.sign(inv, "http://testserver").split("/", 3)[3]


@pytest.fixture
def survey_app(template_store: Path, tmp_path: Path) -> Iterator[App]:
    """The synthetic store with a writable surveys file (a copy of the demo's)."""
    path = tmp_path / "store.duckdb"
    shutil.copyfile(template_store, path)
    surveys = tmp_path / "surveys.toml"
    surveys.write_text(
        resources.files("klantreis.demo").joinpath("surveys.toml").read_text("utf-8"), "utf-8"
    )
    settings = replace(
        make_settings(str(path)), surveys_path=str(surveys), widget_secret=WIDGET_SECRET
    )
    a = App(settings)
    yield a
    a.close()


@pytest.fixture
def web(survey_app: App) -> Iterator[TestClient]:
    with TestClient(create_app(survey_app, cache_pages=False), follow_redirects=False) as c:
        yield c


def _owner_n(client: TestClient) -> int:
    data = client.get("/api/v1/scores?period=all").json()["data"]
    rows = [r for r in data["breakdowns"]["owner"] if r["key"] == OWNER]
    return int(rows[0]["nps"]["n"]) if rows else 0


def test_a_link_answered_question_by_question_lands_in_the_carriers_scores(
    survey_app: App, web: TestClient
) -> None:
    analyst = TestClient(web.app, follow_redirects=False)
    do_login(analyst, "analyst")
    before = _owner_n(analyst)
    link = invite(survey_app, "e1")
    page = web.get(link)
    assert page.status_code == 200
    assert "set-cookie" not in page.headers  # no cookies at all, let alone third-party ones
    assert "script-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert "<fieldset" in html and "<legend" in html and html.count('type="radio"') == 11
    assert "Vraag 1 van 2" in html and "0 = helemaal niet waarschijnlijk" in html
    assert "<script" not in html
    # nothing personal, no ids (a whole word: the link's random token may hold "C1")
    assert not re.search(r"\bC1\b", html) and OWNER not in html
    sent = web.post(link, data={"question": "nps", "nps": "3"})
    assert sent.status_code == 303 and sent.headers["location"] == link
    second = web.get(link)  # reopened: at the first unanswered question
    assert "Vraag 2 van 2" in second.text and "<textarea" in second.text
    assert "Vorige vraag" in second.text
    assert 'value="3" id="q-nps-3" checked' in web.get(link + "?q=nps").text  # kept
    done = web.post(link, data={"question": "waarom", "waarom": "Te <b>laat</b>"})
    assert done.status_code == 303 and done.headers["location"] == link + "/thanks"
    thanks = web.get(link + "/thanks")
    assert thanks.status_code == 200 and "Je antwoord helpt ons" in thanks.text
    again = web.get(link)
    assert again.status_code == 409 and "al ingevuld" in again.text
    assert web.post(link, data={"question": "nps", "nps": "10"}).status_code == 409
    assert _owner_n(analyst) == before + 1
    stored = survey_app.store.query(
        "SELECT owner, touchpoint, score, text, attrs FROM events WHERE kind = 'survey.response'"
        " AND journey_id = 'O-e1'"
    ).to_pylist()
    assert len(stored) == 1
    assert (stored[0]["owner"], stored[0]["score"], stored[0]["text"]) == (
        OWNER,
        3.0,
        "Te <b>laat</b>",
    )
    assert json.loads(stored[0]["attrs"])["origin"] == "system"
    analyst.close()


def test_errors_are_announced_and_tied_to_the_question(survey_app: App, web: TestClient) -> None:
    link = invite(survey_app, "e2")
    answer = web.post(link, data={"question": "nps"})
    assert answer.status_code == 422
    html = answer.text
    assert 'class="error-summary" role="alert"' in html
    assert 'href="#q-nps-0"' in html
    assert 'aria-describedby="q-nps-ends q-nps-error"' in html
    assert "deze vraag is verplicht" in html
    assert web.post(link, data={"question": "nps", "nps": "11"}).status_code == 422
    long = web.post(link, data={"question": "nps", "nps": "8"})
    assert long.status_code == 303
    too_long = web.post(link, data={"question": "waarom", "waarom": "x" * 2001})
    assert too_long.status_code == 422 and "hoogstens 2.000 tekens" in too_long.text


@pytest.mark.parametrize(
    ("lang", "query", "expected", "shown"),
    [
        ("nl", "?lang=en", "How likely are you to recommend us", "en"),
        ("en", "", "How likely are you to recommend us", "en"),
        ("nl-BE", "", "Hoe waarschijnlijk is het dat u ons aanbeveelt", "nl-BE"),
        ("de", "", "Hoe waarschijnlijk is het dat je ons aanbeveelt", "nl"),  # the default
    ],
)
def test_language_by_invitation_with_override_and_fallback(
    survey_app: App, web: TestClient, lang: str, query: str, expected: str, shown: str
) -> None:
    page = web.get(invite(survey_app, "e-" + lang, lang) + query)
    assert expected in page.text
    assert f'<html lang="{shown}">' in page.text  # the language the questions are in


def test_refused_links_say_why(survey_app: App, web: TestClient) -> None:
    link = invite(survey_app, "e3")
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    page = web.get(tampered)
    assert page.status_code == 404 and "niet geldig" in page.text
    assert web.get("/s/nonsense?lang=en").status_code == 404
    expired = invite(survey_app, "e4", expires_in=-1 / 24)
    page = web.get(expired)
    assert page.status_code == 410 and "verlopen" in page.text
    assert web.post(expired, data={"question": "nps", "nps": "9"}).status_code == 410
    assert web.get(link + "/thanks").status_code == 404  # not finished: no thank-you


def test_posts_are_limited_in_rate_and_size(survey_app: App, web: TestClient) -> None:
    link = invite(survey_app, "e5")
    assert (
        web.post(
            link,
            content=b"x" * 300_000,
            headers={"content-type": "application/x-www-form-urlencoded"},
        ).status_code
        == 413
    )
    runtime(survey_app).limit.per_minute = 3
    codes = [web.post(link, data={"question": "nps"}).status_code for _ in range(5)]
    assert codes[-1] == 429 and 429 in codes


def test_widget_asks_the_server_and_answers_once(survey_app: App, web: TestClient) -> None:
    ask = web.get("/s/widget/ask?survey=na_bezorging&lang=en" + shop_signed("W1"))
    assert ask.status_code == 200 and ask.headers["access-control-allow-origin"] == "*"
    data = ask.json()["data"]
    assert data["ask"] is True and data["survey"]["questions"][0]["scale"] == list(range(11))
    token = data["token"]
    bad = web.post(f"/s/widget/{token}", content=json.dumps({"answers": {"nps": 12}}))
    assert bad.status_code == 422 and bad.json()["error"]["question_id"] == "nps"
    ok = web.post(f"/s/widget/{token}", content=json.dumps({"answers": {"nps": 9}}))
    assert ok.status_code == 200 and ok.json()["data"]["thanks"].startswith("Thank you")
    again = web.post(f"/s/widget/{token}", content=json.dumps({"answers": {"nps": 1}}))
    assert again.status_code == 409
    later = web.get("/s/widget/ask?survey=na_bezorging" + shop_signed("W1")).json()["data"]
    assert later == {"ask": False, "reason": "cooldown"}
    other = web.get("/s/widget/ask?survey=na_contact" + shop_signed("W1")).json()["data"]
    assert other == {"ask": False, "reason": "min_days_between"}
    # the decision is a seam the contact-rule engine replaces
    runtime(survey_app).may_ask = lambda customer, survey: (False, "quiet_hours")
    asked = web.get("/s/widget/ask?survey=na_bezorging" + shop_signed("W2")).json()["data"]
    assert asked["reason"] == "quiet_hours"


def test_widget_refuses_unsigned_forged_and_expired_customer_ids(
    survey_app: App, web: TestClient
) -> None:
    ask = "/s/widget/ask?survey=na_bezorging&lang=en"
    unsigned = web.get(ask + "&customer=W9")
    assert unsigned.status_code == 403 and unsigned.headers["access-control-allow-origin"] == "*"
    error = unsigned.json()["error"]
    assert error["code"] == "unsigned" and "signature" in error["message"]
    # a visitor who edits the page to ask in another customer's name
    forged = shop_signed("W9").replace("customer=W9", "customer=W10")
    assert web.get(ask + forged).json()["error"]["code"] == "bad_signature"
    wrong_key = shop_signed("W9", secret="another-shop-secret-of-32-chars!!")
    assert web.get(ask + wrong_key).json()["error"]["code"] == "bad_signature"
    longer = shop_signed("W9").replace("expires=", "expires=1")  # the expiry changed
    assert web.get(ask + longer).json()["error"]["code"] == "bad_signature"
    expired = web.get(ask + shop_signed("W9", ttl=-5))
    assert expired.status_code == 403 and expired.json()["error"]["code"] == "expired"
    assert "expired" in expired.json()["error"]["message"]
    month = web.get(ask + shop_signed("W9", ttl=31 * 86400)).json()["error"]["code"]
    assert month == "too_long_lived"
    nl = web.get("/s/widget/ask?survey=na_bezorging&lang=nl&customer=W9").json()
    assert "handtekening" in nl["error"]["message"]
    # nothing was recorded for the refused ones
    n = survey_app.store.query(
        "SELECT count(*) AS n FROM survey_invitations WHERE customer_id IN ('W9', 'W10')"
    ).to_pylist()[0]["n"]
    assert n == 0
    valid = web.get(ask + shop_signed("W9"))
    assert valid.status_code == 200 and valid.json()["data"]["ask"] is True


def test_widget_without_a_secret_is_off_outside_demo_mode(survey_app: App) -> None:
    settings = replace(survey_app.settings, widget_secret="")
    with App(settings) as app, TestClient(create_app(app)) as c:
        off = c.get("/s/widget/ask?survey=na_bezorging" + shop_signed("W1"))
    assert off.status_code == 503 and off.json()["error"]["code"] == "widget_not_configured"


def test_the_responses_api_finishes_once(survey_app: App, web: TestClient) -> None:
    token, _ = accounts.create_token(survey_app.store, ["ingest"], name="surveys")
    read, _ = accounts.create_token(survey_app.store, ["read"], name="reader")
    invite(survey_app, "e6")
    inv_id = ledger.invitation_id("na_bezorging", "e6")
    url = "/api/v1/surveys/na_bezorging/responses"
    body = {"invitation_id": inv_id, "answers": {"nps": 10, "waarom": "Prima"}}
    assert web.post(url, json=body).status_code == 401
    assert web.post(url, json=body, headers=bearer(read)).status_code == 403
    bad = web.post(url, json={**body, "answers": {"nps": 99}}, headers=bearer(token))
    assert bad.status_code == 422 and bad.json()["ok"] is False
    ok = web.post(url, json=body, headers=bearer(token))
    assert ok.status_code == 200 and ok.json()["data"]["finished"] is True
    assert web.post(url, json=body, headers=bearer(token)).status_code == 409
    assert responses.unrecorded(survey_app.store) == []
    n = survey_app.store.query(
        "SELECT count(*) AS n FROM events WHERE journey_id = 'O-e6'"
    ).to_pylist()[0]["n"]
    assert n == 1


def test_surveys_list_editor_and_preview(survey_app: App, web: TestClient) -> None:
    invite(survey_app, "e7")
    viewer = do_login(TestClient(web.app, follow_redirects=False), "viewer")
    assert viewer.get("/surveys").status_code == 403
    assert viewer.get("/surveys/edit").status_code == 403
    analyst = do_login(TestClient(web.app, follow_redirects=False), "analyst")
    listing = analyst.get("/surveys")
    assert listing.status_code == 200 and "Na de bezorging" in listing.text
    assert analyst.get("/api/v1/surveys").json()["data"]["surveys"][0]["invitations"] == 1
    preview = analyst.get("/surveys/na_bezorging/preview")
    assert preview.status_code == 200
    assert "Hoe waarschijnlijk" in preview.text and "How likely" in preview.text
    assert 'lang="en"' in preview.text and "disabled" in preview.text
    assert 'method="post"' not in preview.text
    assert analyst.get("/surveys/nope/preview").status_code == 404
    path = Path(survey_app.settings.surveys_path)
    original = path.read_text("utf-8")
    csrf = analyst.cookies.get("kr_csrf")
    assert analyst.post("/surveys/edit", data={"text": original}).status_code == 403  # no CSRF
    broken = original.replace('type = "nps"', 'type = "nope"').replace(
        'delay = "1d"', 'delay = "soon"'
    )
    refused = analyst.post("/surveys/edit", data={"text": broken, "csrf_token": csrf})
    assert refused.status_code == 422
    assert refused.text.count("<li>") >= 2  # every problem listed
    assert path.read_text("utf-8") == original  # nothing saved
    changed = original.replace('name_en = "After delivery"', 'name_en = "After the delivery"')
    saved = analyst.post("/surveys/edit", data={"text": changed, "csrf_token": csrf})
    assert saved.status_code == 303
    assert path.read_text("utf-8") == changed
    assert "After the delivery" in analyst.get("/surveys?lang=en").text
    assert not list(path.parent.glob(".surveys-*"))  # no temporary file left
    viewer.close()
    analyst.close()


def test_webhook_test_button_sends_a_real_signed_sample(survey_app: App, web: TestClient) -> None:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            got.append(
                {
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": json.loads(body),
                }
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        admin = do_login(TestClient(web.app, follow_redirects=False), "admin")
        analyst = do_login(TestClient(web.app, follow_redirects=False), "analyst")
        assert analyst.get("/surveys/webhooks").status_code == 403
        csrf = admin.cookies.get("kr_csrf")
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        added = admin.post("/surveys/webhooks", data={"url": url, "csrf_token": csrf})
        assert added.status_code == 200 and "whsec_" in added.text
        bad = admin.post("/surveys/webhooks", data={"url": "javascript:x", "csrf_token": csrf})
        assert bad.status_code == 422
        page = admin.get("/surveys/webhooks").text
        sub_id = page.split("/surveys/webhooks/")[1].split("/")[0]
        tested = admin.post(f"/surveys/webhooks/{sub_id}/test", data={"csrf_token": csrf})
        assert tested.status_code == 200 and "afgeleverd (HTTP 204)" in tested.text
        assert got[0]["body"]["type"] == "response.finished"
        assert got[0]["headers"]["webhook-signature"].startswith("v1,")
        assert base64.b64decode(got[0]["headers"]["webhook-signature"][3:])
        admin.close()
        analyst.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_response_closed_before_a_crash_is_recorded_after_the_restart(survey_app: App) -> None:
    """The server died between closing a response and writing its events: the restarted
    server records it on its first survey request, once."""
    link = invite(survey_app, "crash")
    inv = ledger.get(survey_app.store, ledger.invitation_id("na_bezorging", "crash"))
    assert inv is not None
    survey = runtime(survey_app).survey("na_bezorging")
    assert survey is not None
    responses.open_response(survey_app.store, inv, "form", "nl")
    responses.save_answer(survey_app.store, survey, inv.invitation_id, "nps", 2)
    responses.save_answer(survey_app.store, survey, inv.invitation_id, "waarom", "")
    responses.close(survey_app.store, survey, inv.invitation_id)  # ... and then the kill
    assert responses.unrecorded(survey_app.store) == [inv.invitation_id]
    with TestClient(create_app(survey_app), follow_redirects=False) as restarted:
        ask = "/s/widget/ask?survey=na_bezorging" + shop_signed("other")
        assert restarted.get(ask).status_code == 200
        assert restarted.get(link).status_code == 409  # finished and recorded
    assert responses.unrecorded(survey_app.store) == []
    n = survey_app.store.query(
        "SELECT count(*) AS n FROM events WHERE journey_id = 'O-crash'"
    ).to_pylist()[0]["n"]
    assert n == 1
    assert ledger.get(survey_app.store, inv.invitation_id).status == "answered"  # type: ignore[union-attr]
