"""The App owns the metric defaults: with a journey file whose ``min_answers`` is not 30, the
CLI, the Python API, the /scores page and /api/v1/scores all use the journey's minimum
(unless KLANTREIS_MIN_ANSWERS is set explicitly)."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from klantreis.access import accounts
from klantreis.app import App, MetricDefaults
from klantreis.cli.main import cli
from klantreis.model.events import events_from_records
from klantreis.settings import Settings
from klantreis.web import create_app

SECRET = "test-secret-key-0123456789abcdef"
ANSWERS = [10, 10, 9, 9, 9, 8, 7, 6, 3, 10, 9, 2]  # 12 answers: NPS 7/12 - 3/12 = 33.3


def journey_file(tmp_path: Path, min_answers: int, timezone: str = "Europe/Amsterdam") -> Path:
    text = resources.files("klantreis.demo").joinpath("journey.toml").read_text("utf-8")
    assert "min_answers = 30" in text and 'timezone = "Europe/Amsterdam"' in text
    text = text.replace("min_answers = 30", f"min_answers = {min_answers}")
    text = text.replace('timezone = "Europe/Amsterdam"', f'timezone = "{timezone}"')
    path = tmp_path / "journey.toml"
    path.write_text(text, encoding="utf-8")
    return path


def fill(app: App) -> None:
    rows = [
        {
            "event_id": f"s{i}",
            "occurred_at": "2026-04-01T10:00:00Z",
            "kind": "survey.response",
            "metric": "nps",
            "score": score,
            "touchpoint": "bezorging",
        }
        for i, score in enumerate(ANSWERS)
    ]
    app.store.append(events_from_records(rows))


def cli_nps(db: Path, journey: Path) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli,
        ["metrics", "--metric", "nps", "--json", "--db", str(db), "--config", str(journey)],
        env={"KLANTREIS_MIN_ANSWERS": None},
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert len(rows) == 1
    row: dict[str, Any] = rows[0]
    return row


def web_nps(app: App) -> tuple[dict[str, Any], str]:
    accounts.add_user(app.store, "analyst", "analyst", "analyst-pass-1")
    token, _ = accounts.create_token(app.store, ["read"], user="analyst")
    with TestClient(create_app(app, secret_key=SECRET), follow_redirects=False) as client:
        headers = {"Authorization": f"Bearer {token}"}
        api = client.get("/api/v1/scores?period=all", headers=headers)
        page = client.get("/scores?period=all&lang=en", headers=headers)
    assert api.status_code == 200 and page.status_code == 200, (api.text, page.status_code)
    data: dict[str, Any] = api.json()["data"]
    return data, page.text


def nps_cell(page: str) -> str:
    """The overall NPS cell of the scores page (not the whole page: random ids on it, such
    as a session's CSRF token or a handle, may contain any digits)."""
    found = re.search(r'data-testid="overall-nps"[^>]*>(.*?)</td>', page, re.S)
    assert found, "the scores page has its overall NPS cell"
    return found.group(1)


def test_a_journey_minimum_of_5_is_used_everywhere(tmp_path: Path) -> None:
    journey = journey_file(tmp_path, 5)
    db = tmp_path / "store.duckdb"
    settings = Settings.load(env={}, db_path=str(db), journey_config=str(journey))
    with App(settings) as app:
        fill(app)
        assert app.defaults.min_answers == 5
        python = app.scores("nps").to_dict("records")[0]
        data, page = web_nps(app)
    row = cli_nps(db, journey)
    assert python["n"] == row["n"] == data["overall"]["nps"]["n"] == 12
    # 12 answers >= 5: a value everywhere (with the default 30 it would be "too few")
    assert not python["too_few"] and not row["too_few"] and not data["overall"]["nps"]["too_few"]
    values = [python["value"], row["value"], data["overall"]["nps"]["value"]]
    assert values == pytest.approx([100 / 3] * 3)
    assert data["min_answers"] == 5
    assert "33.3" in nps_cell(page)  # the page shows the value


def test_a_journey_minimum_of_20_shows_too_few_everywhere(tmp_path: Path) -> None:
    journey = journey_file(tmp_path, 20)
    db = tmp_path / "store.duckdb"
    settings = Settings.load(env={}, db_path=str(db), journey_config=str(journey))
    with App(settings) as app:
        fill(app)
        python = app.scores("nps").to_dict("records")[0]
        data, page = web_nps(app)
    row = cli_nps(db, journey)
    cell = nps_cell(page)
    assert "33" not in cell and "too few answers" in cell  # no value: "too few answers"
    assert python["too_few"] and row["too_few"] and data["overall"]["nps"]["too_few"]
    assert data["min_answers"] == 20


@pytest.mark.parametrize(
    ("env", "overrides", "expected"),
    [
        ({}, {}, 5),  # not set: the journey file's
        ({"KLANTREIS_MIN_ANSWERS": "30"}, {}, 30),  # set, even to the registry default
        ({}, {"min_answers": 12}, 12),
    ],
)
def test_an_explicit_setting_wins_over_the_journey(
    tmp_path: Path, env: dict[str, str], overrides: dict[str, Any], expected: int
) -> None:
    journey = journey_file(tmp_path, 5, timezone="UTC")
    settings = Settings.load(env=env, journey_config=str(journey), **overrides)
    defaults = MetricDefaults.of(settings, App.load_journey(settings))
    assert defaults.min_answers == expected
    assert defaults.timezone == "UTC"  # the time zone follows the journey when not set
    zoned = Settings.load(
        env={"KLANTREIS_TIMEZONE": "Europe/Amsterdam"},
        db_path=":memory:",
        journey_config=str(journey),
    )
    with App(zoned) as app:  # set explicitly: wins, and the analytics follow it
        assert app.defaults.timezone == app.journey.timezone == "Europe/Amsterdam"
