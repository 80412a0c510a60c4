"""Text models saved as versions (data hash, metrics, date), the version in use, rollback;
theme verdicts stored as events through the ingest pipeline and used for training."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from klantreis.app import App
from klantreis.contacts.models import ModelRegistry, data_hash
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.settings import Settings
from klantreis.text.comments import generate_comments
from klantreis.text.labels import (
    THEME_LABEL_KIND,
    labelled_comments,
    same_text_key,
    store_theme_label,
    theme_label_record,
    theme_label_records,
    theme_labels,
    theme_queue,
)
from klantreis.text.models import (
    TrainingSet,
    sentiment_training_set,
    theme_training_set,
    train_sentiment,
    train_themes,
)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    a = App(Settings.load(env={}, db_path=str(tmp_path / "s.duckdb"), secret_key="x" * 32))
    comments = generate_comments(120, seed=2)
    records = [
        {
            "event_id": f"c{i}",
            "occurred_at": f"2026-03-{1 + i % 28:02d}T10:00:00+00:00",
            "kind": "survey.response",
            "customer_id": f"K{i}",
            "journey_id": f"O{i}",
            "touchpoint": "bezorging",
            "owner": "carrier:snelpost",
            "metric": "nps",
            "score": c.score,
            "text": c.text,
            "lang": c.lang,
        }
        for i, c in enumerate(comments)
    ]
    ingest_table(a.store, events_from_records(records, source="t"), a.journey, source="t")
    a.generated = comments  # type: ignore[attr-defined]
    yield a
    a.close()


def test_data_hash_is_stable_and_sensitive() -> None:
    assert data_hash([("a", "x")]) == data_hash([("a", "x")])
    assert data_hash([("a", "x")]) != data_hash([("a", "y")])
    assert len(data_hash([])) == 16


def test_verdicts_are_events_and_train_the_tagger(app: App) -> None:
    ids = app.text.taxonomy.ids()
    for i, c in enumerate(app.generated[:40]):  # type: ignore[attr-defined]
        for theme in c.themes:
            store_theme_label(app, f"c{i}", theme, "yes", ids, labeller="ana")
        store_theme_label(
            app,
            f"c{i}",
            "price" if "price" not in c.themes else "rude_driver",
            "no",
            ids,
            labeller="ana",
        )
    again = store_theme_label(
        app,
        "c0",
        app.generated[0].themes[0] if app.generated[0].themes else "price",
        "yes" if app.generated[0].themes else "no",
        ids,
        labeller="ana",
    )  # type: ignore[attr-defined]
    assert again.stored == 0  # idempotent: the same verdict twice is one event
    events = app.events_table()
    kinds = events.filter(events.kind == THEME_LABEL_KIND).count().to_pyarrow().as_py()
    assert kinds >= 40
    texts, themes = labelled_comments(events, ids)
    assert len(texts) == 40
    truth = {c.text: sorted(c.themes) for c in app.generated[:40]}  # type: ignore[attr-defined]
    assert all(truth[t] == th for t, th in zip(texts, themes, strict=True))
    # a later verdict wins
    store_theme_label(app, "c1", "price", "yes", ids, labeller="ana")
    latest = theme_labels(app.events_table())
    row = latest[(latest.comment_id == "c1") & (latest.theme == "price")]
    assert row["verdict"].tolist() == ["yes"]
    # the queue leaves out what was judged
    queue = theme_queue(app.events_table(), app.text.tagger(), limit=500)
    judged = {(r.comment_id, r.theme) for r in latest.itertuples()}
    assert queue and not any((q.comment_id, q.theme) in judged for q in queue)
    with pytest.raises(ValueError):
        store_theme_label(app, "c1", "no_such_theme", "yes", ids)
    with pytest.raises(KeyError):
        store_theme_label(app, "nope", "price", "yes", ids)


def test_versions_in_use_and_rollback(app: App) -> None:
    text = app.text
    assert text.versions_in_use() == {"themes": None, "sentiment": None}
    comments = generate_comments(200, seed=4)
    data = TrainingSet([c.text for c in comments], [list(c.themes) for c in comments], "gen")
    stages: list[tuple[str, float]] = []
    first = train_themes(
        data, text.registries["themes"], text.taxonomy, progress=lambda s, d: stages.append((s, d))
    )
    assert stages[-1] == ("final/themes", 1.0)
    assert first.data_hash and first.metrics and first.metrics["held_out"] == 40
    assert 0 < first.metrics["micro_f1"] <= 1 and first.metrics["training_seconds"] >= 0
    smaller = TrainingSet(data.texts[:100], data.targets[:100], "gen")
    second = train_themes(smaller, text.registries["themes"], text.taxonomy)
    assert second.data_hash != first.data_hash
    assert text.versions_in_use()["themes"] == second.version
    text.registries["themes"].activate(first.version)  # roll back
    text.forget()
    assert text.versions_in_use()["themes"] == first.version
    assert text.tagger() is not None and text.info("themes").version == first.version  # type: ignore[union-attr]
    with pytest.raises(KeyError):
        text.registries["themes"].activate("v9999-nope")
    # prune never deletes the version in use
    assert first.version not in text.registries["themes"].prune(1)
    assert sorted(text.registries["themes"].versions()) == sorted([first.version, second.version])
    # sentiment from the store's scored comments
    sent = sentiment_training_set(app.events_table())
    info = train_sentiment(sent, text.registries["sentiment"])
    assert info.metrics and 0.5 < info.metrics["accuracy"] <= 1
    assert "lexicon_accuracy" in info.metrics
    assert text.versions_in_use()["sentiment"] == info.version
    assert theme_training_set(app.events_table(), text.taxonomy.ids()).texts == []


def test_contact_registry_keeps_old_metadata_readable(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "contacts"
    folder.mkdir(parents=True)
    (folder / "v0001-20260101T000000.json").write_text(
        '{"version": "v0001-20260101T000000", "created_at": "2026-01-01", "training_size": 3,'
        ' "labels": ["a"], "macro_f1": 0.5, "report": null, "source": "x"}'
    )
    registry = ModelRegistry(folder)
    info = registry.info()
    assert info is not None and info.data_hash is None and registry.current() == info.version


def test_a_verdict_adds_no_step_to_the_journey_graph(app: App) -> None:
    from klantreis.analytics.discovery import discover

    ids = app.text.taxonomy.ids()
    before = discover(app.events_table(), app.journey).as_dict()
    store_theme_label(app, "c3", "price", "yes", ids, labeller="ana")
    events = app.events_table()
    assert discover(events, app.journey).as_dict() == before
    row = events.filter(events.kind == THEME_LABEL_KIND).to_pyarrow().to_pylist()[0]
    assert row["journey_id"] is None and row["touchpoint"] is None
    assert '"journey_id": "O3"' in row["attrs"] and '"touchpoint": "bezorging"' in row["attrs"]


def test_verdicts_stored_in_the_old_shape_are_still_read(app: App) -> None:
    """Verdicts written before the journey moved to attrs carry it in the columns."""
    old = {
        "event_id": "old-verdict",
        "occurred_at": "2026-03-20T10:00:00+00:00",
        "kind": THEME_LABEL_KIND,
        "customer_id": "K5",
        "journey_id": "O5",
        "touchpoint": "bezorging",
        "attrs": {"comment_id": "c5", "theme": "price", "verdict": "yes", "labeller": "ana"},
    }
    ingest_table(app.store, events_from_records([old], source="t"), app.journey, source="t")
    latest = theme_labels(app.events_table())
    assert latest.to_dict("records") == [{"comment_id": "c5", "theme": "price", "verdict": "yes"}]
    texts, themes = labelled_comments(app.events_table(), app.text.taxonomy.ids())
    assert themes == [["price"]] and len(texts) == 1


def test_queue_groups_copies_of_a_text_and_a_verdict_covers_them(app: App) -> None:
    assert same_text_key("  Fine  DRIVER.\n") == same_text_key("fine driver.")
    events = app.events_table()
    queue = theme_queue(events, app.text.tagger(), limit=10_000)
    texts = {f"c{i}": c.text for i, c in enumerate(app.generated)}  # type: ignore[attr-defined]
    assert sum(q.count for q in queue) == len(texts)  # every comment in exactly one item
    assert sorted(c for q in queue for c in q.comment_ids) == sorted(texts)
    keys = [(same_text_key(q.text), q.theme) for q in queue]
    assert len(keys) == len(set(keys))
    assert all(
        {same_text_key(texts[c]) for c in q.comment_ids} == {keys[n][0]}
        for n, q in enumerate(queue)
    )
    shared = max(queue, key=lambda q: q.count)
    assert shared.count > 1, "the generated comments repeat some texts"
    first = theme_label_record(
        events, shared.comment_ids[-1], shared.theme, "no", app.text.taxonomy.ids(), "ana"
    )
    records = theme_label_records(events, first)
    assert records[0]["attrs"]["comment_id"] == shared.comment_ids[-1]  # the judged one first
    assert sorted(r["attrs"]["comment_id"] for r in records) == sorted(shared.comment_ids)
    assert len({r["event_id"] for r in records}) == len(records)
