from __future__ import annotations

import re
from pathlib import Path

import pytest

from klantreis.settings import RETIRED, SETTINGS, Settings, SettingsError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_environment_and_overrides() -> None:
    s = Settings.load(env={"KLANTREIS_PORT": "9000", "KLANTREIS_DEMO_MODE": "yes"}, min_answers=5)
    assert (s.port, s.demo_mode, s.min_answers) == (9000, True, 5)


def test_bad_values_are_explained() -> None:
    with pytest.raises(SettingsError, match="port: 'abc' is not a valid int"):
        Settings.load(env={"KLANTREIS_PORT": "abc"})
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings.load(env={}, colour="blue")


def test_secret_key_never_defaulted_outside_demo_mode() -> None:
    with pytest.raises(SettingsError, match="secret_key is not set"):
        Settings.load(env={}).require_secret_key()
    demo = Settings.load(env={}, demo_mode=True)
    assert len(demo.require_secret_key()) >= 32
    assert demo.require_secret_key() != demo.require_secret_key()
    with pytest.raises(SettingsError, match="at least 16"):
        Settings.load(env={}, secret_key="short").require_secret_key()


def test_secrets_are_hidden_when_listed() -> None:
    s = Settings.load(env={}, secret_key="x" * 20)
    assert s.as_dict()["secret_key"] == "***"
    assert "x" * 20 not in repr(s)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_documented(setting: object) -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert f"KLANTREIS_{setting.name.upper()}" in text  # type: ignore[attr-defined]


SRC = Path(__file__).resolve().parents[2] / "src" / "klantreis"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_read_somewhere(setting: object) -> None:
    """A setting in the registry that no code reads would be a documented promise that
    does nothing (as KLANTREIS_ENGINE was)."""
    name = setting.name  # type: ignore[attr-defined]
    # the secret key is read through Settings.require_secret_key (which checks it)
    via = r"|\.require_secret_key\(" if name == "secret_key" else ""
    pattern = re.compile(rf"\.{name}\b|is_set\(\"{name}\"\){via}")
    readers = [
        p.relative_to(SRC).as_posix()
        for p in SRC.rglob("*.py")
        if p.name != "settings.py" and pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert readers, f"no code reads the setting {name}"


def test_explicitly_set_is_known_to_the_settings() -> None:
    assert not Settings.load(env={}).is_set("min_answers")
    assert Settings.load(env={"KLANTREIS_MIN_ANSWERS": "30"}).is_set("min_answers")  # = default
    assert Settings.load(env={}, min_answers=30).is_set("min_answers")
    assert Settings(min_answers=12).is_set("min_answers")
    assert not Settings(port=9000).is_set("min_answers")
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings().is_set("engine")
    assert Settings.load(env={}, port=1) == Settings(port=1)  # ``explicit`` is not compared


@pytest.mark.parametrize(
    "key", ["a" * 32, "abcabcabcabcabcabc", "0123456789abcdefghij", "aabbccddaabbccddaabb"]
)
def test_weak_secret_keys_are_refused_outside_demo_mode(key: str) -> None:
    with pytest.raises(SettingsError, match="secret_key"):
        Settings.load(env={}, secret_key=key).require_secret_key()
    assert Settings.load(env={}, secret_key=key, demo_mode=True).require_secret_key() == key


def test_a_random_secret_key_is_accepted() -> None:
    key = "9f86d081884c7d659a2feaa0c55ad015"
    assert Settings.load(env={}, secret_key=key).require_secret_key() == key
    assert Settings.load(env={}, secure_cookies="yes").secure_cookies is True
    assert Settings.load(env={"KLANTREIS_SESSION_IDLE_MINUTES": "5"}).session_idle_minutes == 5


def test_a_setting_below_its_minimum_is_explained() -> None:
    with pytest.raises(SettingsError, match="index_range_events: '0' is below 1"):
        Settings.load(env={"KLANTREIS_INDEX_RANGE_EVENTS": "0"})
    assert Settings.load(env={"KLANTREIS_INDEX_RANGE_EVENTS": "5"}).index_range_events == 5


@pytest.mark.parametrize("how", ["env", "argument"])
def test_a_retired_setting_is_ignored_with_a_warning_naming_its_replacement(
    how: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``stale_pages`` (journeys only) gave way to ``stale_page_events`` (every page): a
    server configured for it still starts, and the log says what to set instead."""
    env, args = (
        ({"KLANTREIS_STALE_PAGES": "true"}, {}) if how == "env" else ({}, {"stale_pages": True})
    )
    with caplog.at_level("WARNING", logger="klantreis.settings"):
        s = Settings.load(env=env, **args)
    assert s == Settings() and not hasattr(s, "stale_pages")
    assert "KLANTREIS_STALE_PAGES is retired and ignored" in caplog.text
    assert "KLANTREIS_STALE_PAGE_EVENTS" in caplog.text
    caplog.clear()
    Settings.load(env={}, stale_pages=None)  # an option left unset says nothing
    assert not caplog.text


def test_retired_settings_are_documented_as_retired() -> None:
    text = DOCS.read_text(encoding="utf-8")
    retired = text[text.index("## Retired settings") :]
    for name in RETIRED:
        assert f"KLANTREIS_{name.upper()}" in retired
        assert name not in {s.name for s in SETTINGS}
