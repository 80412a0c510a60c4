"""The surveys file: validated like the journey file, texts with a fallback chain, answers
checked per question type."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources

import pytest

from klantreis.model.journey import parse_journey_config
from klantreis.model.survey import (
    SurveyConfigError,
    parse_duration,
    parse_survey_config,
    text_in,
)

DEMO_SURVEYS = resources.files("klantreis.demo").joinpath("surveys.toml").read_text("utf-8")
DEMO_JOURNEY = resources.files("klantreis.demo").joinpath("journey.toml").read_text("utf-8")

MINIMAL = """
[[survey]]
id = "s"
name_nl = "S"
name_en = "S"
[survey.trigger]
after = "delivery.completed"
[[survey.questions]]
id = "nps"
type = "nps"
text = { nl = "Vraag" }
"""


def test_demo_surveys_are_valid_against_the_demo_journey() -> None:
    config = parse_survey_config(DEMO_SURVEYS, journey=parse_journey_config(DEMO_JOURNEY))
    ids = [s.id for s in config.surveys]
    # three surveys the log triggers, then the re-surveys after a closed case (one per scale)
    assert ids[:3] == ["na_bezorging", "na_contact", "na_terugbetaling"]
    assert sorted(ids[3:]) == ["heronderzoek", "heronderzoek_ces", "heronderzoek_csat"]
    delivery = config.survey("na_bezorging")
    assert delivery is not None
    assert delivery.trigger.delay_td == timedelta(days=1)
    assert delivery.primary is not None and delivery.primary.id == "nps"
    assert config.contact_rules.quiet() is not None


def test_every_problem_is_listed_at_once() -> None:
    bad = MINIMAL.replace(
        'type = "nps"', 'type = "nps"\noptions = [{ id = "a", text = { nl = "A" } }]'
    )
    bad = bad.replace('after = "delivery.completed"', 'after = "Delivery"\ndelay = "soon"')
    with pytest.raises(SurveyConfigError) as err:
        parse_survey_config(bad, "bad.toml")
    text = " | ".join(err.value.problems)
    assert "survey.0.trigger.after" in text
    assert "'soon' is not a duration" in text
    assert "takes no options" in text


def test_names_are_checked_against_the_journey() -> None:
    text = MINIMAL.replace(
        'after = "delivery.completed"',
        'after = "delivery.completed"\n[survey.trigger.when]\nowner = ["carrier:nobody"]\n'
        'promise = { id = "nope", status = "broken" }',
    )
    with pytest.raises(SurveyConfigError) as err:
        parse_survey_config(text, journey=parse_journey_config(DEMO_JOURNEY))
    assert err.value.problems == [
        "survey 's': unknown owner 'carrier:nobody'",
        "survey 's': unknown promise 'nope'",
    ]


def test_duplicate_ids_and_missing_texts_are_refused() -> None:
    twice = MINIMAL + MINIMAL.replace("[[survey]]", "[[survey]]", 1)
    with pytest.raises(SurveyConfigError, match="duplicate survey id"):
        parse_survey_config(twice)
    with pytest.raises(SurveyConfigError, match="needs a text"):
        parse_survey_config(MINIMAL.replace('text = { nl = "Vraag" }', "text = {}"))
    with pytest.raises(SurveyConfigError, match="not a language code"):
        parse_survey_config(MINIMAL.replace('{ nl = "Vraag" }', '{ dutch = "Vraag" }'))


def test_text_fallback_chain() -> None:
    texts = {"nl": "Dag", "nl-BE": "Goeiedag", "en": "Hello"}
    assert text_in(texts, "nl-BE", "nl") == "Goeiedag"
    assert text_in(texts, "nl-NL", "nl") == "Dag"
    assert text_in({"nl": "Dag"}, "en", "nl") == "Dag"  # default language, not nothing
    assert text_in({"de": "Hallo"}, "fr", "nl") == "Hallo"  # anything rather than no survey
    assert text_in({"nl": "", "en": "Hi"}, "nl", "nl") == "Hi"


def test_answers_are_checked_per_type() -> None:
    config = parse_survey_config(DEMO_SURVEYS)
    refund = config.survey("na_terugbetaling")
    assert refund is not None
    csat, how = refund.questions
    assert csat.check_answer("4") == 4
    for value, reason in (("6", "out_of_range"), ("x", "not_a_number"), ("", "required")):
        with pytest.raises(ValueError, match=reason):
            csat.check_answer(value)
    assert how.check_answer("winkel") == ["winkel"]
    assert how.check_answer(None) is None
    with pytest.raises(ValueError, match="unknown_option"):
        how.check_answer("<script>")
    with pytest.raises(ValueError, match="one_option"):
        how.check_answer(["website", "winkel"])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("24h", 86400), ("1d", 86400), ("2w", 1209600), ("1.5h", 5400)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_bad_duration_says_how_to_write_it() -> None:
    with pytest.raises(ValueError, match="write a number and m, h, d or w"):
        parse_duration("tomorrow")
