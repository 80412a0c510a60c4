"""The directory as the settings describe it: where its file is, the consent bases and the
secret that signs unsubscribe links."""

from __future__ import annotations

from pathlib import Path

from klantreis.directory.book import Directory
from klantreis.directory.consent import ConsentPolicy
from klantreis.settings import Settings

__all__ = ["directory_file", "open_directory"]


def directory_file(settings: Settings) -> str:
    """``directory_path`` when set, else ``<store stem>.directory.duckdb`` beside the store
    (``:memory:`` beside an in-memory store)."""
    if settings.directory_path:
        return settings.directory_path
    store = settings.db_file
    if store is None:
        return ":memory:"
    return str(store.with_name(f"{store.stem}.directory.duckdb"))


def open_directory(
    settings: Settings, *, path: str | Path | None = None, signing: bool = True
) -> Directory:
    """The directory of these settings. Unsubscribe tokens are signed with a key derived
    from ``secret_key`` (required outside demo mode; in demo mode without one, tokens only
    hold while the process runs). ``signing=False`` opens it without the key (imports,
    erasure and consent from the command line need none)."""
    policy = ConsentPolicy(surveys=settings.surveys_basis, service=settings.service_basis)
    return Directory.open(
        path or directory_file(settings),
        secret=settings.require_secret_key() if signing else None,
        policy=policy,
        default_country=settings.phone_country_code,
    )
