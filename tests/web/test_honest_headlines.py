"""Honest headlines on the index and score pages: CES coloured as "lower is better", only
significant changes coloured, the base period's dates, a stale-data notice (never "vandaag"
for a day weeks ago), and "all" without a previous period."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from conftest import SECRET, do_login, fill_store, make_settings
from klantreis.app import App
from klantreis.web import create_app


def _span(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(?:td|span)>', html, re.S)
    assert found, testid
    return found.group(1)


def test_more_effort_is_not_green(as_user: Any) -> None:
    """In the last 7 days delivery got worse: NPS down, CES up (more effort), CSAT down."""
    data = as_user("analyst").get("/api/v1/scores?period=7d").json()["data"]["overall"]
    assert data["ces"]["diff"] > 0 and data["ces"]["significant"]
    assert data["nps"]["diff"] < 0 and data["nps"]["significant"]
    page = as_user("analyst").get("/scores?period=7d").text
    ces, nps = _span(page, "overall-ces-change"), _span(page, "overall-nps-change")
    assert 'class="delta worse"' in ces and "better" not in ces
    assert 'class="delta worse"' in nps
    table = re.search(r'data-testid="breakdown-touchpoint".*?</table>', page, re.S)
    assert table is not None
    row = re.search(r"<tr>\s*<td>Bezorging</td>.*?</tr>", table.group(0), re.S)
    assert row is not None
    cells = re.findall(r'<span class="delta([^"]*)"', row.group(0))
    assert cells == [" worse", " worse", " worse"]  # NPS down, CES up, CSAT down: all worse


def test_insignificant_changes_are_neutral(as_user: Any) -> None:
    data = as_user("viewer").get("/api/v1/index?period=30d").json()["data"]
    assert data["change_today"] not in (None, 0)
    assert data["change_today_significant"] is False
    page = as_user("viewer").get("/?period=30d").text
    assert re.search(r'data-testid="change-today">[^<]*<span class="delta">', page)


def test_the_index_names_its_base_period_and_band(as_user: Any) -> None:
    viewer = as_user("viewer")
    nl = viewer.get("/?period=all").text
    assert "100 = gemiddelde van 31 januari t/m 27 februari 2026" in nl
    assert "100 = the average of 31 January to 27 February 2026" in viewer.get("/?lang=en").text
    data = viewer.get("/api/v1/index").json()["data"]
    assert data["min_answers"] == 30
    point = data["series"][-1]
    assert point["ci_low"] < point["value"] < point["ci_high"]
    chart = re.search(r'data-chart-for="chart-index">(.*?)</script>', nl, re.S)
    assert chart is not None and '"ci_low"' in chart.group(1) and '"area"' in chart.group(1)


def test_old_data_gets_a_notice_and_no_today(as_user: Any) -> None:
    page = as_user("viewer").get("/").text  # the store ends on 31 March 2026
    notice = re.search(r'data-testid="stale">(.*?)</p>', page, re.S)
    assert notice is not None and "31 mrt 2026" in notice.group(1)
    assert "dagen geleden" in notice.group(1)
    today = _span(page, "change-today")
    assert "vandaag" not in today and "op 31 mrt" in today


@pytest.fixture
def fresh_client(tmp_path: Path) -> Iterator[TestClient]:
    with App(make_settings(str(tmp_path / "fresh.duckdb"))) as app:
        # five past midnight of the store's own today (not UTC's: from 23:00 UTC on, UTC's
        # midnight is yesterday in Amsterdam and the page rightly says "gisteren")
        zone = ZoneInfo(app.defaults.timezone)
        end = datetime.now(zone).replace(hour=0, minute=5, second=0, microsecond=0)
        fill_store(app, days=30, end=end.astimezone(UTC))
        with TestClient(create_app(app, secret_key=SECRET), follow_redirects=False) as c:
            yield do_login(c, "viewer")


def test_fresh_data_says_today_without_a_notice(fresh_client: TestClient) -> None:
    page = fresh_client.get("/").text
    assert 'data-testid="stale"' not in page
    assert "vandaag" in _span(page, "change-today")


def test_all_has_no_previous_period_and_no_change_sentence(as_user: Any) -> None:
    analyst = as_user("analyst")
    data = analyst.get("/api/v1/scores?period=all").json()["data"]
    assert data["previous_coverage"] is None
    assert all(row["diff"] is None for row in data["overall"].values() if row)
    page = analyst.get("/scores?period=all").text
    assert 'data-testid="change-explain"' not in page and "Alles ervoor" not in page
    assert "Alles tegenover" not in page


def test_a_previous_period_with_missing_days_is_flagged(as_user: Any) -> None:
    """The store holds 60 days: the previous 30 days are whole, the previous 90 are not."""
    analyst = as_user("analyst")
    whole = analyst.get("/api/v1/scores?period=30d").json()["data"]["previous_coverage"]
    assert whole["days"] == 30 and whole["days_with_data"] == 30 and not whole["partial"]
    assert 'data-testid="previous-partial"' not in analyst.get("/scores?period=30d").text
    part = analyst.get("/api/v1/scores?period=90d").json()["data"]["previous_coverage"]
    assert part == {
        "first_day": "2025-10-03",
        "last_day": "2025-12-31",
        "days": 90,
        "days_with_data": 0,
        "partial": True,
    }
    page = analyst.get("/scores?period=7d&lang=en").text
    assert 'data-testid="previous-partial"' not in page
    flagged = analyst.get("/scores?period=90d&lang=nl").text
    assert "vorige periode: 0 van 90 dagen met gegevens" in flagged
