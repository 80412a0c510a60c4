"""The demo's "Nu in gevaar" list as of the data's end (issue 13: it said "(0)" on a demo
ending on a Sunday morning although hundreds of promises were open)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from klantreis.access import accounts
from klantreis.app import App
from klantreis.demo.runner import run_demo
from klantreis.settings import Settings
from klantreis.web import create_app

#: Sunday 6 December 2026, 08:11 in Amsterdam: no deliveries are due today, the next ones
#: are due Monday from 12:00 (28 hours on), yesterday's late parcels are still on their way.
SUNDAY_MORNING = datetime(2026, 12, 6, 7, 11, tzinfo=UTC)


@pytest.mark.slow
def test_demo_at_risk_list_holds_due_and_overdue_promises(tmp_path: Path) -> None:
    settings = Settings.load(
        env={}, db_path=str(tmp_path / "d.duckdb"), secret_key="test-secret-key-0123456789abcdef"
    )
    with App(settings) as app:
        run_demo(app, 2_000, seed=3, days=30, now=SUNDAY_MORNING)
        accounts.add_user(app.store, "ana", "analyst", "analyst-pass-1")
        token, _ = accounts.create_token(app.store, ["read"], user="ana")
        auth = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(app), follow_redirects=False) as client:
            url = "/api/v1/journeys?period=all&limit=1000"
            data = client.get(url, headers=auth).json()["data"]
            risk = data["at_risk"]["rows"]
            assert data["at_risk"]["total"] == len(risk), "one page holds them all"
            overdue = [r for r in risk if r["overdue"]]
            assert overdue, "yesterday's undelivered parcels: the customer is still waiting"
            assert all(r["due_in_minutes"] < 0 for r in overdue)
            assert any(not r["overdue"] and r["due_in_minutes"] > 0 for r in risk), "due soon"
            opened = sum(r["open"] for r in data["promises"]["rates"])
            assert len(risk) >= 0.1 * opened, (len(risk), opened)
            html = client.get("/journeys?period=all", headers=auth).text
            assert f"Nu in gevaar ({len(risk)})" in html and len(risk) > 0
            assert "te laat</span>, nog niet nagekomen" in html and "deadline over" in html
            # durations in words, no negative zero, no finding said twice
            assert "Min. te laat" not in html and "Gem. te laat" in html
            assert " dag" in html or " uur" in html
            assert "-0,0" not in html and "−0,0" not in html
            conditions = [i["condition"] for i in data["impact"]]
            assert "broken:op_tijd_bezorgd" in conditions
            assert "late:op_tijd_bezorgd" not in conditions
            assert "Te laat of niet bezorgd: Op tijd bezorgd" in html
