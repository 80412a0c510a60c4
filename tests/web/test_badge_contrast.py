"""The significance badge (``.sig``: warn-coloured text on a pale yellow) keeps WCAG AA
contrast (4.5:1 for its small text). axe found 4.44:1 on /scores in the session-9 walk."""

from __future__ import annotations

import re
from pathlib import Path

CSS = (Path(__file__).parents[2] / "src/klantreis/web/static/app.css").read_text()


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula_matches_known_pairs() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#9a6700", "#fff4d6"), 2) == 4.44  # what axe measured


def test_the_significance_badge_is_readable() -> None:
    rule = re.search(r"\.sig \{([^}]*)\}", CSS)
    assert rule, "the .sig rule"
    background = re.search(r"background:(#[0-9a-f]{6})", rule.group(1))
    warn = re.search(r"--warn:(#[0-9a-f]{6})", CSS)
    assert background and warn and "color:var(--warn)" in rule.group(1)
    assert contrast(warn.group(1), background.group(1)) >= 4.5
