"""The contacts context of one App: the reason taxonomy and the model registry, with the
cold-start classifier and the current trained model loaded once and kept.

The App owns it (``app.contacts``); the web pages and the CLI commands read the taxonomy and
the model from here instead of building their own. The CLI's ``--taxonomy`` and ``--models``
options choose another taxonomy file or model folder for one App.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the classifier pulls in scikit-learn: imported only when used
    from klantreis.contacts.classifier import ColdStart, ContactClassifier
    from klantreis.contacts.models import ModelRegistry
    from klantreis.contacts.taxonomy import Taxonomy

__all__ = ["ContactsContext"]


class ContactsContext:
    """Taxonomy (``taxonomy_path``; None: the built-in one) and model registry (``models_dir``;
    None: ``models/contacts`` next to the store ``db_path``), loaded on first use."""

    def __init__(
        self,
        db_path: str,
        taxonomy_path: str | Path | None = None,
        models_dir: str | Path | None = None,
    ) -> None:
        from klantreis.contacts.models import ModelRegistry, models_dir_for

        self.taxonomy_path = taxonomy_path
        self.registry: ModelRegistry = ModelRegistry(models_dir or models_dir_for(db_path))
        self._lock = threading.Lock()
        self._taxonomy: Taxonomy | None = None
        self._cold_start: ColdStart | None = None
        self._model: tuple[str, ContactClassifier | None] | None = None

    @property
    def taxonomy(self) -> Taxonomy:
        """The taxonomy (read once; ``TaxonomyError`` when the file is missing or invalid)."""
        with self._lock:
            if self._taxonomy is None:
                from klantreis.contacts.taxonomy import load_taxonomy

                self._taxonomy = load_taxonomy(self.taxonomy_path)
            return self._taxonomy

    def cold_start(self) -> ColdStart:
        """The classifier used before any model was trained (built once)."""
        taxonomy = self.taxonomy
        with self._lock:
            if self._cold_start is None:
                from klantreis.contacts.classifier import ColdStart

                self._cold_start = ColdStart(taxonomy)
            return self._cold_start

    def model(self) -> ContactClassifier | None:
        """The trained model in use (the newest, or the one a rollback chose; loaded once per
        version), or None."""
        version = self.registry.current()
        if version is None:
            return None
        with self._lock:
            if self._model is None or self._model[0] != version:
                model: ContactClassifier | None = self.registry.load(version)
                self._model = (version, model)
            return self._model[1]

    def forget_model(self) -> None:
        """Drop the loaded model: the next :meth:`model` reads the registry again."""
        with self._lock:
            self._model = None
