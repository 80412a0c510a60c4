"""``klantreis serve`` (a real uvicorn subprocess), a notebook's ``klantreis.open`` and the
``user``/``token``/``metrics`` commands at once on one store; a lock that no server explains
is one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import klantreis
from klantreis.access import accounts
from klantreis.live import find_server, info_path
from klantreis.model.events import events_from_records
from klantreis.store import EventStore

SRC = Path(__file__).resolve().parents[2] / "src"
SECRET = "test-secret-key-0123456789abcdef"
SCORES = [10, 9, 9, 8, 7, 3, 2, 10]  # NPS: 4 promoters, 2 detractors of 8 = 25


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLANTREIS_")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    env["KLANTREIS_SECRET_KEY"] = SECRET
    return env


def klantreis_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    code = "from klantreis.cli.main import cli; cli()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.fixture
def store(tmp_path: Path) -> Path:
    db = tmp_path / "live.duckdb"
    rows = [
        {
            "event_id": f"s{i}",
            "occurred_at": "2026-04-01T10:00:00Z",
            "kind": "survey.response",
            "metric": "nps",
            "score": score,
            "touchpoint": "bezorging",
        }
        for i, score in enumerate(SCORES)
    ]
    with EventStore(db) as s:
        s.append(events_from_records(rows))
    return db


@pytest.fixture
def server(store: Path) -> Iterator[subprocess.Popen[str]]:
    port = _free_port()
    code = "from klantreis.cli.main import cli; cli()"
    args = ["serve", "--db", str(store), "--port", str(port), "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (find_server(store) and _listening(port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"serve did not start: {proc.communicate()}")
        time.sleep(0.2)
    yield proc
    proc.terminate()
    proc.wait(timeout=30)


def _notebook(db: Path) -> list[dict[str, Any]]:
    app = klantreis.open(db)
    try:
        assert app.snapshot_of == str(db)
        frame = app.scores("nps", by=["touchpoint"], min_answers=1)
        return list(frame[["touchpoint", "n", "value"]].to_dict("records"))
    finally:
        app.close()


def test_serve_a_notebook_and_account_commands_at_once(
    store: Path, server: subprocess.Popen[str]
) -> None:
    db = str(store)
    with ThreadPoolExecutor(4) as pool:
        notebook = pool.submit(_notebook, store)
        added = pool.submit(
            klantreis_cli, "user", "add", "ana", "--role", "analyst", "--password-stdin",
            "--db", db, stdin="ana-password-1\n",
        )  # fmt: skip
        token = pool.submit(
            klantreis_cli, "token", "create", "--scope", "read", "--name", "nb", "--db", db
        )
        metrics = pool.submit(klantreis_cli, "metrics", "--by", "touchpoint", "--json", "--db", db)
        assert notebook.result() == [{"touchpoint": "bezorging", "n": 8, "value": 25.0}]
        for run in (added, token, metrics):
            result = run.result()
            assert result.returncode == 0, result.stderr
            assert "Traceback" not in result.stderr
    assert added.result().stdout.strip() == "user ana: analyst"
    secret = token.result().stdout.strip().splitlines()[-1]
    assert secret.startswith("kr_")
    assert "bezorging" in metrics.result().stdout
    listed = klantreis_cli("user", "list", "--format", "json", "--db", db)
    assert listed.returncode == 0, listed.stderr
    assert {"name": "ana", "role": "analyst", "state": "active"} in json.loads(listed.stdout)[
        "rows"
    ]
    tokens = json.loads(klantreis_cli("token", "list", "--json", "--db", db).stdout)["rows"]
    assert [t["name"] for t in tokens] == ["nb"]
    assert server.poll() is None
    server.terminate()
    server.wait(timeout=30)
    assert not info_path(store).exists() and not list(store.parent.glob("*.snapshot-*"))
    with EventStore(store) as s:  # the server wrote them into the store itself
        assert accounts.verify_token(s, secret) is not None
        assert accounts.get_user(s, "ana") is not None


def test_a_lock_without_a_server_is_one_line(store: Path) -> None:
    hold = "import sys, time, duckdb; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
    proc = subprocess.Popen(
        [sys.executable, "-c", hold + " time.sleep(60)", str(store)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        for args in (
            ["user", "add", "bo", "--password", "password-1"],
            ["metrics"],
            ["init"],
        ):
            result = klantreis_cli(*args, "--db", str(store))
            assert result.returncode == 1, args
            assert result.stderr.count("\n") == 1, result.stderr
            assert result.stderr.startswith(f"Error: store {store} is in use by another process")
            assert f"(PID {proc.pid})" in result.stderr
    finally:
        proc.kill()
        proc.wait()
