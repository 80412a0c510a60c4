from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from klantreis.cli.main import cli

from .test_classifier import synthetic


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_classify_without_a_model_uses_the_phrase_rules(tmp_path: Path) -> None:
    code, out = run(
        "contacts",
        "classify",
        "--db",
        str(tmp_path / "s.duckdb"),
        "--models",
        str(tmp_path / "m"),
        "--json",
        "waar blijft mijn pakket",
        "<b>onzin</b>",
    )
    rows = json.loads(out)
    assert code == 0
    assert rows[0]["reason"] == "waar_is_mijn_pakket" and rows[0]["method"] == "rules"
    assert rows[1]["reason"] == "unknown"


def test_train_from_csv_then_classify_and_evaluate(tmp_path: Path) -> None:
    texts, labels = synthetic(90, seed=4)
    path = tmp_path / "labels.csv"
    path.write_text(
        "text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels, strict=True))
    )
    common = ["--db", str(tmp_path / "s.duckdb"), "--models", str(tmp_path / "m")]
    code, out = run("contacts", "train", *common, "--labels", str(path))
    assert code == 1 and "not in the taxonomy" in out  # synthetic labels are not reasons
    code, out = run(
        "contacts", "train", *common, "--labels", str(path), "--any-labels", "--confusion"
    )
    assert code == 0 and "macro-F1" in out and "confusion matrix" in out
    assert len(list((tmp_path / "m").glob("v0001-*.joblib"))) == 1
    code, out = run("contacts", "classify", *common, "--json", "inloggen wachtwoord code")
    assert json.loads(out)[0]["reason"] == "account"
    code, out = run(
        "contacts", "evaluate", *common, "--labels", str(path), "--any-labels", "--json"
    )
    assert code == 0 and json.loads(out)["accuracy"] > 0.9


def test_train_needs_one_source(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["contacts", "train", "--db", str(tmp_path / "s.duckdb")])
    assert result.exit_code == 2 and "--labels" in result.output


def test_taxonomy_check_lists_problems(tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text('[[categories]]\nid = "x"\nname_nl = "X"\nname_en = "X"\n', "utf-8")
    result = CliRunner().invoke(cli, ["contacts", "taxonomy-check", str(bad)])
    assert result.exit_code == 1 and "reasons" in result.output


def test_models_lists_versions_and_keep_prunes_the_oldest(tmp_path: Path) -> None:
    import pytest

    from klantreis.contacts.models import ModelRegistry

    texts, labels = synthetic(40, seed=5)
    path = tmp_path / "labels.csv"
    path.write_text(
        "text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels, strict=True))
    )
    common = ["--db", str(tmp_path / "s.duckdb"), "--models", str(tmp_path / "m")]
    quick = ["--labels", str(path), "--any-labels", "--stage", "quick"]  # one version each
    for _ in range(3):
        code, out = run("contacts", "train", *common, *quick)
        assert code == 0, out
    code, out = run("contacts", "models", *common, "--json")
    listed = json.loads(out)
    assert code == 0 and listed["deleted"] == []
    names = [v["version"] for v in listed["versions"]]
    assert [n[:5] for n in names] == ["v0003", "v0002", "v0001"]  # newest first
    code, out = run("contacts", "models", *common, "--keep", "1", "--json")
    pruned = json.loads(out)
    assert [d[:5] for d in pruned["deleted"]] == ["v0001", "v0002"]
    assert [v["version"] for v in pruned["versions"]] == names[:1]
    assert sorted(p.name[:5] for p in (tmp_path / "m").iterdir()) == ["v0003", "v0003"]
    # numbering goes on after a prune, so the newest stays the current version
    code, out = run("contacts", "train", *common, *quick)
    registry = ModelRegistry(tmp_path / "m")
    assert [v[:5] for v in registry.versions()] == ["v0003", "v0004"]
    assert registry.info() is not None and registry.info().version.startswith("v0004")  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="at least one"):
        registry.prune(0)
    code, out = run("contacts", "models", *common, "--keep", "0")
    assert code == 2


def test_train_and_evaluate_read_named_columns_and_show_progress(tmp_path: Path) -> None:
    texts, labels = synthetic(90, seed=4)
    path = tmp_path / "export.csv"
    rows = "".join(f"{i},{t},{y}\n" for i, (t, y) in enumerate(zip(texts, labels, strict=True)))
    path.write_text("id,Bericht, Reden \n" + rows)
    common = ["--db", str(tmp_path / "s.duckdb"), "--models", str(tmp_path / "m")]
    common += ["--labels", str(path), "--any-labels"]
    code, out = run("contacts", "train", *common)
    assert code == 1 and "needs the columns text,label" in out
    named = ["--text-column", "bericht", "--label-column", "reden"]
    result = CliRunner().invoke(cli, ["contacts", "train", *common, *named])
    assert result.exit_code == 0, result.output
    assert (
        result.stdout.startswith("quick model v0001-") and ": 90 labelled contacts" in result.stdout
    )
    assert "full model v0002-" in result.stdout  # then the full model replaced it
    assert "accuracy where sure" in result.stdout
    shown = CliRunner().invoke(cli, ["contacts", "evaluate", *common, *named, "--progress"])
    assert shown.exit_code == 0, shown.output
    assert "90 labelled contacts" in shown.stderr and "classifying 90" in shown.stderr
    assert "[" not in shown.stdout.splitlines()[0]  # progress stays off stdout
    quiet = CliRunner().invoke(cli, ["contacts", "evaluate", *common, *named, "--json"])
    assert quiet.exit_code == 0 and quiet.stderr == ""  # not a terminal: no progress
    assert json.loads(quiet.stdout)["accuracy"] > 0.9
    store = ["--db", str(tmp_path / "s.duckdb"), "--from-store", *named]
    code, out = run("contacts", "evaluate", *store)
    assert code == 2 and "--labels FILE.csv" in out


def test_train_evaluate_and_classify_explain_the_unknown_threshold() -> None:
    for command in ("train", "evaluate", "classify"):
        result = CliRunner().invoke(cli, ["contacts", command, "--help"], terminal_width=200)
        text = " ".join(result.output.split())
        assert "unknown_threshold" in text and "unknown" in text, command
    evaluate = " ".join(CliRunner().invoke(cli, ["contacts", "evaluate", "--help"]).output.split())
    assert "forced choice" in evaluate and "coverage" in evaluate


def test_sentiment_and_themes_commands() -> None:
    code, out = run("contacts", "sentiment", "--json", "snelle levering maar kapot aangekomen")
    rows = json.loads(out)
    assert code == 0 and rows[0]["label"] == "negative"
    assert [s["label"] for s in rows[0]["sentences"]] == ["positive", "negative"]
    code, out = run("contacts", "sentiment", "Great service")
    assert code == 0 and out.startswith("positive")
    code, out = run("contacts", "themes", "--json", "Late, and the driver was rude")
    found = {t["theme"] for t in json.loads(out)[0]["themes"]}
    assert code == 0 and {"late_delivery", "rude_driver"} <= found
    code, out = run("contacts", "themes", "--lang", "en", "Late, and the driver was rude")
    assert code == 0 and "Rude driver" in out
