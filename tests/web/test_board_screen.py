"""The board-room screen in a real browser (issue 13): a journey map that reads at 1366 and
390 px, key table columns in view on a phone, a CES chart whose axis title is not clipped.

On a small demo store; Chromium at laptop and phone size."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, chromium, log_in, serving

from conftest import PASSWORDS, SECRET
from klantreis.access import accounts
from klantreis.app import App
from klantreis.demo.runner import run_demo
from klantreis.settings import Settings

pytestmark = BROWSER_MARKS

SIZES = {"laptop": (1366, 768), "phone": (390, 844)}
DEMO_END = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)

#: Boxes of the visible map's edge labels, boxes and stage names, and the map's own box.
MAP_BOXES = """() => {
  const svg = [...document.querySelectorAll('.journey-map svg')]
    .find(s => getComputedStyle(s).display !== 'none');
  const box = el => { const r = el.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom, el.textContent.trim()]; };
  return {
    map: box(svg),
    labels: [...svg.querySelectorAll('[data-testid=map-edge-label]')].map(box),
    nodes: [...svg.querySelectorAll('g.node rect')].map(box),
    edges: svg.querySelectorAll('[data-testid=map-edge]').length,
    handovers: svg.querySelectorAll('g.edge.handover').length,
    owners: [...svg.querySelectorAll('g.node')].map(
      g => [...g.querySelectorAll('[data-testid=map-owner]')].map(t => t.textContent.trim())),
  };
}"""


def _overlap(a: list[Any], b: list[Any], slack: float = 0.5) -> bool:
    return (
        a[0] + slack < b[2] and b[0] + slack < a[2] and a[1] + slack < b[3] and b[1] + slack < a[3]
    )


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = App(Settings.load(env={}, db_path=":memory:", secret_key=SECRET))
    run_demo(app, 1500, seed=3, days=60, now=DEMO_END)
    for role, password in PASSWORDS.items():
        accounts.add_user(app.store, role, role, password)
    with serving(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _page(browser: Any, server: str, size: str, role: str = "analyst", lang: str = "nl") -> Any:
    width, height = SIZES[size]
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    log_in(page, server, role, PASSWORDS[role])
    page.goto(f"{server}/?lang={lang}")
    return page


@pytest.mark.parametrize("size", list(SIZES))
def test_journey_map_labels_do_not_overlap_and_the_map_fits(
    browser: Any, server: str, size: str
) -> None:
    page = _page(browser, server, size)
    page.goto(f"{server}/journeys?period=all")
    m = page.evaluate(MAP_BOXES)
    width = SIZES[size][0]
    assert m["map"][0] >= 0 and m["map"][2] <= width, ("map wider than the screen", m["map"])
    labels = m["labels"]
    assert len(labels) >= 5, "the main transitions carry their counts"
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            assert not _overlap(a, b), ("labels overlap", a, b)
        for n in m["nodes"]:
            assert not _overlap(a, n), ("label over a box", a, n)
    # readable: a label is at least 8 px high on screen (the map is not shrunk to a stamp)
    assert min(b[3] - b[1] for b in labels) >= 8
    # a hand-over only where the owner changes along the owner sequence: a few, not all
    assert 1 <= m["handovers"] <= m["edges"] // 2, (m["handovers"], m["edges"])
    # several owners per step with their scores: the three carriers at delivery
    delivery = next(o for o in m["owners"] if any("SnelPost" in x for x in o))
    assert len(delivery) == 3 and all("CSAT" in x for x in delivery), delivery
