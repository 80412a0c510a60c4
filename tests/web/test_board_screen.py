"""The board-room screen in a real browser (issue 13): a journey map that reads at 1366 and
390 px, key table columns in view on a phone, a CES chart whose axis title is not clipped.

On a small demo store; Chromium at laptop and phone size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.browser_support import BROWSER_MARKS, charts_drawn, chromium, log_in, serving

from conftest import PASSWORDS, demo1500_copy
from klantreis.access import accounts

pytestmark = BROWSER_MARKS

SIZES = {"laptop": (1366, 768), "phone": (390, 844)}

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
def server(demo1500_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = demo1500_copy(demo1500_store, tmp_path_factory, "board")
    for role, password in PASSWORDS.items():
        accounts.add_user(app.store, role, role, password)
    with serving(app) as base:
        yield base


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    """Closed before the server stops (it needs the server): no page still asks it then."""
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


#: Cells of a table's key columns: their boxes, and whether the table scrolls sideways.
KEY_CELLS = """([table, cols]) => {
  const t = document.querySelector(`[data-testid="${table}"]`);
  const wrap = t.closest('.scroll') || t.parentElement;
  const cells = [...t.querySelectorAll('tbody tr')].flatMap(
    tr => cols.map(i => tr.children[i]).filter(Boolean));
  return {
    cells: cells.map(c => { const r = c.getBoundingClientRect();
      return [r.left, r.right, r.width, c.textContent.trim()]; }),
    scrolls: wrap.scrollWidth > wrap.clientWidth + 1,
  };
}"""

#: (page, table, indexes of its key columns in a body row)
PHONE_TABLES = [
    ("/?period=30d", "components", [0, 1, 2, 4]),  # name, value, change, n
    ("/scores?period=30d", "overall", [0, 1, 3, 4]),  # metric, value, n, change
    ("/scores?period=30d", "breakdown-touchpoint", [0, 1, 2, 3, 4, 7, 8, 9]),
    ("/scores?period=30d", "breakdown-owner", [0, 1, 3, 7, 9]),
    ("/journeys?period=all", "promise-table", [0, 1, 2, 3, 6]),
    ("/journeys?period=all", "impact-table", [0, 1, 2, 3, 4]),
    ("/contacts?period=30d", "warroom-table", [1, 2, 3, 4, 8]),
    ("/contacts?period=30d", "service-table", [0, 1, 2, 3, 4]),
]


@pytest.mark.parametrize(("path", "table", "cols"), PHONE_TABLES)
def test_key_columns_are_in_view_on_a_phone(
    browser: Any, server: str, path: str, table: str, cols: list[int]
) -> None:
    page = _page(browser, server, "phone")
    page.goto(server + path)
    found = page.evaluate(KEY_CELLS, [table, cols])
    assert found["cells"], f"{table}: no rows"
    assert not found["scrolls"], f"{table} scrolls sideways inside its card"
    outside = [c for c in found["cells"] if c[2] > 0 and (c[0] < 0 or c[1] > 390)]
    assert outside == [], f"{table}: key cells beyond the 390 px screen"


def test_component_changes_are_coloured_only_when_their_test_says_so(
    browser: Any, server: str
) -> None:
    page = _page(browser, server, "laptop")
    data = page.evaluate("fetch('/api/v1/index?period=30d').then(r => r.json())")["data"]
    comps = data["components"]["touchpoint"]
    assert all("change_p" in c for c in comps)
    page.goto(f"{server}/?period=30d")
    cells = page.locator('[data-testid="component-change"] .delta').all()
    assert len(cells) == len(comps)
    for c, cell in zip(comps, cells, strict=True):
        coloured = any(k in (cell.get_attribute("class") or "") for k in ("better", "worse"))
        significant = c["change_p"] is not None and c["change_p"] < 0.05 and c["change"] != 0
        assert coloured == significant, (c["key"], c["change"], c["change_p"])
    assert any(c["change_p"] is not None and c["change_p"] < 0.05 for c in comps), (
        "the demo's delivery drop is a significant component change"
    )


@pytest.mark.parametrize("size", list(SIZES))
def test_chart_axis_titles_fit_their_axis(browser: Any, server: str, size: str) -> None:
    """A vertical axis title longer than its axis is cut on a phone (CES, issue 13)."""
    page = _page(browser, server, size)
    page.goto(f"{server}/scores?period=30d")
    charts_drawn(page)
    fits = page.evaluate(
        """() => [...document.querySelectorAll('.chart svg')].flatMap(svg => {
          const s = svg.getBoundingClientRect();
          return [...svg.querySelectorAll('.role-axis')].map(axis => {
            const title = axis.querySelector('.role-axis-title');
            const domain = axis.querySelector('.role-axis-domain');
            if (!title || !domain) { return null; }
            const t = title.getBoundingClientRect(), d = domain.getBoundingClientRect();
            const vertical = d.height > d.width;
            const along = vertical ? [t.height, d.height] : [t.width, d.width];
            return {text: title.textContent, along, inside: t.top >= s.top - 1 &&
                    t.bottom <= s.bottom + 1 && t.left >= s.left - 1 && t.right <= s.right + 1};
          }).filter(Boolean);
        })"""
    )
    assert any("CES" in f["text"] for f in fits)
    for f in fits:
        assert f["inside"], f
        assert f["along"][0] <= f["along"][1] + 2, ("title longer than its axis", f)
