"""Every reason code and outbox state has words in Dutch and English."""

from __future__ import annotations

import pytest

from klantreis.directory import REASONS
from klantreis.outbox import STATES
from klantreis.wording.core import catalogue


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_reasons_and_states_are_worded(lang: str) -> None:
    words = catalogue(lang)
    for reason in (*REASONS, "no_address"):
        assert words[f"directory.reason.{reason}"]
    for state in STATES:
        assert words[f"outbox.state.{state}"]
