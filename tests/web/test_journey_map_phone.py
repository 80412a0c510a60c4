"""The journey map on a 390 px phone: no edge crosses a stage name (walk 8 saw "Levering en
gebruik" struck through by the hand-over from Betalen to Verzending). Checked in Chromium on
the small demo: along the middle of each stage name, the name is what is on top."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, chromium, log_in, serving

from conftest import PASSWORDS, demo1500_copy
from klantreis.access import accounts

pytestmark = BROWSER_MARKS

STAGES = "svg.map-phone [data-testid=map-stage]"
#: One stage name of the phone map (scrolled into view): its text, its width and how many
#: points along its middle line have something else (an edge) on top of it.
CROSSED = """i => {
  const t = document.querySelectorAll('svg.map-phone [data-testid=map-stage]')[i];
  const r = t.getBoundingClientRect(), y = r.top + r.height / 2;
  let hits = 0;
  for (let x = Math.ceil(r.left) + 1; x < r.right - 1; x += 1) {
    const top = document.elementFromPoint(x, y);
    if (top !== t && top && top.closest('svg.map-phone')) hits += 1;
  }
  return [t.textContent, r.width, hits];
}"""


@pytest.fixture(scope="module")
def server(demo1500_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = demo1500_copy(demo1500_store, tmp_path_factory, "map-phone")
    accounts.add_user(app.store, "analyst", "analyst", PASSWORDS["analyst"])
    with serving(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_no_edge_crosses_a_stage_name_on_a_phone(browser: Any, server: str, lang: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    log_in(page, server, "analyst", PASSWORDS["analyst"])
    page.goto(f"{server}/journeys?period=all&lang={lang}")
    stages = []
    for i in range(page.locator(STAGES).count()):
        page.locator(STAGES).nth(i).scroll_into_view_if_needed()
        stages.append(page.evaluate(CROSSED, i))
    context.close()
    assert len(stages) >= 3 and all(width > 20 for _, width, _ in stages), stages
    assert [s for s in stages if s[2]] == [], "an edge crosses these stage names"
