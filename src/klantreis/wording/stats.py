"""Names of the statistical tests behind a "significant" mark, from the test's key."""

from __future__ import annotations

from klantreis.wording.core import Wording

__all__ = ["test_label"]


def test_label(test: str, w: Wording) -> str:
    """``welch_t`` -> "Welch t-toets" / "Welch t-test"; an unknown key is shown as it is."""
    key = f"test.{test}"
    return w(key) if w.has(key) else test


test_label.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported
