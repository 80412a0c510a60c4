"""Every page a person reads, in both languages and for every role, shows names and not
ids: no configured id (``carrier:vlotbezorgd``, ``customer_service``,
``waar_is_mijn_pakket``, ``orientatie``, ``email``) in visible text (hrefs, values and chart
data may keep them), no English test name or English phrase on a Dutch page, no English
decimal point in a Dutch number, and "1 opmerking", not "1 opmerkingen".

The store is the small demo the browser tests share (the demo's journey configuration and
contact taxonomy)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from tests.listen.kit import listen_on

from conftest import DEMO_END, PASSWORDS, SECRET, demo1500_copy, do_login
from klantreis.access import accounts
from klantreis.app import App
from klantreis.contacts.taxonomy import default_taxonomy
from klantreis.web import create_app
from klantreis.wording import catalogue

ROLES = ("admin", "analyst", "viewer")
LANGS = ("nl", "en")


@pytest.fixture(scope="module")
def demo_app(demo1500_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """A copy of the small demo the browser tests share (built once per run with its kept
    tables, tests/web/conftest.py), with invitations (the invitations page shows a ledger)
    and the three users."""
    app = demo1500_copy(demo1500_store, tmp_path_factory, "no-raw-ids")
    with app:
        assert listen_on(app, DEMO_END, days=20)
        for role, password in PASSWORDS.items():
            accounts.add_user(app.store, role, role, password)
        yield app


@pytest.fixture(scope="module")
def browsers(demo_app: App) -> Iterator[dict[str, TestClient]]:
    api = create_app(demo_app, secret_key=SECRET)
    out = {}
    for role in ROLES:
        c = TestClient(api, follow_redirects=False)
        c.__enter__()
        out[role] = do_login(c, role)
    yield out | {"api": api}  # type: ignore[dict-item]
    for c in out.values():
        c.__exit__(None, None, None)


def page_paths(api: Any) -> list[str]:
    """Every HTML page without path parameters: routes named ``page_*`` and GET routes that
    answer HTML (``/admin``, ``/contacts/queue``, the war room's HTML export)."""

    def flatten(routes: list[Any]) -> Iterator[Any]:
        for r in routes:
            r = getattr(r, "original_router", r)
            if hasattr(r, "routes"):
                yield from flatten(r.routes)
            else:
                yield r

    flat = [r for r in flatten(api.routes) if hasattr(r, "path")]

    def html(r: Any) -> bool:
        return getattr(r, "response_class", None) is HTMLResponse and "GET" in r.methods

    return sorted(
        {
            r.path
            for r in flat
            if (getattr(r, "name", "").startswith("page_") or html(r)) and "{" not in r.path
        }
        | {"/contacts/warroom.html"}
    )


def visible_text(page: str) -> str:
    """The text a person sees: no scripts, styles, tags (so no hrefs or values), and no
    customer-written text (marked ``data-user-text``)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<(\w+)[^>]*\bdata-user-text\b[^>]*>.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(page))


def configured_ids(app: App) -> set[str]:
    """Ids a person must never read: owners, touchpoints, stages and promises whose name
    differs from the id, channels, contact reasons and categories."""
    j = app.journey
    ids = {o.id for o in j.owners if o.name != o.id}
    for item in [*j.touchpoints, *j.stages, *j.promises]:
        if item.id not in (item.name_nl.lower(), item.name_en.lower()):
            ids.add(item.id)
    tax = default_taxonomy()
    ids |= {r.id for r in tax.reasons()} | {c.id for c in tax.categories}
    ids |= {"email", "whatsapp", "phone", "social"}
    # words that are also plain Dutch or English words in a sentence
    return {i for i in ids if "_" in i or ":" in i or i in {"orientatie", "email"}} | {
        i for i in ids if i.lower() != i
    }


def english_phrases() -> list[str]:
    """English catalogue texts of two or more words (placeholders cut out) that differ from
    their Dutch text: one on a Dutch page means a word was not translated."""
    nl, en = catalogue("nl"), catalogue("en")
    out = set()
    for key, english in en.items():
        if english == nl.get(key):
            continue
        for part in re.split(r"\{\w+\}|[:;,.()]", english):
            part = part.strip()
            if len(part.split()) >= 2 and part not in nl.get(key, ""):
                out.add(part)
    return sorted(out)


def dutch_names(app: App) -> set[str]:
    """Dutch names of configured things that have another English name."""
    j = app.journey
    pairs = [(i.name_nl, i.name_en) for i in [*j.touchpoints, *j.stages, *j.promises]]
    pairs += [(o.label("nl"), o.label("en")) for o in j.owners]
    pairs += [(r.name_nl, r.name_en) for r in default_taxonomy().reasons()]
    return {nl for nl, en in pairs if nl != en}


def problems(text: str, lang: str, ids: set[str], dutch: set[str] = frozenset()) -> list[str]:
    found = []
    if lang == "en":
        found += [
            f"Dutch name {n!r}" for n in sorted(dutch) if re.search(rf"\b{re.escape(n)}", text)
        ]
    for token in sorted(ids):
        if re.search(rf"(?<![\w:.-]){re.escape(token)}(?![\w:-])", text):
            found.append(f"raw id {token!r}")
    for m in re.finditer(r"\b(?:broken|kind):[\w.@:-]+|\b[a-z]+:[a-z_]{3,}\b", text):
        found.append(f"raw id pattern {m.group(0)!r}")
    for m in re.finditer(r"\bSTARS \d|\b[a-z]+_[a-z_]+\b", text):
        found.append(f"raw token {m.group(0)!r}")
    if lang == "nl":
        nl, en = catalogue("nl"), catalogue("en")
        for key, english in en.items():
            if key.startswith("test.") and english != nl[key] and english in text:
                found.append(f"English test name {english!r}")
        for english in english_phrases():
            if english in text:
                found.append(f"English phrase {english!r}")
        for m in re.finditer(r"(?<![\d.,])\d+\.\d{1,2}(?![\d])", text):
            found.append(f"English decimal {m.group(0)!r}")
        plurals = [v for k, v in nl.items() if k.startswith("noun.") and k.endswith(".other")]
        for other in plurals:
            if re.search(rf"(?<![\d.,])1 {re.escape(other)}\b", text):
                found.append(f"plural after 1: '1 {other}'")
    return found


def test_the_crawler_finds_what_it_should() -> None:
    ids = {"carrier:vlotbezorgd", "customer_service", "orientatie"}
    text = visible_text(
        '<p>Bezorging door carrier:vlotbezorgd</p><a href="/x?owner=customer_service">'
        "Klantenservice</a><p data-user-text>orientatie</p> 8.93 per 100, 1 opmerkingen"
    )
    found = problems(text, "nl", ids)
    assert "raw id 'carrier:vlotbezorgd'" in found
    assert not any("customer_service" in f or "orientatie" in f for f in found)
    assert "English decimal '8.93'" in found
    assert "plural after 1: '1 opmerkingen'" in found
    assert "English test name 'Welch t-test'" in problems("Welch t-test", "nl", set())
    assert "English phrase 'Delivery promised'" in problems("Delivery promised", "nl", set())
    assert problems("To Magazijn", "en", set(), {"Magazijn"}) == ["Dutch name 'Magazijn'"]
    assert problems("Welch t-test", "en", set()) == []


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("role", ROLES)
def test_no_raw_ids_on_any_page(
    browsers: dict[str, TestClient], demo_app: App, role: str, lang: str
) -> None:
    c = browsers[role]
    paths = page_paths(browsers["api"])
    assert {"/", "/scores", "/verbatims", "/admin", "/contacts/queue"} <= set(paths)
    ids = configured_ids(demo_app)
    dutch = dutch_names(demo_app)
    assert {"Magazijn", "Oriëntatie", "Waar is mijn pakket?"} <= dutch
    assert {"carrier:vlotbezorgd", "customer_service", "waar_is_mijn_pakket"} <= ids
    report: dict[str, list[str]] = {}
    seen = 0
    journey = demo_app.store.query(
        "SELECT journey_id FROM events WHERE kind = 'delivery.promised' ORDER BY event_id LIMIT 1"
    )["journey_id"].to_pylist()[0]
    visits = [(p, q) for p in paths for q in ("", "period=30d")]
    visits.append(("/journeys", f"journey={journey}"))
    cases = demo_app.store.query(
        "SELECT case_id FROM cases WHERE status = 'closed' ORDER BY case_id LIMIT 1"
    )["case_id"].to_pylist()
    assert cases, "the demo acts: it opens and closes cases"
    visits.append((f"/cases/{cases[0]}", ""))  # a closed case: history, root cause, timeline
    asked = demo_app.store.query(
        "SELECT customer_id FROM survey_invitations WHERE reason IS NOT NULL"
        " ORDER BY customer_id LIMIT 1"
    )["customer_id"].to_pylist()
    visits += [("/surveys/invitations", f"customer={c}") for c in asked]
    timeline = ""
    for path, query in visits:
        resp = c.get(f"{path}?lang={lang}&{query}", headers={"accept": "text/html"})
        if resp.status_code == 403:
            continue
        assert resp.status_code == 200, (path, resp.status_code)
        seen += 1
        timeline = resp.text if query.startswith("journey=") else timeline
        found = problems(visible_text(resp.text), lang, ids, dutch)
        if found:
            report[f"{path}?{query}"] = sorted(set(found))
    assert seen >= 6
    assert 'data-testid="timeline-event"' in timeline
    assert not report, "\n".join(f"{page}: {', '.join(found)}" for page, found in report.items())


@pytest.mark.parametrize("lang", LANGS)
def test_journey_routes_use_touchpoint_names(browsers: dict[str, TestClient], lang: str) -> None:
    """Touchpoint ids that are lower-case words ("bestellen", "bezorging") are ids too: the
    routes table and the map's edge titles show the configured names."""
    page = (
        browsers["analyst"]
        .get(f"/journeys?lang={lang}&period=all", headers={"accept": "text/html"})
        .text
    )
    variants = page[page.index('data-testid="variants"') : page.index('data-testid="handovers"')]
    rows = re.findall(r"<tr><td class=\"num\">.*?</tr>", variants, flags=re.S)
    assert rows
    cells = [visible_text(r) for r in rows]
    delivery = "Bezorging" if lang == "nl" else "Delivery"
    assert any(delivery in c for c in cells), cells[:3]
    assert not any(re.search(r"\b(website|bestellen|bezorging|verzending)\b", c) for c in cells)
    titles = re.findall(r"<title>([^<]*→[^<]*)</title>", page)
    assert titles and not any(re.search(r"\b(website|bestellen)\b", t) for t in titles)
