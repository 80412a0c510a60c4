"""Shared fixtures: a fresh App per test (in memory or in a temporary file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from klantreis.app import App
from klantreis.settings import Settings

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def app() -> Iterator[App]:
    """A fresh in-memory App with the built-in webshop journey."""
    a = App(Settings.load(env={}, db_path=":memory:"))
    yield a
    a.close()


@pytest.fixture
def file_app(tmp_path: Path) -> Iterator[App]:
    """A fresh App whose store is a DuckDB file in a temporary folder."""
    a = App(Settings.load(env={}, db_path=str(tmp_path / "store.duckdb")))
    yield a
    a.close()


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip when this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    """Tests hash at a low scrypt cost (production: N=2^17, see accounts.SCRYPT_COST);
    tests/web/test_accounts.py checks the real cost and the re-hash on login."""
    from klantreis.access import accounts

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(accounts.SCRYPT_COST, "n", 2**10)
        yield
