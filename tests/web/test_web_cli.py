"""``klantreis user add``, ``token create`` and ``serve`` refusing to run without a secret."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from klantreis.access import accounts
from klantreis.app import App
from klantreis.cli.main import cli
from klantreis.settings import Settings


def test_user_add_and_list(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    runner = CliRunner()
    result = runner.invoke(
        cli, ["user", "add", "els", "--role", "analyst", "--password", "lang-genoeg-1", "--db", db]
    )
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli, ["user", "list", "--db", db])
    assert "els\tanalyst" in listed.output
    with App(Settings.load(env={}, db_path=db)) as app:
        assert accounts.authenticate(app.store, "els", "lang-genoeg-1") is not None


def test_user_add_refuses_a_short_password(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["user", "add", "els", "--password", "kort", "--db", str(tmp_path / "s.duckdb")]
    )
    assert result.exit_code != 0 and "8 characters" in result.output


def test_token_create_prints_a_working_token(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    result = CliRunner().invoke(cli, ["token", "create", "--scope", "ingest", "--db", db])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    with App(Settings.load(env={}, db_path=db)) as app:
        tok = accounts.verify_token(app.store, secret)
    assert tok is not None and tok.scopes == ("ingest",)


def test_serve_needs_a_secret_outside_demo_mode(tmp_path: Path) -> None:
    result = CliRunner(env={"KLANTREIS_SECRET_KEY": None, "KLANTREIS_DEMO_MODE": None}).invoke(
        cli, ["serve", "--db", str(tmp_path / "s.duckdb")]
    )
    assert result.exit_code != 0 and "secret_key" in result.output


def test_serve_prints_its_address_only_once_it_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "klantreis: http://..." line comes when the port accepts, not before (walk 8)."""
    import klantreis.web.app as web_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    seen: dict[str, str] = {}

    def printed() -> str:  # what the command printed so far (CliRunner's stdout)
        sys.stdout.flush()
        return str(sys.stdout.buffer.getvalue().decode())  # type: ignore[attr-defined]

    def fake_run(settings: object, access_log: bool = False) -> None:
        time.sleep(0.4)  # the real server needs a moment before it listens
        seen["before"] = printed()
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
            server.listen()
            deadline = time.monotonic() + 5
            while "klantreis: http" not in printed():
                assert time.monotonic() < deadline, "never announced"
                time.sleep(0.05)

    monkeypatch.setattr(web_app, "serve", fake_run)
    args = ["serve", "--demo", "--port", str(port), "--db", str(tmp_path / "s.duckdb")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "klantreis: http" not in seen["before"], "announced before it listened"
    assert f"klantreis: http://127.0.0.1:{port}/" in result.output


def test_commands_have_help() -> None:
    for args in (["serve"], ["user", "add"], ["token", "create"]):
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert result.exit_code == 0 and len(result.output) > 100


def test_warm_up_fills_the_index_cache(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """After the warm-up, the overview page's index comes from the cache."""
    from klantreis.analytics import index_cache
    from klantreis.app import App
    from klantreis.demo.runner import run_demo
    from klantreis.settings import Settings
    from klantreis.web.app import warm_up

    with App(Settings.load(env={}, db_path=str(tmp_path / "w.duckdb"))) as app:
        run_demo(app, 300, 7)
        hit = index_cache.store_cache(app.events_table(), app.index_cache())
        assert hit is not None and not hit[1].results  # nothing cached before
        warm_up(app).join(timeout=120)
        hit = index_cache.store_cache(app.events_table(), app.index_cache())
        assert hit is not None and len(hit[1].results) == 1
