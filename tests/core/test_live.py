"""klantreis.live: the discovery file, snapshots, the lock error, and the server's local
admin routes (in-process; the real three-process test is tests/cli/test_live_server.py)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from klantreis.access import accounts
from klantreis.app import App
from klantreis.live import (
    SECRET_HEADER,
    LiveClient,
    Snapshots,
    announce,
    explain_lock,
    find_server,
    info_path,
    withdraw,
)
from klantreis.model.events import events_from_records
from klantreis.settings import Settings
from klantreis.store import EventStore, StoreLockedError
from klantreis.web import create_app

SECRET = "test-secret-key-0123456789abcdef"

_HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(60)
"""


def _events(n: int, start: int = 0) -> object:
    return events_from_records(
        [
            {
                "event_id": f"e{i}",
                "occurred_at": "2026-04-01T10:00:00Z",
                "kind": "survey.response",
                "metric": "nps",
                "score": 10,
                "touchpoint": "bezorging",
            }
            for i in range(start, start + n)
        ]
    )


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A store held open for writing by another (non-klantreis-server) process."""
    db = tmp_path / "held.duckdb"
    EventStore(db).close()
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(db)], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"held"
    yield db, proc.pid
    proc.kill()
    proc.wait()


def test_a_lock_conflict_is_one_typed_error_naming_the_holder(holder: tuple[Path, int]) -> None:
    db, pid = holder
    for read_only in (False, True):  # DuckDB refuses even a read-only open meanwhile
        with pytest.raises(StoreLockedError) as caught:
            EventStore(db, read_only=read_only)
        assert caught.value.pid == pid
        assert str(caught.value) == f"store {db} is in use by another process (PID {pid})"
        assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_without_an_announced_server_reading_raises_the_lock_error(
    holder: tuple[Path, int],
) -> None:
    db, _ = holder
    with pytest.raises(StoreLockedError) as caught:
        App.reader(Settings.load(env={}, db_path=str(db)))
    assert "stop it" in explain_lock(caught.value)


def test_the_discovery_file_is_for_the_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    info = announce(db, "http://127.0.0.1:8123/")
    path = info_path(db)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert find_server(db) == info and info.url == "http://127.0.0.1:8123"
    assert len(info.secret) >= 32 and info.pid == os.getpid()
    path.chmod(0o644)  # readable by others: not trusted
    assert find_server(db) is None
    path.chmod(0o600)
    withdraw(info)
    assert not path.exists() and find_server(db) is None


def test_a_discovery_file_of_a_gone_process_is_ignored(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    info = announce(db, "http://127.0.0.1:8123")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record = json.loads(info_path(db).read_text())
    info_path(db).write_text(json.dumps({**record, "pid": gone.pid}))
    assert find_server(db) is None
    assert info.pid != gone.pid


def test_snapshots_are_consistent_reused_and_renewed(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "s.duckdb")
    store.append(_events(5))
    snaps = Snapshots(store)
    first = snaps.fresh()
    assert first.parent == tmp_path and first.name.startswith("s.duckdb.snapshot-")
    made = first.stat().st_mtime_ns
    assert snaps.fresh() == first and first.stat().st_mtime_ns == made  # nothing changed
    reader = duckdb.connect(str(first), read_only=True)  # a reader keeps its copy
    store.append(_events(3, start=5))
    second = snaps.fresh()
    assert second != first and not first.exists()  # replaced; the reader still has it
    assert reader.sql("SELECT count(*) FROM events").fetchall() == [(5,)]
    again = duckdb.connect(str(second), read_only=True)
    assert again.sql("SELECT count(*) FROM events").fetchall() == [(8,)]
    accounts.ensure_schema(store)
    accounts.add_user(store, "ana", "analyst", "password-1")
    snaps.changed()
    newest = duckdb.connect(str(snaps.fresh()), read_only=True)
    assert newest.sql("SELECT name FROM users").fetchall() == [("ana",)]
    for con in (reader, again, newest):
        con.close()
    store.close()
    assert not list(tmp_path.glob("*.partial*"))
    assert len(list(tmp_path.glob("s.duckdb.snapshot-*"))) == 1


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, App, str]]:
    app = App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"), secret_key=SECRET))
    api = create_app(app, page_modules=[])
    api.state.local_secret = "local-secret-" + "x" * 20
    api.state.snapshots = Snapshots(app.store)
    with TestClient(api) as client:
        yield client, app, api.state.local_secret
    app.close()


def test_the_account_routes_need_the_local_secret_or_an_admin_token(
    served: tuple[TestClient, App, str],
) -> None:
    client, app, secret = served
    body = {"name": "bo", "role": "viewer", "password": "password-1"}
    assert client.post("/api/v1/users", json=body).status_code == 403
    wrong = {SECRET_HEADER: "nope"}
    assert client.post("/api/v1/users", json=body, headers=wrong).status_code == 403
    accounts.add_user(app.store, "vi", "viewer", "password-1")
    viewer, _ = accounts.create_token(app.store, ["read"], user="vi")
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    assert client.post("/api/v1/users", json=body, headers=as_viewer).status_code == 403
    local = {SECRET_HEADER: secret}
    assert client.post("/api/v1/local/snapshot", headers=as_viewer).status_code == 403
    answer = client.post("/api/v1/users", json=body, headers=local)
    assert answer.status_code == 200, answer.text
    assert accounts.get_user(app.store, "bo") is not None
    # the local admin also uses the admin routes that were there already
    listed = client.get("/api/v1/users", headers=local).json()["data"]
    assert {"name": "bo", "role": "viewer", "disabled": False} in listed
    off = client.put("/api/v1/users/bo/disabled", json={"disabled": True}, headers=local)
    assert off.status_code == 200 and accounts.get_user(app.store, "bo").disabled  # type: ignore[union-attr]
    renewed = client.put(
        "/api/v1/users/bo/password", json={"password": "password-2"}, headers=local
    )
    assert renewed.status_code == 200
    assert accounts.authenticate(app.store, "bo", "password-2") is None  # disabled stays so
    accounts.add_user(app.store, "ad", "admin", "password-1")
    admin, _ = accounts.create_token(app.store, ["read"], user="ad")
    as_admin = {"Authorization": f"Bearer {admin}"}
    made = client.post("/api/v1/tokens", json={"scopes": ["read"]}, headers=as_admin)
    assert made.status_code == 200 and made.json()["data"]["secret"].startswith("kr_")
    token_id = made.json()["data"]["token"]["id"]
    revoked = client.delete(f"/api/v1/tokens/{token_id}", headers=local).json()["data"]
    assert revoked["state"] == "revoked"
    short = client.post("/api/v1/users", json={**body, "password": "short"}, headers=local).json()
    assert short["ok"] is False and "8" in short["error"]["message"]
    snap = client.post("/api/v1/local/snapshot", headers=local).json()["data"]["path"]
    with duckdb.connect(snap, read_only=True) as con:
        assert {r[0] for r in con.sql("SELECT name FROM users").fetchall()} >= {"bo", "ad"}


def test_the_client_reports_refusals_in_one_line(served: tuple[TestClient, App, str]) -> None:
    _, app, _ = served
    info = announce(app.settings.db_path, "http://127.0.0.1:9")  # nothing listens there
    try:
        live = LiveClient(find_server(app.settings.db_path) or info, timeout=2)
        with pytest.raises(Exception, match=r"did not answer") as caught:
            live.call("POST", "/api/v1/admin/users", {})
        assert "\n" not in str(caught.value)
    finally:
        withdraw(info)
