"""XES logs (issue 11, defect 6): the resource becomes the owner, so hand-overs work, and the
activity's own label is kept and shown where kinds are shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from klantreis.analytics import discovery
from klantreis.analytics.journeys import kind_labels
from klantreis.app import App
from klantreis.settings import Settings
from klantreis.wording.core import Wording
from klantreis.wording.names import Names

XES = """<?xml version="1.0" encoding="UTF-8" ?>
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
{traces}
</log>
"""
EVENT = """<event><string key="concept:name" value="{name}"/>
<string key="org:resource" value="{who}"/>
<date key="time:timestamp" value="{at}"/></event>"""


def _xes(path: Path) -> Path:
    steps = [
        ("Open ticket", "Service desk", "2025-01-06T09:00:00+00:00"),
        ("Resolve ticket", "2nd line", "2025-01-06T11:00:00+00:00"),
        ("Close ticket", "Service desk", "2025-01-06T11:00:00+00:00"),
    ]
    traces = "\n".join(
        f'<trace><string key="concept:name" value="t{i}"/>'
        + "".join(EVENT.format(name=n, who=w, at=a) for n, w, a in steps)
        + "</trace>"
        for i in range(3)
    )
    path.write_text(XES.format(traces=traces), encoding="utf-8")
    return path


def test_xes_resources_are_owners_and_labels_are_kept(app: App, tmp_path: Path) -> None:
    app.ingest_paths([_xes(tmp_path / "desk.xes")], progress=False)
    rows = app.store.query("SELECT DISTINCT kind, owner FROM events ORDER BY kind").to_pylist()
    assert rows == [
        {"kind": "close_ticket", "owner": "Service desk"},
        {"kind": "open_ticket", "owner": "Service desk"},
        {"kind": "resolve_ticket", "owner": "2nd line"},
    ]
    handovers = discovery.handovers(app.events_table(), app.journey).to_pylist()
    assert {(h["from_owner"], h["to_owner"], h["count"]) for h in handovers} == {
        ("Service desk", "2nd line", 3),
        ("2nd line", "Service desk", 3),
    }
    labels = kind_labels(app.events_table())
    assert labels == {
        "open_ticket": "Open ticket",
        "resolve_ticket": "Resolve ticket",
        "close_ticket": "Close ticket",
    }
    names = Names(app.journey, Wording("en"), kind_labels=labels)
    assert names("kind", "resolve_ticket") == "Resolve ticket"
    assert names("kind", "order.placed") == "Order placed"  # no label: the catalogue
    assert names("kind", "thing.happened") == "thing.happened"  # neither: the id


def test_the_journeys_page_shows_the_labels(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from klantreis.access import accounts
    from klantreis.web import create_app

    settings = Settings.load(
        env={}, db_path=str(tmp_path / "s.duckdb"), secret_key="test-secret-key-0123456789abcdef"
    )
    with App(settings) as app:
        app.ingest_paths([_xes(tmp_path / "desk.xes")], progress=False)
        accounts.add_user(app.store, "ana", "analyst", "analyst-pass-1")
        token, _ = accounts.create_token(app.store, ["read"], user="ana")
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(app), follow_redirects=False) as client:
            url = "/api/v1/journeys?period=all&activity=kind"
            data: dict[str, Any] = client.get(url, headers=headers).json()["data"]
            assert data["names"]["resolve_ticket"] == "Resolve ticket"
            html = client.get("/journeys?period=all&activity=kind", headers=headers).text
            assert "Open ticket → Resolve ticket → Close ticket" in html
