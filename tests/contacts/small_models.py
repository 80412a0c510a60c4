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


class FiveEpochs(classifier.ContactClassifier):
    """Two small networks, 5 epochs of batches of 8: more steps per epoch than min_steps
    (200) on ``generate("short", 60)``, so a network can stop after its 2nd epoch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        more = {"mlp_epochs": 5, "mlp_hidden": 16, "mlp_batch": 8}
        super().__init__(*args, **{**kwargs, **more})


@contextmanager
def linear_only_training() -> Iterator[None]:
    """Every contact model trained inside (``train_with_holdout`` builds its models by this
    name) is a :class:`LinearOnly`; the registry still loads it as a contact classifier."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(classifier, "ContactClassifier", LinearOnly)
        yield
