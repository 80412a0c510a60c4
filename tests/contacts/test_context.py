"""The App's contacts context: taxonomy and model registry from one place, options honoured."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from klantreis.app import App
from klantreis.contacts.context import ContactsContext
from klantreis.contacts.taxonomy import TaxonomyError
from klantreis.settings import Settings


def test_the_app_owns_the_default_context(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    with App(Settings.load(env={}, db_path=str(db))) as app:
        contacts = app.contacts
        assert contacts.registry.folder == tmp_path / "models" / "contacts"
        assert contacts.taxonomy is contacts.taxonomy  # read once
        assert contacts.model() is None  # nothing trained yet
        assert contacts.cold_start() is contacts.cold_start()  # built once


def test_options_choose_another_taxonomy_and_model_folder(tmp_path: Path) -> None:
    text = resources.files("klantreis.contacts").joinpath("taxonomy.toml").read_text("utf-8")
    own = tmp_path / "own.toml"
    own.write_text(text, encoding="utf-8")
    settings = Settings.load(env={}, db_path=":memory:")
    with App(settings, contacts_taxonomy=own, contacts_models=tmp_path / "m") as app:
        assert app.contacts.registry.folder == tmp_path / "m"
        assert app.contacts.taxonomy.reason_ids()
    missing = ContactsContext(":memory:", tmp_path / "missing.toml")
    with pytest.raises(TaxonomyError):
        missing.taxonomy  # noqa: B018
