"""The cross-style check on a shop's own texts (``klantreis.contacts.style_check``): rewrites
keep each text's label and language and are deterministic; the per-reason cells are plain
F1 scores of the rewrites; a staged training keeps the check of each stage's held-out model,
and its as-written column is that stage's report."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import make_pipeline

from klantreis.cli.main import cli
from klantreis.contacts.classifier import EvaluationReport, train_staged
from klantreis.contacts.style_check import (
    AS_WRITTEN,
    REWRITES,
    check_styles,
    language_of,
    rewrite_all,
    shown_styles,
    weakest_first,
)
from klantreis.contacts.styles import generate
from klantreis.contacts.styles_bank import OPENINGS

from .small_models import linear_only_training
from .test_web_models import logged_in, web_app  # noqa: F401  (the fixture)


def _texts(lang: str) -> tuple[list[str], list[str]]:
    return generate("short", 2, seed=3, langs=(lang,))


@pytest.mark.parametrize("style", REWRITES)
def test_rewrites_are_deterministic_and_keep_the_language(style: str) -> None:
    for lang in ("nl", "en"):
        texts, _ = _texts(lang)
        once = rewrite_all(texts, style, seed=1)
        assert once == rewrite_all(texts, style, seed=1)
        assert len(once) == len(texts) and all(t.strip() for t in once)
        assert [language_of(t, "?") for t in once if len(t.split()) > 6] == [
            lang for t in once if len(t.split()) > 6
        ]
    long = rewrite_all(texts, "long", seed=1)
    assert long != rewrite_all(texts, "long", seed=2)
    assert all(o in t for o, t in zip(texts, long, strict=True))  # the text is inside


def test_long_rewrites_greet_in_the_text_s_own_language() -> None:
    # texts too short to tell (no stop word, no typical letters) take the batch's language
    dutch = [t for t in _texts("nl")[0] if language_of(t, "?") == "nl"]
    english = [t for t in _texts("en")[0] if language_of(t, "?") == "en"]
    assert len(dutch) > 15 and len(english) > 15
    long = rewrite_all(dutch + english, "long", seed=0)
    nl_open = tuple(o for o in OPENINGS["nl"] if o)
    en_open = tuple(o for o in OPENINGS["en"] if o)
    assert any(t.startswith(nl_open) for t in long[: len(dutch)])
    assert not any(t.startswith(en_open) for t in long[: len(dutch)])
    assert any(t.startswith(en_open) for t in long[len(dutch) :])
    assert not any(t.startswith(nl_open) for t in long[len(dutch) :])


def test_short_keeps_the_first_clause() -> None:
    text = "Mijn pakket is nog steeds niet bezorgd, ik wacht al een week. Kunnen jullie kijken?"
    assert rewrite_all([text], "short") == ["Mijn pakket is nog steeds niet bezorgd"]
    assert rewrite_all(["factuur klopt niet"], "short") == ["factuur klopt niet"]


def test_the_check_scores_each_rewrite_against_its_own_text_s_label() -> None:
    texts, labels = generate("short", 2, seed=4)
    truth = dict(zip(texts, labels, strict=True))
    for style in REWRITES:  # a predictor that knows every rewrite's original label
        truth |= dict(zip(rewrite_all(texts, style), labels, strict=True))
    check = check_styles(lambda xs: [truth[x] for x in xs], texts, labels)
    assert check["styles"] == [AS_WRITTEN, *REWRITES]
    assert set(check["macro_f1"].values()) == {1.0}
    assert check["synthetic"] is True and check["n"] == len(texts)
    assert check["changed"][AS_WRITTEN] == 0.0 and check["changed"]["long"] == 1.0


def _fit(texts: list[str], labels: list[str]) -> Any:
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=300))
    return pipe.fit(texts, labels)


def test_per_reason_cells_equal_sklearn_f1_on_the_same_rewrites() -> None:
    model = _fit(*generate("short", 6, seed=0))
    texts, labels = generate("short", 3, seed=9)
    check = check_styles(lambda xs: list(model.predict(xs)), texts, labels, seed=5)
    reasons = sorted(set(labels))
    for style in check["styles"]:
        block = texts if style == AS_WRITTEN else rewrite_all(texts, style, seed=5)
        predicted = model.predict(block)
        direct = f1_score(labels, predicted, labels=reasons, average=None, zero_division=0)
        for reason, value in zip(reasons, direct, strict=True):
            assert check["reasons"][reason]["f1"][style] == round(float(value), 4)
            assert check["reasons"][reason]["n"] == labels.count(reason)
        macro = f1_score(labels, predicted, labels=reasons, average="macro", zero_division=0)
        assert check["macro_f1"][style] == round(float(macro), 4)
    assert check["macro_f1"]["long"] < check["macro_f1"][AS_WRITTEN]  # the rewrites bite


def test_weakest_first_sorts_by_the_rewrites_and_leaves_out_small_changes() -> None:
    check = {
        "n": 4,
        "styles": [AS_WRITTEN, "long", "short"],
        "changed": {AS_WRITTEN: 0.0, "long": 1.0, "short": 0.1},
        "reasons": {
            "a": {"n": 2, "f1": {AS_WRITTEN: 1.0, "long": 0.9, "short": 0.0}},
            "b": {"n": 2, "f1": {AS_WRITTEN: 0.8, "long": 0.4, "short": 1.0}},
        },
    }
    assert shown_styles(check) == [AS_WRITTEN, "long"]
    rows = weakest_first(check)
    assert [r["reason"] for r in rows] == ["b", "a"]
    assert rows[0]["gap"] == 0.4 and rows[0]["f1"] == {AS_WRITTEN: 0.8, "long": 0.4}
    assert [r["reason"] for r in weakest_first(check, min_changed=0.0)] == ["a", "b"]


def _reports(texts: Sequence[str], labels: Sequence[str], **kwargs: Any) -> list[Any]:
    reports: list[Any] = []
    _, full = train_staged(
        texts,
        labels,
        on_quick=lambda m, r: reports.append(r),
        held_out_check=check_styles,
        **kwargs,
    )
    return [*reports, full]


def test_a_staged_training_keeps_the_last_stage_s_check_equal_to_its_report() -> None:
    from .test_stage import SmallNetworks

    texts, labels = generate("long", 2, seed=2)
    texts, labels = texts + generate("chat", 2, seed=2)[0], labels + generate("chat", 2, seed=2)[1]
    with pytest.MonkeyPatch.context() as mp:
        from klantreis.contacts import classifier

        mp.setattr(classifier, "ContactClassifier", SmallNetworks)
        quick, full = _reports(texts, labels)
    assert quick.styles is None  # the full model follows: the check would delay the quick one
    with linear_only_training():  # a model without networks: its quick stage is all of it
        (only,) = _reports(texts, labels)
    for report in (full, only):
        check = report.styles
        assert check["n"] == report.n
        assert check["macro_f1"][AS_WRITTEN] == report.macro_f1
        for reason, scores in report.per_class.items():
            assert check["reasons"][reason]["f1"][AS_WRITTEN] == scores["f1"]
            assert check["reasons"][reason]["n"] == scores["support"]


def _csv(path: Path, texts: Sequence[str], labels: Sequence[str]) -> Path:
    rows = zip(texts, labels, strict=True)
    path.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows), encoding="utf-8")
    return path


def test_cli_train_prints_the_check_and_evaluate_on_request(tmp_path: Path) -> None:
    train = _csv(tmp_path / "train.csv", *generate("short", 4, seed=1))
    test = _csv(tmp_path / "test.csv", *generate("short", 2, seed=8))
    common = ["--db", str(tmp_path / "s.duckdb"), "--models", str(tmp_path / "m")]
    with linear_only_training():
        trained = CliRunner().invoke(cli, ["contacts", "train", *common, "--labels", str(train)])
    assert trained.exit_code == 0, trained.output
    out = trained.stdout
    assert "cross-style check (the same 20 contacts rewritten; synthetic rewrites" in out
    assert re.search(r"macro-F1 written: [01]\.\d{4}   long: [01]\.\d{4}   typo", out)
    assert "per reason, weakest on the rewrites first" in out

    plain = CliRunner().invoke(cli, ["contacts", "evaluate", *common, "--labels", str(test)])
    assert plain.exit_code == 0 and "cross-style" not in plain.stdout  # only when asked
    args = ["contacts", "evaluate", *common, "--labels", str(test), "--styles"]
    shown = CliRunner().invoke(cli, [*args, "--json"])
    assert shown.exit_code == 0, shown.output
    check = json.loads(shown.stdout)["styles"]
    texts = generate("short", 2, seed=8)[0]
    assert check["n"] == len(texts) and check["styles"] == [AS_WRITTEN, *REWRITES]
    assert check["macro_f1"][AS_WRITTEN] == json.loads(shown.stdout)["macro_f1"]
    table = CliRunner().invoke(cli, args).stdout
    weakest = weakest_first(check)[0]["reason"]
    lines = table.split("per reason, weakest on the rewrites first")[1].splitlines()
    assert lines[2].split()[0] == weakest  # after the header line, the weakest reason


NAMES = {
    "nl": ("Als klanten anders schrijven", "Factuur onjuist", "Zoals geschreven", "0,33"),
    "en": ("When customers write differently", "Invoice incorrect", "As written", "0.33"),
}


@pytest.mark.parametrize("lang", sorted(NAMES))
def test_the_models_page_shows_the_check_per_reason_weakest_first(
    web_app: Any,  # noqa: F811
    lang: str,
) -> None:
    texts = [
        "factuur bedrag klopt helemaal niet",
        "verkeerde bedragen op mijn factuur",
        "inloggen lukt helemaal niet meer",
        "wachtwoord vergeten graag nieuwe link",
    ]
    labels = ["factuur_onjuist", "factuur_onjuist", "inloggen_account", "inloggen_account"]
    answers = iter([labels, ["factuur_onjuist"] * 4, labels, labels, labels])
    check = check_styles(lambda xs: next(answers), texts, labels)
    report = EvaluationReport(4, 1.0, 1.0, 1.0, 1.0, sorted(set(labels)), styles=check)
    registry = web_app.contacts.registry
    registry.save(SimpleNamespace(classes_=sorted(set(labels))), 4, report, "test")
    with logged_in(web_app, "analyst") as client:
        page = client.get("/contacts/models", params={"lang": lang})
        api = client.get("/api/v1/contacts/models").json()["data"]["report"]["styles"]
    title, invoice, written, third = NAMES[lang]
    section = page.text.split(f'<h3 id="styles">{title}</h3>')[1].split("</section>")[0]
    assert invoice in section and written in section
    assert "factuur_onjuist" not in section.replace('data-reason="factuur_onjuist"', "")
    # long: every text read as an invoice: both reasons lose, the other one more; "short"
    # is left out (texts of one short sentence do not get shorter)
    assert [r["reason"] for r in api["rows"]] == ["inloggen_account", "factuur_onjuist"]
    assert api["styles"] == [AS_WRITTEN, "long", "typo", "chat"]
    assert api["left_out"] == [{"style": "short", "changed": 0.0}]
    written, *rewrites = api["macro_f1"]
    assert api["gap"] == round(written - sum(rewrites) / len(rewrites), 4) > 0
    assert f"<strong>{third}</strong>" in section  # macro-F1 of "long", the page's format
