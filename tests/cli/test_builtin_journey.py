"""The built-in journey's names read as plain TOML (``cli/builtin_journey.py``) are the
validated configuration's, in both languages."""

from __future__ import annotations

import pytest

from klantreis.app import default_journey_config
from klantreis.cli.builtin_journey import builtin_journey_names
from klantreis.wording.core import Wording
from klantreis.wording.names import Names
from klantreis.wording.table import step_name


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_names_as_the_validated_journey_names(lang: str) -> None:
    validated = default_journey_config()
    plain = builtin_journey_names()
    want, got = Names(validated, Wording(lang)), Names(plain, Wording(lang))  # type: ignore[arg-type]
    parts = {
        "stage": [s.id for s in validated.stages],
        "touchpoint": [t.id for t in validated.touchpoints],
        "owner": [o.id for o in validated.owners],
        "promise": [p.id for p in validated.promises],
    }
    assert [s.id for s in plain.stages] == parts["stage"]
    assert [t.id for t in plain.touchpoints] == parts["touchpoint"]
    assert [o.id for o in plain.owners] == parts["owner"]
    assert [p.id for p in plain.promises] == parts["promise"]
    for dimension, ids in parts.items():
        for item in [*ids, "not.configured"]:
            assert got(dimension, item) == want(dimension, item)
    kinds = [k for t in validated.touchpoints for k in t.kinds]
    for step in [*parts["touchpoint"], *kinds, "not.configured"]:
        assert step_name(step, got) == step_name(step, want)
    assert all(step_name(t, got) != t for t in parts["touchpoint"])  # named, not ids
