"""Model versions on disk: ``<store folder>/models/<kind>/<version>.joblib`` plus a JSON file
with metadata (date, training size, a hash of the training data, labels, metrics) and the
evaluation report. The contact-reason classifier lives in ``models/contacts``; the theme
tagger and the sentiment model (``klantreis.text.models``) use the same registry in
``models/themes`` and ``models/sentiment``.

The version in use is the newest one, unless :meth:`ModelRegistry.activate` chose another
(a rollback): the choice is kept in ``current.txt`` in the folder, and the next saved
version becomes the one in use again.

Only load model files you wrote yourself: joblib files are pickles.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # joblib and the classifier pull in scikit-learn: imported when used
    from klantreis.contacts.classifier import EvaluationReport

__all__ = ["ModelInfo", "ModelRegistry", "data_hash", "models_dir_for"]

log = logging.getLogger(__name__)


def models_dir_for(db_path: str | Path, kind: str = "contacts") -> Path:
    """The models folder of ``kind`` next to a store file (the working folder for an
    in-memory store)."""
    base = Path.cwd() if str(db_path) in ("", ":memory:") else Path(db_path).resolve().parent
    return base / "models" / kind


def data_hash(rows: Iterable[object]) -> str:
    """A short SHA-256 of training data (each row's ``repr``, in order): two versions with
    the same hash were trained on the same examples."""
    h = hashlib.sha256()
    for row in rows:
        h.update(repr(row).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class ModelInfo:
    version: str
    created_at: str
    training_size: int
    labels: list[str]
    macro_f1: float | None
    report: dict[str, Any] | None
    source: str
    #: SHA-256 (16 hex digits) of the training examples; None for versions saved before.
    data_hash: str | None = None
    #: Held-out measures (e.g. macro_f1, micro_f1, accuracy) and the training seconds.
    metrics: dict[str, Any] | None = None
    kind: str = "contacts"
    #: ``quick`` (features + calibrated SVM, saved first by a staged fit) or ``full``; None
    #: for versions saved before and for models without stages.
    stage: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class ModelRegistry:
    """Versioned model files in one folder; the newest version is in use unless
    :meth:`activate` chose an older one. ``expected`` names the class :meth:`load` accepts,
    as ``"module:Class"`` (imported when loading; default: the contact classifier)."""

    CURRENT_FILE = "current.txt"

    def __init__(
        self, folder: str | Path, kind: str = "contacts", expected: str | None = None
    ) -> None:
        self.folder = Path(folder)
        self.kind = kind
        self.expected = expected

    def save(
        self,
        model: Any,
        training_size: int,
        report: EvaluationReport | None,
        source: str = "",
        data_hash: str | None = None,
        metrics: dict[str, Any] | None = None,
        stage: str | None = None,
    ) -> ModelInfo:
        """Write ``model`` as a new version and put it in use; ``stage`` defaults to the
        model's ``stage`` attribute (the contact classifier's ``quick`` or ``full``).

        Both files are written under temporary names and renamed, the metadata last: a
        reader (``versions``, ``load``) sees the new version whole or not at all."""
        self.folder.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        number = max((int(v[1:5]) for v in self.versions() if v[1:5].isdigit()), default=0) + 1
        version = f"v{number:04d}-{now:%Y%m%dT%H%M%S}"
        labels = getattr(model, "classes_", None) or getattr(model, "theme_ids", None) or []
        macro_f1 = report.macro_f1 if report else (metrics or {}).get("macro_f1")
        info = ModelInfo(
            version,
            now.isoformat(timespec="seconds"),
            training_size,
            [str(x) for x in labels],
            macro_f1,
            report.to_dict() if report else None,
            source,
            data_hash,
            metrics,
            self.kind,
            stage if stage is not None else getattr(model, "stage", None),
        )
        import joblib

        tmp = self.folder / f".{version}.joblib.tmp"
        joblib.dump(model, tmp, compress=3)
        os.replace(tmp, self.folder / f"{version}.joblib")
        tmp = self.folder / f".{version}.json.tmp"
        tmp.write_text(json.dumps(info.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.folder / f"{version}.json")
        (self.folder / self.CURRENT_FILE).unlink(missing_ok=True)  # the newest is in use
        log.info("saved %s model %s (%d examples)", self.kind, version, training_size)
        return info

    def versions(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("v*.json"))

    def current(self) -> str | None:
        """The version in use: the one :meth:`activate` chose (while it exists), else the
        newest; None when nothing was trained."""
        versions = self.versions()
        marker = self.folder / self.CURRENT_FILE
        if marker.is_file():
            chosen = marker.read_text(encoding="utf-8").strip()
            if chosen in versions:
                return chosen
        return versions[-1] if versions else None

    def activate(self, version: str) -> ModelInfo:
        """Put ``version`` in use (roll back to an older one, or forward again); KeyError
        when there is no such version."""
        if version not in self.versions():
            raise KeyError(f"no {self.kind} model version {version!r}")
        tmp = self.folder / f".{self.CURRENT_FILE}.tmp"
        tmp.write_text(version + "\n", encoding="utf-8")
        os.replace(tmp, self.folder / self.CURRENT_FILE)
        log.info("%s model %s is in use", self.kind, version)
        info = self.info(version)
        assert info is not None
        return info

    def info(self, version: str | None = None) -> ModelInfo | None:
        version = version or self.current()
        if version is None:
            return None
        data = json.loads((self.folder / f"{version}.json").read_text(encoding="utf-8"))
        known = set(ModelInfo.__dataclass_fields__)
        return ModelInfo(**{k: v for k, v in data.items() if k in known})

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions (at least one is always kept); the
        versions deleted, oldest first. A saved model can be tens of MB."""
        if keep < 1:
            raise ValueError("keep at least one model version")
        current = self.current()
        old = [v for v in self.versions()[:-keep] if v != current]
        for version in old:
            for suffix in (".joblib", ".json"):
                (self.folder / f"{version}{suffix}").unlink(missing_ok=True)
        if old:
            log.info("deleted %d old %s model versions", len(old), self.kind)
        return old

    def load(self, version: str | None = None) -> Any:
        """The given version, or the one in use; None when nothing was trained yet."""
        info = self.info(version)
        if info is None:
            return None
        import importlib

        import joblib

        module, _, name = (
            self.expected or "klantreis.contacts.classifier:ContactClassifier"
        ).partition(":")
        expected = getattr(importlib.import_module(module), name)
        model = joblib.load(self.folder / f"{info.version}.joblib")
        if not isinstance(model, expected):
            raise TypeError(f"{info.version} is not a {self.kind} model")
        return model
