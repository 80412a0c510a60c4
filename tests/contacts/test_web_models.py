"""Contact models in the web app: train from the store's labels or an uploaded CSV (in the
background, one at a time), list the versions with their evaluation, classify with the new
version; clear 4xx answers for bad uploads; only analysts and admins."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from klantreis.app import App
from klantreis.settings import Settings
from klantreis.web.state import web_state

from .helpers import contact, event, load
from .small_models import linear_only_training

fastapi_testclient = pytest.importorskip("fastapi.testclient")
web = pytest.importorskip("klantreis.web")
accounts = pytest.importorskip("klantreis.access.accounts")
contacts_models = pytest.importorskip("klantreis.web.pages.contacts_models")

PASSWORDS = {"analyst": "analyst-pass-1", "viewer": "viewer-pass-1"}
#: Three reasons of the default taxonomy, each with its own words ("flurbo" is made up, so
#: the phrase rules cannot know it: only a trained model classifies it).
VOCAB = {
    "waar_is_mijn_pakket": ["pakket", "bezorger", "track", "onderweg", "zending"],
    "factuur_onjuist": ["flurbo", "bedrag", "factuur", "btw", "korting"],
    "inloggen_account": ["inloggen", "wachtwoord", "account", "code", "mail"],
}
FILLER = ["ik", "heb", "een", "vraag", "graag", "snel", "hulp", "vandaag"]
PROBE = "flurbo flurbo flurbo"


def labelled(n: int, seed: int = 1) -> list[tuple[str, str]]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        label = sorted(VOCAB)[i % 3]
        words = rnd.sample(VOCAB[label], 3) + rnd.sample(FILLER, 3)
        rnd.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def labels_csv(rows: list[tuple[str, str]]) -> str:
    return "text,label\n" + "".join(f"{t},{y}\n" for t, y in rows)


@pytest.fixture(autouse=True)
def _linear_only() -> Iterator[None]:
    """The pages train the linear model alone (the full model: tests/contacts/test_classifier)."""
    with linear_only_training():
        yield


@pytest.fixture
def web_app(tmp_path: Path) -> Iterator[App]:
    """A store file in tmp_path (so models go to tmp_path/models) with 36 contacts whose
    source system gave a known reason, and an analyst and a viewer."""
    app = App(
        Settings.load(
            env={},
            db_path=str(tmp_path / "s.duckdb"),
            secret_key="test-secret-key-0123456789abcdef",
        )
    )
    rows = labelled(36, seed=7)
    load(
        app,
        [event("order.placed", f"J{i}", i) for i in range(len(rows))]
        + [contact(f"J{i}", i + 1, y, text=t) for i, (t, y) in enumerate(rows)],
    )
    accounts.add_user(app.store, "analyst", "analyst", PASSWORDS["analyst"])
    accounts.add_user(app.store, "viewer", "viewer", PASSWORDS["viewer"])
    yield app
    app.close()


@contextmanager
def logged_in(app: App, user: str) -> Iterator[Any]:
    with fastapi_testclient.TestClient(web.create_app(app), follow_redirects=False) as client:
        client.get("/login")
        resp = client.post(
            "/login",
            data={
                "username": user,
                "password": PASSWORDS[user],
                "csrf_token": client.cookies.get("kr_csrf"),
                "next": "/",
            },
        )
        assert resp.status_code == 303
        yield client


def csrf(client: Any) -> str:
    token = client.cookies.get("kr_csrf")
    assert token
    return str(token)


def upload(client: Any, text: str | bytes, name: str = "labels.csv", **fields: str) -> Any:
    return client.post(
        "/api/v1/contacts/train",
        files={"file": (name, text, "text/csv")},
        data={"csrf_token": csrf(client), **fields},
    )


def finish(client: Any) -> dict[str, Any]:
    """Wait for the background training, then the status from the API."""
    web_state(client.app).trainer().join(120)
    body = client.get("/api/v1/contacts/train").json()
    assert body["ok"]
    status: dict[str, Any] = body["data"]
    return status


def classify(client: Any, text: str) -> dict[str, Any]:
    data: dict[str, Any] = client.get("/api/v1/contacts_classify", params={"text": text}).json()[
        "data"
    ]
    return data


def test_train_from_an_uploaded_csv_lists_the_version_and_classifies_with_it(
    web_app: App,
) -> None:
    with logged_in(web_app, "analyst") as client:
        before = classify(client, PROBE)  # also fills the page cache with a cold-start answer
        assert before["model"] == "cold start" and before["results"][0]["reason"] == "unknown"
        assert client.get("/api/v1/contacts/train").json()["data"]["state"] == "idle"
        empty = client.get("/api/v1/contacts/models").json()["data"]
        assert empty["versions"] == [] and empty["report"] is None

        resp = upload(client, labels_csv(labelled(60)))
        assert resp.status_code == 202, resp.text
        started = resp.json()["data"]
        assert started["state"] == "running" and started["training_size"] == 60
        assert started["source"] == "upload: labels.csv"

        status = finish(client)
        assert status["state"] == "done", status
        assert status["version"].startswith("v0001-") and status["macro_f1"] > 0.8

        models = client.get("/api/v1/contacts/models").json()["data"]
        assert [v["version"] for v in models["versions"]] == [status["version"]]
        row = models["versions"][0]
        assert row["current"] and row["macro_f1"] == status["macro_f1"]
        assert row["training_size"] == 60 and row["source"] == "upload: labels.csv"
        report = models["report"]
        assert report["macro_f1"] == status["macro_f1"]
        assert {c["reason"] for c in report["per_class"]} == set(VOCAB)
        assert all(set(c) >= {"precision", "recall", "f1", "support"} for c in report["per_class"])
        assert report["show_matrix"] and len(report["confusion"]) == len(report["labels"]) == 3
        assert sum(map(sum, report["confusion"])) == report["n"] == 12  # 20% held out
        assert {x["name"] for x in report["labels"]} >= {"Factuur onjuist", "Inloggen en account"}

        after = classify(client, PROBE)  # same query: the cached cold-start answer is gone
        assert after["model"] == "trained"
        assert after["results"][0]["reason"] == "factuur_onjuist"

        page = client.get("/contacts/models", params={"lang": "en"})
        assert page.status_code == 200
        assert 'data-testid="confusion"' in page.text and "Invoice incorrect" in page.text
        assert status["version"] in page.text


def test_train_from_the_store_with_a_token_and_show_an_older_version(web_app: App) -> None:
    secret, _ = accounts.create_token(web_app.store, ["read"], user="analyst")
    auth = {"Authorization": f"Bearer {secret}"}
    with fastapi_testclient.TestClient(web.create_app(web_app)) as client:
        first = client.post("/api/v1/contacts/train", data={"source": "store"}, headers=auth)
        assert first.status_code == 202, first.text  # a token needs no CSRF token
        assert first.json()["data"]["training_size"] == 36
        web_state(client.app).trainer().join(120)
        done = client.get("/api/v1/contacts/train", headers=auth).json()["data"]
        assert done["state"] == "done" and done["source"] == "store"

        second = client.post("/api/v1/contacts/train", headers=auth)  # no body: the store
        assert second.status_code == 202, second.text
        web_state(client.app).trainer().join(120)
        newest = client.get("/api/v1/contacts/train", headers=auth).json()["data"]["version"]

        models = client.get("/api/v1/contacts/models", headers=auth).json()["data"]
        assert [v["version"] for v in models["versions"]] == [newest, done["version"]]
        assert models["current"] == newest == models["selected"]
        older = client.get(
            "/api/v1/contacts/models", params={"version": done["version"]}, headers=auth
        ).json()["data"]
        assert older["selected"] == done["version"] and older["report"]["n"] > 0
        missing = client.get("/api/v1/contacts/models", params={"version": "v9999-x"}, headers=auth)
        assert missing.status_code == 404
        traversal = client.get(
            "/api/v1/contacts/models", params={"version": "../../etc/x"}, headers=auth
        )
        assert traversal.status_code == 422


def test_a_second_training_while_one_runs_gets_409(
    web_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real = contacts_models.train_and_save

    def held(*args: Any, **kwargs: Any) -> Any:
        assert release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(contacts_models, "train_and_save", held)
    with logged_in(web_app, "analyst") as client:
        try:
            held_start = upload(client, labels_csv(labelled(30)))
            assert held_start.status_code == 202
            check_conflict(client)
        finally:
            release.set()
        assert finish(client)["state"] == "done"
        assert upload(client, labels_csv(labelled(30))).status_code == 202  # free again
        assert finish(client)["state"] == "done"


def check_conflict(client: Any) -> None:
    """While a training runs: 409 for the API and the form, and the page says so."""
    again = client.post("/api/v1/contacts/train", data={"csrf_token": csrf(client)})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    form = client.post("/contacts/models/train", data={"csrf_token": csrf(client)})
    assert form.status_code == 409 and 'data-testid="train-error"' in form.text
    assert client.get("/api/v1/contacts/train").json()["data"]["state"] == "running"
    page = client.get("/contacts/models")
    assert 'http-equiv="refresh"' in page.text and 'data-state="running"' in page.text


def test_a_failed_training_reports_its_reason(
    web_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(contacts_models, "train_and_save", broken)
    with logged_in(web_app, "analyst") as client:
        assert upload(client, labels_csv(labelled(30))).status_code == 202
        status = finish(client)
        assert status["state"] == "failed" and status["error"] == "the disk is full"
        assert client.get("/api/v1/contacts/models").json()["data"]["versions"] == []


@pytest.mark.parametrize(
    ("content", "status", "reason"),
    [
        ("a,b\n1,2\n", 422, "needs the columns text,label"),
        (labels_csv([("waar is het", "geen_reden")] * 12), 422, "not in the taxonomy"),
        (b"\xff\xfe\x00\x81garbage\n", 422, "UTF-8"),
        (labels_csv(labelled(5)), 422, "too few labelled contacts"),
        (labels_csv([("waar is mijn pakket", "waar_is_mijn_pakket")] * 12), 422, "2 different"),
    ],
)
def test_a_bad_csv_gets_a_4xx_with_the_reason(
    web_app: App, content: str | bytes, status: int, reason: str
) -> None:
    with logged_in(web_app, "analyst") as client:
        resp = upload(client, content, name="mine.csv")
        assert resp.status_code == status
        message = resp.json()["error"]["message"]
        assert reason in message
        assert "klantreis-labels-" not in message  # the temporary file's name is not shown
        assert client.get("/api/v1/contacts/train").json()["data"]["state"] == "idle"


def test_unknown_labels_train_when_allowed(web_app: App) -> None:
    rows = [(t, "eigen_" + y) for t, y in labelled(30)]
    with logged_in(web_app, "analyst") as client:
        assert upload(client, labels_csv(rows)).status_code == 422
        assert upload(client, labels_csv(rows), any_labels="true").status_code == 202
        assert finish(client)["state"] == "done"
        report = client.get("/api/v1/contacts/models").json()["data"]["report"]
        assert {c["reason"] for c in report["per_class"]} == {"eigen_" + y for y in VOCAB}


def test_upload_limits_and_missing_file(web_app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contacts_models, "MAX_UPLOAD_BYTES", 1000)
    with logged_in(web_app, "analyst") as client:
        big = upload(client, labels_csv(labelled(30)) + "x" * 70_000)
        assert big.status_code == 413 and "MB" in big.json()["error"]["message"]
        missing = client.post(
            "/api/v1/contacts/train", data={"source": "csv", "csrf_token": csrf(client)}
        )
        assert missing.status_code == 422 and "file" in missing.json()["error"]["message"]
        wrong = client.post(
            "/api/v1/contacts/train",
            content=b'{"source": "store"}',
            headers={"content-type": "application/json", "x-csrf-token": csrf(client)},
        )
        assert wrong.status_code == 415


def test_the_form_trains_and_shows_errors_escaped(web_app: App) -> None:
    with logged_in(web_app, "analyst") as client:
        bad = client.post(
            "/contacts/models/train",
            files={"file": ("<img src=x onerror=alert(1)>.csv", "a,b\n1,2\n", "text/csv")},
            data={"csrf_token": csrf(client), "source": "csv"},
        )
        assert bad.status_code == 422
        assert "<img src=x" not in bad.text and "&lt;img src=x" in bad.text
        ok = client.post(
            "/contacts/models/train", data={"csrf_token": csrf(client), "source": "store"}
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/contacts/models"
        assert finish(client)["state"] == "done"
        page = client.get("/contacts/models")
        assert 'data-testid="version-row"' in page.text and 'data-state="done"' in page.text
        assert 'data-testid="models-link"' in client.get("/contacts").text


def test_sessions_need_the_csrf_token(web_app: App) -> None:
    with logged_in(web_app, "analyst") as client:
        resp = client.post("/api/v1/contacts/train", data={"csrf_token": "forged"})
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "csrf_failed"
        assert client.get("/api/v1/contacts/train").json()["data"]["state"] == "idle"


def test_a_viewer_cannot_train_or_see_the_models(web_app: App) -> None:
    with logged_in(web_app, "viewer") as client:
        assert client.get("/api/v1/contacts/models").status_code == 403
        assert client.get("/contacts/models").status_code == 403
        assert client.get("/api/v1/contacts/train").status_code == 403
        resp = upload(client, labels_csv(labelled(30)))
        assert resp.status_code == 403
        form = client.post("/contacts/models/train", data={"csrf_token": csrf(client)})
        assert form.status_code == 403
        assert 'data-testid="models-link"' not in client.get("/contacts").text
        assert not list(Path(web_app.settings.db_path).parent.glob("models/contacts/*"))
    secret, _ = accounts.create_token(web_app.store, ["read"], user="viewer")
    with fastapi_testclient.TestClient(web.create_app(web_app)) as client:
        resp = client.post("/api/v1/contacts/train", headers={"Authorization": f"Bearer {secret}"})
        assert resp.status_code == 403


def test_a_large_matrix_becomes_the_most_confused_pairs() -> None:
    labels = [f"r{i:02d}" for i in range(25)]
    matrix = [[10 if i == j else 0 for j in range(25)] for i in range(25)]
    matrix[3][4] = 5
    matrix[7][1] = 2
    report = {"n": 257, "macro_f1": 0.9, "labels": labels, "confusion": matrix, "per_class": {}}
    out = contacts_models.evaluation(report, {"r03": "Drie"})
    assert not out["show_matrix"]
    pairs = [(p["true"], p["predicted"], p["count"]) for p in out["confused_pairs"]]
    assert pairs == [("r03", "r04", 5), ("r07", "r01", 2)]
    assert out["confused_pairs"][0]["true_name"] == "Drie"
    assert out["confused_pairs"][0]["share"] == pytest.approx(5 / 15)
    small = contacts_models.evaluation(
        {**report, "labels": labels[:3], "confusion": [row[:3] for row in matrix[:3]]}, {}
    )
    assert small["show_matrix"]
