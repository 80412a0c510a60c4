from __future__ import annotations

from pathlib import Path

import pytest

from klantreis.app import default_journey_config
from klantreis.model.journey import ConfigError, check_journey_config, parse_journey_config

MINIMAL = """
[[stages]]
id = "levering"
name_nl = "Levering"
name_en = "Delivery"
moment = "SMOT"

[[touchpoints]]
id = "bezorging"
name_nl = "Bezorging"
name_en = "Delivery"
stage = "levering"
kinds = ["delivery.completed"]
"""


def test_default_journey_is_valid_and_covers_moments_of_truth() -> None:
    cfg = default_journey_config()
    assert {s.moment for s in cfg.stages} == {"ZMOT", "FMOT", "SMOT", "UMOT"}
    assert cfg.touchpoint_for_kind()["delivery.completed"] == "bezorging"
    assert cfg.contact_costs["phone"] > cfg.contact_costs["chat"]


def test_minimal_config_parses() -> None:
    cfg = parse_journey_config(MINIMAL)
    assert cfg.stage_of_touchpoint() == {"bezorging": "levering"}
    assert cfg.label("touchpoint", "bezorging", "en") == "Delivery"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[[touchpoints]]\nid="x"\nname_nl="X"\nname_en="X"\nstage="nergens"\n',
            "touchpoint 'x' names unknown stage 'nergens'",
        ),
        (
            '[[touchpoints]]\nid="y"\nname_nl="Y"\nname_en="Y"\nstage="levering"\n'
            'kinds=["delivery.completed"]\n',
            "event kind 'delivery.completed' is in touchpoints",
        ),
        ("[contact_costs]\nphone = -1\n", "contact cost for 'phone' is negative"),
        (
            '[[promises]]\nid="p"\nname_nl="P"\nname_en="P"\npromised="a.b"\nfulfilled_by="a.b"\n',
            "promise 'p': promised and fulfilled_by are the same kind",
        ),
        ('colour = "blue"\n', "colour: Extra inputs are not permitted"),
    ],
)
def test_config_problems_are_explained(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_journey_config(MINIMAL + extra)
    assert any(message in p for p in err.value.problems), err.value.problems


def test_bad_moment_and_toml_syntax(tmp_path: Path) -> None:
    bad = tmp_path / "j.toml"
    bad.write_text(MINIMAL.replace('"SMOT"', '"XMOT"'), encoding="utf-8")
    problems = check_journey_config(bad)
    assert len(problems) == 1 and problems[0].startswith("stages.0.moment")
    bad.write_text("[[stages]\n", encoding="utf-8")
    assert check_journey_config(bad)[0].startswith("not valid TOML")
    assert check_journey_config(tmp_path / "missing.toml") == ["file not found"]
