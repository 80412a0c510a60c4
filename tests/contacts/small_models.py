"""A cheaper contact model for the tests of what surrounds training (pages, background jobs,
versions), not of the model itself: tests/contacts/test_classifier.py and test_banking77.py
train the full one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from klantreis.contacts import classifier


class LinearOnly(classifier.ContactClassifier):
    """The contact classifier without its two networks: the same features, the calibrated
    linear model and the same saved file and evaluation report, in about half the CPU time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("mlp_models", 0)
        super().__init__(*args, **kwargs)


@contextmanager
def linear_only_training() -> Iterator[None]:
    """Every contact model trained inside (``train_with_holdout`` builds its models by this
    name) is a :class:`LinearOnly`; the registry still loads it as a contact classifier."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(classifier, "ContactClassifier", LinearOnly)
        yield
