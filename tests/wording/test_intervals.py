"""An interval in a sentence or a table cell reads "[low – high]": in Dutch a decimal comma
followed by a list comma ("[-50,2, -19,2]") reads as three numbers. The session-10 walk found
that on /journeys (impact per condition, promises kept) and in the impact summary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from klantreis.wording import Wording
from klantreis.wording.impact import impact_summary

TEMPLATES = Path(__file__).parents[2] / "src/klantreis/web/templates"
EFFECT = {
    "condition": "broken:op_tijd_bezorgd",
    "metrics": {"nps": {"diff": -34.7, "ci_low": -50.2, "ci_high": -19.2}},
    "contacts": {"diff": 12.0},
}


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_impact_summary_names_its_interval_with_a_dash(lang: str) -> None:
    summary = impact_summary(EFFECT, Wording(lang))
    low, high = ("-50,2", "-19,2") if lang == "nl" else ("-50.2", "-19.2")
    assert f"[{low} – {high}]" in summary, summary


def test_no_template_separates_an_interval_with_a_comma() -> None:
    """``[{{ t.number(low) }}, {{ t.number(high) }}]`` in any template."""
    pattern = re.compile(r"\[\{\{ t\.(number|percent)\([^}]*\}\},\s*\{\{")
    found = [p.name for p in TEMPLATES.glob("*.html") if pattern.search(p.read_text("utf-8"))]
    assert found == []
