"""Fixtures for the journeys tests: an App holding the small hand-made log."""

from __future__ import annotations

import pytest

from klantreis.app import App
from tests.journeys.logs import load, small_log


@pytest.fixture
def small_app(app: App) -> App:
    load(app, small_log())
    return app
