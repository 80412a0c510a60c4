"""Fixtures for the journeys tests: an App holding the small hand-made log."""

from __future__ import annotations

import pytest
from tests.journeys.logs import load, small_log

from klantreis.app import App


@pytest.fixture
def small_app(app: App) -> App:
    load(app, small_log())
    return app
