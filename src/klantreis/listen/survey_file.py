"""The surveys file of an App's settings: where it is, reading it (cached until it changes),
and writing it from the web editor — the one place every reader uses (``App.surveys``, the
survey form and widget, the editor, the CLI).

The file is the ``surveys_path`` setting, else ``surveys.toml`` beside the journey file;
without either the built-in demo surveys are used (read-only). A
write is checked in full first (:func:`~klantreis.model.survey.parse_survey_config` with the
journey: every problem listed, nothing written when there is one) and then replaces the
file atomically (a temporary file in the same folder, flushed, renamed over it), so a reader
never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
import threading
from importlib import resources
from pathlib import Path

from klantreis.model.journey import JourneyConfig
from klantreis.model.survey import SurveyConfig, SurveyConfigError, parse_survey_config
from klantreis.settings import Settings

__all__ = [
    "BUILT_IN",
    "SurveysCache",
    "load_surveys",
    "save_surveys",
    "survey_text",
    "surveys_path",
    "writable_path",
]

BUILT_IN = "klantreis/demo/surveys.toml"
#: The largest surveys file the editor accepts (characters).
MAX_CHARS = 200_000


def writable_path(settings: Settings) -> Path | None:
    """The file the editor writes, or None for the built-in surveys."""
    if settings.surveys_path:
        return Path(settings.surveys_path)
    if settings.journey_config:
        beside = Path(settings.journey_config).with_name("surveys.toml")
        if beside.exists():
            return beside
    return None


def surveys_path(settings: Settings) -> Path:
    """The file the surveys are read from: :func:`writable_path`, else the built-in one."""
    path = writable_path(settings)
    if path is not None:
        return path
    return Path(str(resources.files("klantreis.demo").joinpath("surveys.toml")))


def survey_text(settings: Settings) -> str:
    """The surveys file as written."""
    path = writable_path(settings)
    if path is None:
        return resources.files("klantreis.demo").joinpath("surveys.toml").read_text("utf-8")
    return path.read_text(encoding="utf-8")


def load_surveys(settings: Settings, journey: JourneyConfig | None = None) -> SurveyConfig:
    """The surveys of ``settings``, checked (against ``journey`` when given)."""
    path = writable_path(settings)
    if path is not None and not path.exists():
        raise SurveyConfigError(str(path), ["file not found"])
    return parse_survey_config(survey_text(settings), str(path or BUILT_IN), journey)


class SurveysCache:
    """The surveys of an App, read once and again only when the file changed (its path or
    its modification time): a valid file gives its :class:`SurveyConfig`, a file with
    problems raises the same :class:`SurveyConfigError` until it is fixed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entry: tuple[object, SurveyConfig | None, SurveyConfigError | None] | None = None

    def get(self, settings: Settings, journey: JourneyConfig) -> SurveyConfig:
        path = writable_path(settings)
        stamp: object = (path, None)
        if path is not None and path.exists():
            st = path.stat()  # an atomic save replaces the file: a new inode, whatever the clock
            stamp = (path, st.st_mtime_ns, st.st_ino, st.st_size)
        with self._lock:
            if self._entry is None or self._entry[0] != stamp:
                try:
                    self._entry = (stamp, load_surveys(settings, journey), None)
                except SurveyConfigError as exc:
                    self._entry = (stamp, None, exc)
            _, config, error = self._entry
        if error is not None:
            raise error
        assert config is not None
        return config


def save_surveys(settings: Settings, text: str, journey: JourneyConfig) -> SurveyConfig:
    """Check ``text`` and, when it is valid, write it atomically; raises
    :class:`SurveyConfigError` with every problem (nothing written) or ValueError when there
    is no file to write (built-in surveys)."""
    path = writable_path(settings)
    if path is None:
        raise ValueError("no surveys file is configured (set KLANTREIS_SURVEYS_PATH)")
    if len(text) > MAX_CHARS:
        raise SurveyConfigError(str(path), [f"longer than {MAX_CHARS} characters"])
    config = parse_survey_config(text, str(path), journey)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".surveys-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return config
