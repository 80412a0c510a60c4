"""Model versions on disk: ``<store folder>/models/contacts/<version>.joblib`` plus a JSON file
with metadata (date, training size, labels, macro-F1) and the evaluation report.

Only load model files you wrote yourself: joblib files are pickles.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # joblib and the classifier pull in scikit-learn: imported when used
    from klantreis.contacts.classifier import ContactClassifier, EvaluationReport

__all__ = ["ModelInfo", "ModelRegistry", "models_dir_for"]

log = logging.getLogger(__name__)


def models_dir_for(db_path: str | Path) -> Path:
    """The models folder next to a store file (the working folder for an in-memory store)."""
    base = Path.cwd() if str(db_path) in ("", ":memory:") else Path(db_path).resolve().parent
    return base / "models" / "contacts"


@dataclass(frozen=True)
class ModelInfo:
    version: str
    created_at: str
    training_size: int
    labels: list[str]
    macro_f1: float | None
    report: dict[str, Any] | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class ModelRegistry:
    """Versioned classifier files in one folder; the newest version is the current one."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def save(
        self,
        model: ContactClassifier,
        training_size: int,
        report: EvaluationReport | None,
        source: str = "",
    ) -> ModelInfo:
        self.folder.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        number = max((int(v[1:5]) for v in self.versions() if v[1:5].isdigit()), default=0) + 1
        version = f"v{number:04d}-{now:%Y%m%dT%H%M%S}"
        info = ModelInfo(
            version,
            now.isoformat(timespec="seconds"),
            training_size,
            list(model.classes_),
            report.macro_f1 if report else None,
            report.to_dict() if report else None,
            source,
        )
        import joblib

        joblib.dump(model, self.folder / f"{version}.joblib", compress=3)
        (self.folder / f"{version}.json").write_text(
            json.dumps(info.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        log.info("saved contact classifier %s (%d examples)", version, training_size)
        return info

    def versions(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("v*.json"))

    def info(self, version: str | None = None) -> ModelInfo | None:
        versions = self.versions()
        version = version or (versions[-1] if versions else None)
        if version is None:
            return None
        data = json.loads((self.folder / f"{version}.json").read_text(encoding="utf-8"))
        return ModelInfo(**data)

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` versions (at least one is always kept); the
        versions deleted, oldest first. A saved model can be tens of MB."""
        if keep < 1:
            raise ValueError("keep at least one model version")
        old = self.versions()[:-keep]
        for version in old:
            for suffix in (".joblib", ".json"):
                (self.folder / f"{version}{suffix}").unlink(missing_ok=True)
        if old:
            log.info("deleted %d old contact classifier versions", len(old))
        return old

    def load(self, version: str | None = None) -> ContactClassifier | None:
        """The given or newest version, or None when nothing was trained yet."""
        info = self.info(version)
        if info is None:
            return None
        import joblib

        from klantreis.contacts.classifier import ContactClassifier

        model = joblib.load(self.folder / f"{info.version}.joblib")
        if not isinstance(model, ContactClassifier):
            raise TypeError(f"{info.version} is not a contact classifier")
        return model
