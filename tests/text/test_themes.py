"""Theme taxonomy, multi-label tagging and its evaluation; the labelled comment set."""

from __future__ import annotations

from collections import Counter

import pytest

from klantreis.text.comments import CLAUSES, generate_comments
from klantreis.text.themes import ThemeTagger, ThemeTaxonomy, default_themes, evaluate_themes


def test_default_themes() -> None:
    tax = default_themes()
    assert {"late_delivery", "rude_driver", "damaged_parcel", "wrong_invoice"} <= set(tax.ids())
    assert set(CLAUSES) == set(tax.ids())
    late = tax.get("late_delivery")
    assert late.touchpoint == "bezorging" and late.name("en") == "Late delivery"
    assert late.phrases_nl and late.phrases_en and 0 < tax.threshold < 1


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[themes]]\nid = "a"\nname_nl = "A"\nname_en = "A"\n', "missing touchpoint"),
        ('[[themes]]\nid = "a"\nname_nl = "A"\nname_en = "A"\ntouchpoint = "x"\n', "at least 2"),
    ],
)
def test_bad_taxonomy(toml: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ThemeTaxonomy.from_toml(toml)


def test_comments_are_deterministic_and_parts_use_other_wording() -> None:
    a = generate_comments(200, seed=2)
    assert a == generate_comments(200, seed=2)
    test = generate_comments(200, seed=2, part="test")
    assert not {c.text for c in a} & {c.text for c in test if c.themes}
    assert Counter(c.lang for c in a) == {"nl": 100, "en": 100}
    scored = [(c.score, min(c.polarities, default=1)) for c in a]
    assert sum(s for s, p in scored if p < 0) / sum(1 for _, p in scored if p < 0) < 7


def test_seeded_tagger_finds_several_themes_in_one_comment() -> None:
    tagger = ThemeTagger(default_themes()).fit()  # example phrases only
    tags = tagger.tag(["Pakket kwam twee dagen te laat en de bezorger was onbeschoft."])[0]
    assert {"late_delivery", "rude_driver"} <= set(tags)
    assert all(0 <= v <= 1 for v in tags.values())
    assert list(tags.values()) == sorted(tags.values(), reverse=True)


def test_trained_tagger_evaluation() -> None:
    tax = default_themes()
    train = generate_comments(400, seed=0)
    test = generate_comments(200, seed=1, part="test")
    tagger = ThemeTagger(tax).fit([c.text for c in train], [c.themes for c in train])
    report = evaluate_themes(tagger, [c.text for c in test], [c.themes for c in test])
    assert report.n == 200 and set(report.per_theme) == set(tax.ids())
    assert report.micro_f1 > 0.5  # wording never seen in training
    same = evaluate_themes(
        tagger, *zip(*[(c.text, c.themes) for c in generate_comments(200, seed=1)], strict=True)
    )
    assert same.micro_f1 > report.micro_f1
    assert "| late_delivery |" in report.table()


def test_untrained_tagger() -> None:
    with pytest.raises(RuntimeError):
        ThemeTagger(default_themes()).predict_proba(["x"])
