"""The VAPID key from settings: never defaulted outside demo mode; demo mode keeps one
beside the store so browsers' subscriptions survive a restart; bad values say why."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from klantreis.outbox.configured import push_key, push_key_path, senders_from_settings
from klantreis.outbox.vapid import new_key
from klantreis.settings import Settings, SettingsError

WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_no_key_outside_demo_mode_means_no_push(tmp_path: Path) -> None:
    settings = Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"), webhook_secret=WHSEC)
    assert push_key(settings) is None
    senders = senders_from_settings(settings, push=(None, lambda e: None, lambda e: None))
    assert "push" not in senders
    assert not list(tmp_path.iterdir())  # nothing generated


def test_demo_mode_keeps_one_key_beside_the_store(tmp_path: Path) -> None:
    settings = Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"), demo_mode=True)
    first = push_key(settings)
    again = push_key(settings)
    assert first is not None and again is not None
    assert first.public_text == again.public_text
    path = push_key_path(settings)
    assert path == tmp_path / "s.vapid-key" and path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.subject.startswith("mailto:")


def test_a_set_key_needs_a_subject_and_a_bad_key_says_why(tmp_path: Path) -> None:
    key = new_key()
    bare = Settings.load(env={}, push_vapid_private_key=key.private_text)
    with pytest.raises(SettingsError, match="push_vapid_subject"):
        push_key(bare)
    good = Settings.load(
        env={}, push_vapid_private_key=key.private_text, push_vapid_subject="https://cx.example"
    )
    found = push_key(good)
    assert found is not None and found.public_text == key.public_text
    bad = Settings.load(env={}, push_vapid_private_key="nope", push_vapid_subject="mailto:a@b.c")
    with pytest.raises(SettingsError, match="32 bytes"):
        push_key(bad)
    assert "nope" not in repr(bad) and bad.as_dict()["push_vapid_private_key"] == "***"
