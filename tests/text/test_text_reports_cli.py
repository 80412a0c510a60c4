"""``klantreis contacts sentiment|themes`` use the trained versions in use next to the store,
fall back to the shipped lexicon / example phrases, and say which one they used."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from klantreis.cli.main import cli
from klantreis.text.comments import generate_comments
from klantreis.text.models import TextContext, TrainingSet, train_sentiment, train_themes
from klantreis.text.sentiment import LexiconSentiment, polarity_from_score

TEXT = "Refund took far too long, still waiting"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_without_a_trained_version_the_shipped_baselines_are_used(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    code, out = run("contacts", "sentiment", "--db", db, "--json", TEXT)
    row = json.loads(out)[0]
    assert code == 0 and row["model"] == {"kind": "sentiment", "version": None, "trained": False}
    assert row["score"] == round(LexiconSentiment().comment(TEXT), 4)
    code, out = run("contacts", "sentiment", "--db", db, TEXT)
    assert code == 0 and "model: shipped lexicon" in out
    code, out = run(
        "contacts", "themes", "--db", db, "--lang", "en", "Late, and the driver was rude"
    )
    assert code == 0 and "Rude driver" in out and "model: example phrases" in out


def test_the_trained_versions_in_use_are_used_and_named(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    context = TextContext(db)
    comments = generate_comments(400, seed=3)
    polar = [(c.text, polarity_from_score("nps", c.score)) for c in comments]
    polar = [(t, p) for t, p in polar if p != "neutral"]
    sentiment = train_sentiment(
        TrainingSet([t for t, _ in polar], [p for _, p in polar], "test"),
        context.registries["sentiment"],
    )
    themes = train_themes(
        TrainingSet([c.text for c in comments], [list(c.themes) for c in comments], "test"),
        context.registries["themes"],
        context.taxonomy,
    )
    code, out = run("contacts", "sentiment", "--db", db, "--json", TEXT)
    row = json.loads(out)[0]
    assert code == 0 and row["model"]["version"] == sentiment.version and row["model"]["trained"]
    assert row["score"] == round(float(context.sentiment_model().score([TEXT])[0]), 4)  # type: ignore[union-attr]
    assert row["score"] != round(LexiconSentiment().comment(TEXT), 4)
    code, out = run("contacts", "sentiment", "--db", db, TEXT)
    assert code == 0 and f"version {sentiment.version} (trained, in use)" in out
    code, out = run(
        "contacts", "themes", "--db", db, "--json", "te laat en de bezorger was onbeleefd"
    )
    row = json.loads(out)[0]
    assert code == 0 and row["model"] == {
        "kind": "themes",
        "version": themes.version,
        "trained": True,
    }
    expected = context.tagger().tag(["te laat en de bezorger was onbeleefd"])[0]
    assert {t["theme"]: t["confidence"] for t in row["themes"]} == expected
    # a theme file with other themes than the trained tagger: the file's example phrases
    other = tmp_path / "themes.toml"
    other.write_text(
        'threshold = 0.3\n[[themes]]\nid = "late"\nname_nl = "Te laat"\nname_en = "Late"\n'
        'touchpoint = "bezorging"\nphrases_nl = ["te laat"]\nphrases_en = ["too late"]\n'
        '[[themes]]\nid = "price"\nname_nl = "Prijs"\nname_en = "Price"\ntouchpoint = "bezorging"\n'
        'phrases_nl = ["te duur"]\nphrases_en = ["too expensive"]\n',
        encoding="utf-8",
    )
    code, out = run("contacts", "themes", "--db", db, "--themes", str(other), "--json", "te laat")
    assert code == 0, out
    assert json.loads(out)[0]["model"]["trained"] is False
