"""``klantreis text train`` and ``klantreis text models``: versions, the one in use, rollback."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from klantreis.app import App
from klantreis.cli.main import cli
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.settings import Settings
from klantreis.text.comments import generate_comments


def test_train_list_and_roll_back(tmp_path: Path) -> None:
    db = str(tmp_path / "s.duckdb")
    with App(Settings.load(env={}, db_path=db)) as app:
        records = [
            {
                "event_id": f"c{i}",
                "occurred_at": "2026-03-01T10:00:00+00:00",
                "kind": "survey.response",
                "customer_id": f"K{i}",
                "journey_id": f"O{i}",
                "metric": "nps",
                "score": c.score,
                "text": c.text,
            }
            for i, c in enumerate(generate_comments(150, seed=1))
        ]
        ingest_table(app.store, events_from_records(records, source="t"), app.journey, source="t")
    runner = CliRunner()
    for _ in range(2):
        out = runner.invoke(
            cli, ["text", "train", "--db", db, "--kind", "sentiment", "--no-progress"]
        )
        assert out.exit_code == 0, out.output
        assert "sentiment model v" in out.output and "accuracy" in out.output
    listed = runner.invoke(cli, ["text", "models", "--db", db, "--kind", "sentiment", "--json"])
    data = json.loads(listed.output)
    assert len(data["versions"]) == 2 and data["in_use"] == data["versions"][0]["version"]
    assert data["versions"][0]["data_hash"] == data["versions"][1]["data_hash"]  # same data
    older = data["versions"][1]["version"]
    rolled = runner.invoke(
        cli, ["text", "models", "--db", db, "--kind", "sentiment", "--use", older, "--json"]
    )
    assert json.loads(rolled.output)["in_use"] == older
    plain = runner.invoke(cli, ["text", "models", "--db", db, "--kind", "sentiment"])
    assert plain.exit_code == 0 and "*" in plain.output
    bad = runner.invoke(cli, ["text", "models", "--db", db, "--kind", "sentiment", "--use", "v9"])
    assert bad.exit_code != 0 and "no sentiment model version" in bad.output
    none = runner.invoke(cli, ["text", "train", "--db", db, "--kind", "themes", "--no-progress"])
    assert none.exit_code != 0 and "too few examples" in none.output
