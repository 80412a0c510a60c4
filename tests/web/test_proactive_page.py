"""/proactive: the demo pilot's experiment on the page and in the API, in both languages;
a rule without a holdout shows no contacts avoided."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.web.conftest import PASSWORDS, do_login, make_settings

from klantreis.access import accounts
from klantreis.act import proactive
from klantreis.app import App
from klantreis.demo.runner import run_demo
from klantreis.web import create_app


@pytest.fixture(scope="module")
def demo_app(demo30k: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """A copy of the run's shared ``run_demo(app, orders=30_000, seed=7)`` (tests/conftest.py)."""
    db = tmp_path_factory.mktemp("proactive") / "demo.duckdb"
    shutil.copyfile(demo30k[0], db)
    app = App(make_settings(str(db)))
    for role, password in PASSWORDS.items():
        accounts.add_user(app.store, role, role, password)
    yield app
    app.close()


@pytest.fixture
def viewer(demo_app: App) -> Iterator[TestClient]:
    with TestClient(create_app(demo_app), follow_redirects=False) as c:
        yield do_login(c, "viewer")


@pytest.mark.slow
def test_the_pilot_shows_its_holdout_comparison_to_a_viewer(viewer: TestClient) -> None:
    page = viewer.get("/proactive?lang=nl")
    assert page.status_code == 200
    html = page.text
    assert "Pakket dreigt te laat te komen" in html
    assert "VlotBezorgd" in html and "carrier:vlotbezorgd" not in html
    effect = re.search(r'data-testid="effect">(.*?)</p>', html, re.S)
    assert effect is not None and "per 100 signalen" in effect.group(1)
    assert "Significant" in effect.group(1)
    assert "&amp;lt;" not in effect.group(1)  # "p < 0,001" escaped once, not twice
    assert re.search(r"p (&lt;|=) 0,\d{3}", effect.group(1))
    avoided = re.search(r'data-testid="avoided">([^<]*)<', html)
    assert avoided is not None and re.fullmatch(r"[\d.]+ \([\d.]+ tot [\d.]+\)", avoided.group(1))
    saved = re.search(r'data-testid="saved">([^<]*)<', html)
    assert saved is not None and saved.group(1).startswith("€")
    english = viewer.get("/proactive?lang=en").text
    assert "Parcel about to be late" in english and "contacts per 100 signals" in english
    # the arms table stacks on a phone, each number named (tests/web/test_phone_tables.py)
    arms = re.search(r'<table class="data stack" data-testid="arms">.*?</table>', html, re.S)
    assert arms and arms.group(0).count('data-label="Contacten"') == 3
    api = viewer.get("/api/v1/proactive")
    assert api.status_code == 200
    rule = api.json()["data"]["rules"][0] if "data" in api.json() else api.json()["rules"][0]
    assert rule["reason"] is None
    assert rule["ci_low"] < rule["diff_per_100"] < rule["ci_high"] < 0
    assert rule["arms"]["holdout"]["journeys"] > 30


def test_without_a_holdout_the_page_claims_no_effect(tmp_path: Path) -> None:
    rules = tmp_path / "proactive.toml"
    from importlib import resources

    text = resources.files("klantreis.demo").joinpath("proactive.toml").read_text("utf-8")
    text = text.replace("holdout = 0.10", "holdout = 0.0").replace('"pilot-1"', '"all-in"')
    rules.write_text(text, "utf-8")
    settings = make_settings(str(tmp_path / "s.duckdb"))
    from dataclasses import replace

    settings = replace(settings, proactive_config=str(rules))
    with App(settings) as app:
        run_demo(app, orders=3_000, seed=5)
        decisions, _ = proactive.run(app.store, app.journey, app.proactive)
        assert decisions and {d.arm for d in decisions} <= {"message"}
        accounts.add_user(app.store, "viewer", "viewer", PASSWORDS["viewer"])
        with TestClient(create_app(app), follow_redirects=False) as c:
            html = do_login(c, "viewer").get("/proactive?lang=nl").text
    assert 'data-testid="no-holdout"' in html
    assert 'data-testid="avoided"' not in html and 'data-testid="saved"' not in html
