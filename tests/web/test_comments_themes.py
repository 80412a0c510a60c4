"""The "what customers write" page and its JSON endpoint, the theme labelling queue, text-model
training with progress and rollback; masking and escaping of customer text; the demo's
late-delivery story in the themes of VlotBezorgd's detractors."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import PASSWORDS, SECRET, bearer, do_login, make_settings
from klantreis.access import accounts
from klantreis.app import App
from klantreis.demo.runner import run_demo
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.text.labels import labelled_comments, theme_labels
from klantreis.web import create_app


def test_page_and_json_share_one_function(as_user: Any) -> None:
    c = as_user("analyst")
    page = c.get("/comments/themes?period=all")
    assert page.status_code == 200
    assert 'data-testid="theme-table"' in page.text and 'data-testid="drivers"' in page.text
    data = c.get("/api/v1/comments/themes?period=all").json()["data"]
    assert data["n"] > 0 and data["group"] == "all"
    assert {"themes", "weekly", "by_owner", "by_touchpoint", "drivers", "models"} <= set(data)
    assert data["models"] == {"themes": None, "sentiment": None}
    low = c.get("/api/v1/comments/themes?period=all&group=low").json()["data"]
    assert 0 < low["n"] < data["n"]
    bad = c.get("/api/v1/comments/themes?theme=nope")
    assert bad.status_code == 422 and bad.json()["ok"] is False


def test_viewer_sees_no_personal_data_and_text_is_escaped(as_user: Any) -> None:
    admin, viewer = as_user("admin"), as_user("viewer")
    themes = admin.get("/api/v1/comments/themes?period=all").json()["data"]["themes"]
    mentioned = [r["theme"] for r in themes if r["k"] > 0]
    assert mentioned
    seen_raw = False
    for theme in mentioned:
        q = f"?period=all&theme={theme}"
        raw = str(admin.get("/api/v1/comments/themes" + q).json()["data"]["examples"])
        seen_raw = seen_raw or "06-12345678" in raw or "<script>" in raw
        masked = viewer.get("/api/v1/comments/themes" + q).json()["data"]
        assert masked["masked"] is True
        text = str(masked["examples"])
        assert "06-12345678" not in text and "jan.jansen@example.nl" not in text
        assert "NL91ABNA0417164300" not in text
        assert all(not e["comment_id"].startswith(("pii", "xss", "s")) for e in masked["examples"])
        html = admin.get("/comments/themes" + q).text
        assert "<script>window.__pwned" not in html
    assert seen_raw, "the admin sees a personal or hostile comment among the examples"
    queue = viewer.get("/api/v1/comments/themes/queue?limit=200").json()["data"]
    assert queue["can_label"] is False and "06-12345678" not in str(queue["items"])


def test_verdicts_go_through_the_writer_and_leave_the_queue(as_user: Any, web_app: App) -> None:
    c = as_user("analyst")
    items = c.get("/api/v1/comments/themes/queue?limit=5").json()["data"]["items"]
    assert items
    item = items[0]
    page = c.get("/comments/themes/queue")
    assert page.status_code == 200 and 'data-testid="theme-queue-item"' in page.text
    token = c.cookies.get("kr_csrf")
    form = {"comment_id": item["comment_id"], "theme": item["theme"], "verdict": "no"}
    assert c.post("/comments/themes/label", data=form).status_code == 403  # no CSRF token
    resp = c.post("/comments/themes/label", data={**form, "csrf_token": token})
    assert resp.status_code == 303
    events = web_app.events_table()
    stored = events.filter(events.kind == "comment.themed").to_pyarrow().to_pylist()
    assert len(stored) == 1 and '"verdict": "no"' in stored[0]["attrs"].replace('":"', '": "')
    left = c.get("/api/v1/comments/themes/queue?limit=200").json()["data"]["items"]
    assert (item["comment_id"], item["theme"]) not in {(i["comment_id"], i["theme"]) for i in left}
    viewer = as_user("viewer")
    vt = viewer.cookies.get("kr_csrf")
    assert viewer.post("/comments/themes/label", data={**form, "csrf_token": vt}).status_code == 403


def _train(client: TestClient, headers: Mapping[str, str], kind: str) -> dict[str, Any]:
    """Start a training through the API and wait (up to a minute) until it is not running."""
    r = client.post("/api/v1/comments/themes/train", json={"kind": kind}, headers=headers)
    assert r.status_code == 202, r.text
    for _ in range(600):
        status: dict[str, Any] = client.get(
            "/api/v1/comments/themes/train", headers=headers
        ).json()["data"]
        if status["state"] != "running":
            break
        time.sleep(0.1)
    return status


def test_train_with_progress_and_roll_back(client: TestClient, tokens: dict[str, str]) -> None:
    h = bearer(tokens["read_analyst"])
    assert (
        client.post("/api/v1/comments/themes/train", json={"kind": "themes"}, headers=h).status_code
        == 422
    )  # no verdicts yet
    versions = []
    for _ in range(2):
        status = _train(client, h, "sentiment")
        assert status["state"] == "done" and status["progress"] == 1.0, status
        versions.append(status["version"])
    data = client.get("/api/v1/comments/themes/queue", headers=h).json()["data"]
    assert data["in_use"]["sentiment"] == versions[1]
    row = data["models"]["sentiment"][0]
    assert row["data_hash"] and row["accuracy"] is not None and row["training_seconds"] is not None
    page = client.get("/api/v1/comments/themes?period=all", headers=h).json()["data"]
    assert page["models"]["sentiment"] == versions[1]
    r = client.post(
        "/api/v1/comments/themes/rollback",
        json={"kind": "sentiment", "version": versions[0]},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["data"]["version"] == versions[0]
    page = client.get("/api/v1/comments/themes?period=all", headers=h).json()["data"]
    assert page["models"]["sentiment"] == versions[0]  # the page cache was dropped
    r = client.post(
        "/api/v1/comments/themes/rollback",
        json={"kind": "sentiment", "version": "v9999-x"},
        headers=h,
    )
    assert r.status_code == 404
    read_only = bearer(tokens["read"])
    assert (
        client.post(
            "/api/v1/comments/themes/train", json={"kind": "sentiment"}, headers=read_only
        ).status_code
        == 403
    )


def test_a_trained_theme_version_shows_its_figures_per_theme(
    client: TestClient, tokens: dict[str, str], as_user: Any
) -> None:
    h = bearer(tokens["read_analyst"])
    items = client.get("/api/v1/comments/themes/queue?limit=40", headers=h).json()["data"]["items"]
    assert len(items) >= 10
    for k, item in enumerate(items[:30]):
        verdict = "yes" if k % 3 else "no"
        body = {"comment_id": item["comment_id"], "theme": item["theme"], "verdict": verdict}
        r = client.post("/api/v1/comments/themes/label", json=body, headers=h)
        assert r.status_code == 200, r.text
    c = as_user("analyst")
    before = c.get("/comments/themes/queue?lang=en").text
    assert "No trained model yet: the theme file&#39;s example phrases tag the comments." in before
    assert "the word list scores the sentiment" in before and "Labelled contacts" not in before
    status = _train(client, h, "themes")
    assert status["state"] == "done", status
    data = client.get("/api/v1/comments/themes/queue", headers=h).json()["data"]
    current = next(v for v in data["models"]["themes"] if v["current"])
    rows, without = current["per_theme"]["rows"], current["per_theme"]["without"]
    assert rows and {"theme", "name", "precision", "recall", "f1", "support"} <= set(rows[0])
    assert rows == sorted(rows, key=lambda r: (r["f1"], r["name"]))  # the weakest first
    assert all(r["support"] or r["predicted"] for r in rows)
    assert len(rows) + len(without) == 12  # the shipped themes
    # the macro F1 averages the themes that occur or are found, not all twelve
    assert current["macro_f1"] == pytest.approx(sum(r["f1"] for r in rows) / len(rows), abs=1e-3)
    for lang, header, title in (
        ("nl", "Beoordeelde opmerkingen", "Per thema: versie"),
        ("en", "Reviewed comments", "Per theme: version"),
    ):
        page = c.get(f"/comments/themes/queue?lang={lang}").text
        assert header in page and title in page and 'data-testid="per-theme-row"' in page
        assert bool(without) == ('data-testid="per-theme-without"' in page)
        assert f'data-theme="{rows[0]["theme"]}"' in page and current["version"] in page


# -- the demo's story ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("demo-themes") / "demo.duckdb"
    with App(make_settings(str(path))) as app:
        run_demo(app, orders=6_000, seed=11, days=70)
        accounts.add_user(app.store, "analyst", "analyst", PASSWORDS["analyst"])
    copy = tmp_path_factory.mktemp("demo-themes-copy") / "demo.duckdb"
    shutil.copyfile(path, copy)
    with (
        App(make_settings(str(copy))) as app,
        TestClient(create_app(app, secret_key=SECRET), follow_redirects=False) as c,
    ):
        yield do_login(c, "analyst")


def test_demo_late_delivery_story_shows_in_vlotbezorgd_detractors(demo_client: TestClient) -> None:
    """VlotBezorgd delivers late more and more: its unhappy customers write about late
    delivery more than about anything else, and more than the other carriers' do."""
    q = "/api/v1/comments/themes?period=30d&group=low&owner=carrier:vlotbezorgd"
    data = demo_client.get(q).json()["data"]
    assert data["n"] >= 10
    top = data["themes"][0]
    assert top["theme"] == "late_delivery", data["themes"][:3]
    assert top["share"] > 0.4 and top["low"] > 0.2
    other = demo_client.get(
        "/api/v1/comments/themes?period=30d&group=high&owner=carrier:vlotbezorgd"
    ).json()["data"]
    late_happy = next(r for r in other["themes"] if r["theme"] == "late_delivery")
    assert late_happy["n"] == 0 or late_happy["share"] < top["share"]
    page = demo_client.get(q.replace("/api/v1", ""))
    assert page.status_code == 200 and 'data-theme="late_delivery"' in page.text


def _add_copies(app: App, texts: list[str]) -> list[str]:
    """Comments with the given texts (the newest of the store); their event ids."""
    ids = [f"dup{i}" for i in range(len(texts))]
    records: list[Mapping[str, Any]] = [
        {
            "event_id": cid,
            "occurred_at": f"2030-01-01T10:{i:02d}:00+00:00",
            "kind": "survey.response",
            "customer_id": f"KD{i}",
            "journey_id": f"OD{i}",
            "touchpoint": "bezorging",
            "metric": "nps",
            "score": 9,
            "text": text,
        }
        for i, (cid, text) in enumerate(zip(ids, texts, strict=True))
    ]
    ingest_table(app.store, events_from_records(records, source="t"), app.journey, source="t")
    return ids


def test_queue_shows_a_repeated_text_once_and_one_verdict_labels_every_copy(
    as_user: Any, web_app: App
) -> None:
    same = ["Friendly driver, right on time.", "  friendly DRIVER,  right on\ttime. "]
    ids = _add_copies(web_app, [same[0], same[1], same[0], "Quite another text here."])
    c = as_user("analyst")
    items = c.get("/api/v1/comments/themes/queue?limit=200").json()["data"]["items"]
    texts = [" ".join(i["text"].split()).casefold() for i in items]
    assert len(texts) == len(set(texts)), "each text once"
    item = next(i for i in items if "dup0" in i["comment_ids"])
    assert item["count"] == 3 and sorted(item["comment_ids"]) == ["dup0", "dup1", "dup2"]
    assert item["comment_id"] == "dup0" and item["text"] == same[0]  # the oldest original
    other = next(i for i in items if "dup3" in i["comment_ids"])
    assert other["count"] == 1
    nl = c.get("/comments/themes/queue?lang=nl").text
    assert 'data-count="3">3 opmerkingen<' in nl and ">1 opmerking<" in nl
    en = c.get("/comments/themes/queue?lang=en").text
    assert 'data-count="3">3 comments<' in en and ">1 comment<" in en
    assert nl.count(">Friendly driver, right on time.<") == 1
    form = {"comment_id": item["comment_id"], "theme": item["theme"], "verdict": "yes"}
    resp = c.post("/comments/themes/label", data={**form, "csrf_token": c.cookies.get("kr_csrf")})
    assert resp.status_code == 303
    events = web_app.events_table()
    labels = theme_labels(events)
    labelled = set(labels[labels.theme == item["theme"]]["comment_id"])
    assert {"dup0", "dup1", "dup2"} <= labelled and "dup3" not in labelled
    texts_, _ = labelled_comments(events, web_app.text.taxonomy.ids())
    assert sum(t in same for t in texts_) == 3  # the next model learns from every copy
    left = c.get("/api/v1/comments/themes/queue?limit=200").json()["data"]["items"]
    gone = {(cid, i["theme"]) for i in left for cid in i["comment_ids"]}
    assert not any((cid, item["theme"]) in gone for cid in ids[:3])
    masked = as_user("viewer").get("/api/v1/comments/themes/queue?limit=200").json()["data"]
    assert not any(cid.startswith("dup") for i in masked["items"] for cid in i["comment_ids"])
