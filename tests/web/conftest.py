"""Fixtures for the web tests: an App with a small synthetic store, users, tokens, clients."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.built_once import built_once

from klantreis.access import accounts
from klantreis.app import App
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.settings import Settings
from klantreis.web import create_app

SECRET = "test-secret-key-0123456789abcdef"
PASSWORDS = {"admin": "admin-pass-1", "analyst": "analyst-pass-1", "viewer": "viewer-pass-1"}
TOUCHPOINTS = {
    "bezorging": "carrier:snelpost",
    "betalen": "finance",
    "website": "webshop",
    "klantenservice": "customer_service",
    "retour": "warehouse",
}
PII_COMMENT = (
    "Bel me op 06-12345678 of mail jan.jansen@example.nl, terugstorten op NL91ABNA0417164300"
)
SCRIPT_COMMENT = "<script>window.__pwned = 1</script> pakket kwam niet"


def survey_records(
    days: int = 60, per_day: int = 40, seed: int = 7, end: datetime | None = None
) -> list[dict[str, Any]]:
    """Survey answers over ``days`` days; bezorging gets worse in the last 10 days."""
    rng = random.Random(seed)
    end = end or datetime(2026, 3, 31, 12, tzinfo=UTC)
    out: list[dict[str, Any]] = []
    for d in range(days):
        day = end - timedelta(days=days - 1 - d)
        late = d >= days - 10
        for i in range(per_day):
            tp = rng.choice(list(TOUCHPOINTS))
            bad = tp == "bezorging" and late
            base = dict(
                occurred_at=(day + timedelta(minutes=i)).isoformat(),
                kind="survey.response",
                touchpoint=tp,
                owner=TOUCHPOINTS[tp],
                channel=rng.choice(["email", "web", "app"]),
                customer_id=f"C{rng.randrange(10_000):05d}",
                journey_id=f"O{d}-{i}",
                attrs={"segment": rng.choice(["particulier", "zakelijk"])},
                lang="nl",
            )
            nps = rng.choice([2, 4, 6, 7] if bad else [6, 7, 8, 9, 10, 10])
            out.append(
                {
                    **base,
                    "event_id": f"s{d}-{i}-nps",
                    "metric": "nps",
                    "score": nps,
                    "text": f"opmerking {d}-{i}" if i % 5 == 0 else None,
                }
            )
            out.append(
                {
                    **base,
                    "event_id": f"s{d}-{i}-ces",
                    "metric": "ces",
                    "score": rng.choice([4, 5, 6, 7] if bad else [1, 2, 2, 3]),
                }
            )
            out.append(
                {
                    **base,
                    "event_id": f"s{d}-{i}-csat",
                    "metric": "csat",
                    "score": rng.choice([1, 2, 3] if bad else [3, 4, 5, 5]),
                }
            )
    last = end.isoformat()
    out.append(
        dict(
            event_id="pii-1",
            occurred_at=last,
            kind="survey.response",
            touchpoint="betalen",
            owner="finance",
            channel="email",
            metric="nps",
            score=3,
            customer_id="C99999",
            journey_id="O-pii",
            text=PII_COMMENT,
        )
    )
    out.append(
        dict(
            event_id="xss-1",
            occurred_at=last,
            kind="survey.response",
            touchpoint="bezorging",
            owner="carrier:snelpost",
            channel="web",
            metric="nps",
            score=1,
            customer_id="C99998",
            journey_id="O-xss",
            text=SCRIPT_COMMENT,
        )
    )
    return out


def fill_store(app: App, **kwargs: Any) -> None:
    table = events_from_records(survey_records(**kwargs), source="test")
    ingest_table(app.store, table, app.journey, source="test")
    for role, password in PASSWORDS.items():
        accounts.add_user(app.store, role, role, password)


#: The small demo the browser tests share (``run_demo(app, 1500, seed=3, days=60, now=...)``).
DEMO_END = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo1500_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small demo store (1,500 orders, seed 3, 60 days up to :data:`DEMO_END`) with its
    kept tables built (``App.KEPT_TABLES``: what the pages read, as a server's kept-views job
    leaves them), built once per run -- under pytest-xdist once for all workers, behind a
    lock file in their shared temporary folder -- and only read: each module opens its own
    copy (:func:`demo1500_copy`). Built once here, the kept tables are not built again by
    every copy's first page views (about 1.5 CPU s each; ``test_page_reads`` makes a copy
    per test)."""
    from klantreis.demo.runner import run_demo

    def build(path: Path) -> None:
        with App(Settings.load(env={}, db_path=str(path), secret_key=SECRET)) as app:
            run_demo(app, 1500, seed=3, days=60, now=DEMO_END)
            for kept in App.KEPT_TABLES:
                getattr(app, kept)()

    return built_once(tmp_path_factory, "demo1500.duckdb", build)


def demo1500_copy(store: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> App:
    """An App on a fresh copy of :func:`demo1500_store` (the tests may write to it)."""
    path = tmp_path_factory.mktemp(name) / "demo.duckdb"
    shutil.copyfile(store, path)
    return App(Settings.load(env={}, db_path=str(path), secret_key=SECRET))


def make_settings(db_path: str) -> Settings:
    return Settings.load(
        env={},
        db_path=db_path,
        secret_key=SECRET,
        write_queue_max_delay_ms=5,
        max_request_events=100,
        max_request_bytes=64_000,
    )


@pytest.fixture(scope="session")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic store with its users, built once per session and copied per test."""
    path = tmp_path_factory.mktemp("template") / "store.duckdb"
    with App(make_settings(str(path))) as a:
        fill_store(a)
    return path


@pytest.fixture
def web_app(template_store: Path, tmp_path: Path) -> Iterator[App]:
    """A fresh App on a copy of the synthetic store."""
    path = tmp_path / "store.duckdb"
    shutil.copyfile(template_store, path)
    a = App(make_settings(str(path)))
    yield a
    a.close()


@pytest.fixture(scope="module")
def reading_app(template_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One App per test module, for modules whose tests only read pages (``web_app`` opens
    a fresh copy of the store for every test, and each first view computes from cold)."""
    path = tmp_path_factory.mktemp("reading") / "store.duckdb"
    shutil.copyfile(template_store, path)
    a = App(make_settings(str(path)))
    yield a
    a.close()


@pytest.fixture(scope="module")
def as_reader(reading_app: App) -> Iterator[Any]:
    """``as_reader("viewer")`` -> a fresh logged-in TestClient on ``reading_app`` (as
    ``as_user`` gives on ``web_app``), for tests that change nothing but their session."""
    yield from _logged_in_clients(reading_app)


@pytest.fixture
def client(web_app: App) -> Iterator[TestClient]:
    with TestClient(create_app(web_app), follow_redirects=False) as c:
        yield c


def do_login(client: TestClient, user: str) -> TestClient:
    """Log ``client`` in as one of the demo users (via the real form, with CSRF)."""
    page = client.get("/login")
    token = client.cookies.get("kr_csrf")
    assert token, "the login page sets the CSRF cookie"
    resp = client.post(
        "/login",
        data={"username": user, "password": PASSWORDS[user], "csrf_token": token, "next": "/"},
    )
    assert resp.status_code == 303, resp.text
    assert page.status_code == 200
    return client


@pytest.fixture
def tokens(web_app: App) -> dict[str, str]:
    ingest, _ = accounts.create_token(web_app.store, ["ingest"], name="ingest-test")
    read, _ = accounts.create_token(web_app.store, ["read"], name="read-test")
    read_analyst, _ = accounts.create_token(web_app.store, ["read"], user="analyst")
    return {"ingest": ingest, "read": read, "read_analyst": read_analyst}


@pytest.fixture
def as_user(web_app: App) -> Iterator[Any]:
    """``as_user("viewer")`` -> a fresh logged-in TestClient for that user."""
    yield from _logged_in_clients(web_app)


def _logged_in_clients(app: App) -> Iterator[Any]:
    """Yield ``make(user)`` -> a fresh logged-in TestClient on ``app``; close them all after."""
    opened: list[TestClient] = []

    def make(user: str) -> TestClient:
        c = TestClient(create_app(app), follow_redirects=False)
        c.__enter__()
        opened.append(c)
        return do_login(c, user)

    yield make
    for c in opened:
        c.__exit__(None, None, None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
