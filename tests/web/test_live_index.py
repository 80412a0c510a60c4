"""The index page updates live: new events arrive -> the page's content is swapped without a
reload (server-sent events); a new alert for the reader appears in a live region."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, chromium, log_in, serving

from conftest import PASSWORDS, SECRET, survey_records
from klantreis.access import accounts
from klantreis.act import alerts
from klantreis.act.alerts import AlertSignal
from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.settings import Settings

pytestmark = BROWSER_MARKS
END = datetime(2026, 3, 31, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def live_server() -> Iterator[tuple[str, App]]:
    app = App(Settings.load(env={}, db_path=":memory:", secret_key=SECRET))
    ingest_table(app.store, events_from_records(survey_records(end=END)), app.journey, "test")
    for role, password in PASSWORDS.items():
        accounts.add_user(app.store, role, role, password)
    with serving(app) as base:
        yield base, app


def test_new_events_and_alerts_arrive_without_a_reload(live_server: tuple[str, App]) -> None:
    base, app = live_server
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        log_in(page, base, "viewer", PASSWORDS["viewer"])
        page.wait_for_selector("[data-testid=index-value]")
        page.evaluate("window.__sameDocument = true")
        before = page.inner_text("[data-testid=index-explain]")
        # a day of very unhappy answers after the last one
        records: list[dict[str, Any]] = [
            {
                "event_id": f"live-{i}",
                "occurred_at": (END + timedelta(days=1, minutes=i)).isoformat(),
                "kind": "survey.response",
                "touchpoint": "bezorging",
                "owner": "carrier:snelpost",
                "customer_id": f"L{i}",
                "metric": "nps",
                "score": 0,
            }
            for i in range(60)
        ]
        ingest_table(app.store, events_from_records(records), app.journey, "test")
        page.wait_for_selector(
            "[data-testid=live-status]:not(:empty)", state="attached", timeout=20_000
        )
        assert page.evaluate("window.__sameDocument") is True  # no reload
        assert page.inner_text("[data-testid=index-explain]") != before
        # an alert for the viewer shows up in the live region, as text
        alerts.add_subscription(app.store, "viewer", "webhook", "http://127.0.0.1:9/hook")
        signal = AlertSignal("index", "index", -4.4, 0.001, END.date() + timedelta(days=1))
        alerts.dispatch(app.store, [signal], app.names, lambda *a: None)
        page.wait_for_selector("[data-testid=live-alerts] li", timeout=20_000)
        text = page.inner_text("[data-testid=live-alerts] li")
        assert "CX-index" in text and "-4,4" in text
        assert page.evaluate("window.__sameDocument") is True


def test_the_stream_needs_a_login(live_server: tuple[str, App]) -> None:
    import urllib.error
    import urllib.request

    base, _ = live_server
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{base}/stream/updates", timeout=5)
    assert err.value.code == 401
