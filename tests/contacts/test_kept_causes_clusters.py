"""``contacts rootcause`` and ``contacts clusters`` read the kept tables when the store can
hold them (frames of every contact, order and condition of the log: ≥ 9.2 and ≥ 6.7 GiB
at 100M events): the root-cause table of the war room's kept held counts, and the contacts
no reason fits read from the kept contacts in parts. Both equal the log's, which a
read-only store still gets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from tests.contacts.conftest import DEMO_NOW, demo1500_seed5_copy

from klantreis.app import App
from klantreis.cli.main import cli
from klantreis.contacts import derived, held_counts, labels, reports
from klantreis.contacts.clusters import new_reason_clusters
from klantreis.contacts.data import contacts_frame
from klantreis.contacts.labels import app_new_reasons, assign_reasons, store_label
from klantreis.contacts.reports import app_root_causes
from klantreis.contacts.rootcause import top_causes
from klantreis.contacts.taxonomy import UNKNOWN
from klantreis.contacts.warroom import load_analysis
from klantreis.ingest.pipeline import ingest_table
from klantreis.model.events import events_from_records
from klantreis.settings import Settings

NOW = DEMO_NOW


@pytest.fixture(scope="module")
def store(demo1500_seed5: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The contacts tests' demo store (a copy), with a contact the source gave no reason (the
    classifier's) and a contact labelled unknown by a person."""
    path = demo1500_seed5_copy(demo1500_seed5, tmp_path_factory, "causes")
    with App(Settings.load(env={}, db_path=str(path))) as app:
        own = {
            "event_id": "own-1",
            "occurred_at": "2026-11-19T10:00:00+00:00",
            "kind": "contact.inbound",
            "customer_id": "k-own",
            "journey_id": "j-own",
            "channel": "chat",
            "text": "de kruk wiebelt en de poot is krom",
        }
        ingest_table(app.store, events_from_records([own], source="t"), app.journey, "t")
        first = app.store.con.execute(
            "SELECT json_extract_string(attrs, '$.contact_id') FROM events"
            " WHERE kind = 'contact.inbound' AND attrs LIKE '%contact_id%' LIMIT 1"
        ).fetchall()[0][0]
        store_label(app, first, UNKNOWN, app.contacts.taxonomy, at=NOW)
    return path


def _log_causes(app: App) -> pd.DataFrame:
    contacts = app.contacts
    args = (app.events_table(), app.journey, contacts.taxonomy, contacts.model())
    causes = load_analysis(*args).causes
    assert causes is not None
    return causes.table()


def _log_unknown(app: App) -> pd.DataFrame:
    """The log's contacts no reason fits, the source's reasons not trusted (the reference)."""
    contacts = app.contacts
    frame = contacts_frame(app.events_table())
    df = assign_reasons(frame, contacts.taxonomy, contacts.model(), trust_given=False)
    return df[df["reason"] == UNKNOWN]


def _log_clusters(app: App) -> list[dict[str, Any]]:
    return [c.to_dict() for c in new_reason_clusters(_log_unknown(app))]


def test_the_kept_root_causes_are_the_logs_counted_in_parts(
    tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted afresh in parts of 50 contact ids under 64 MiB, then kept: the log's table."""
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(store.read_bytes())
    monkeypatch.setattr(held_counts, "BATCH_CONTACTS", 50)
    parts: list[int] = []
    count_all = held_counts.HeldCounts._count_all

    def spy(self: Any, con: Any, wid: int, window: Any) -> None:
        count_all(self, con, wid, window)
        parts.append(self.parts)

    monkeypatch.setattr(held_counts.HeldCounts, "_count_all", spy)
    settings = Settings.load(env={}, db_path=str(copy), index_memory_mb=64)
    with App(settings) as app:
        ref = _log_causes(app)
        mine = app_root_causes(app)
        assert len(parts) == 1 and parts[0] > 3
        again = app_root_causes(app)
    pd.testing.assert_frame_equal(mine, ref, check_dtype=False)
    pd.testing.assert_frame_equal(again, ref, check_dtype=False)
    assert len(parts) == 1  # the second read the kept counts
    assert len(ref) > 5


def test_a_read_only_store_gets_the_logs_root_causes_and_new_reasons(store: Path) -> None:
    with App(Settings.load(env={}, db_path=str(store)), True) as app:
        assert app.contact_views() is None
        pd.testing.assert_frame_equal(app_root_causes(app), _log_causes(app))
        assert [c.to_dict() for c in app_new_reasons(app)] == _log_clusters(app)


def test_the_rootcause_command_reads_the_kept_tables(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with App(Settings.load(env={}, db_path=str(store))) as app:
        table = _log_causes(app)
        reasons = app.contacts.taxonomy.reason_ids()
    want = [c.to_dict() for r in reasons for c in top_causes(table, r, 3)]
    monkeypatch.setattr(reports, "load_analysis", None)  # the log's frames: not read
    out = CliRunner().invoke(cli, ["contacts", "rootcause", "--db", str(store), "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    assert want and len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g["reason"], g["condition"], g["with_condition"]) == (
            w["reason"],
            w["condition"],
            w["with_condition"],
        )
        assert g["lift"] == pytest.approx(w["lift"])


def _predicted_sizes(views: Any) -> tuple[list[int], pd.DataFrame]:
    """``views.unknown()`` and the number of texts of each prediction it made."""
    sizes: list[int] = []
    classifier = type(views._classifier())
    predict = classifier.predict

    def spy(self: Any, texts: Any) -> Any:
        sizes.append(len(texts))
        return predict(self, texts)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(classifier, "predict", spy)
        return sizes, views.unknown()


def test_the_kept_new_reasons_are_the_logs_read_in_parts(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unknown contacts from the kept ones, 200 at a time (the source-given contacts by
    the classifier's kept best reason and confidence, the others by their kept reason; none
    classified again): the log's unknown contacts, among them the labelled one and one the
    classifier found no reason for, and their clusters; the command reads them so."""
    monkeypatch.setattr(derived, "UNKNOWN_ROWS", 200)
    with App(Settings.load(env={}, db_path=str(store))) as app:
        views = app.contact_views()
        views.ensure()
        total = int(app.store.con.execute("SELECT count(*) FROM dc_contacts").fetchall()[0][0])
        sources = app.store.con.execute(
            "SELECT DISTINCT reason_source FROM dc_contacts WHERE reason = ?", [UNKNOWN]
        ).fetchall()
        sizes, unknown = _predicted_sizes(views)
        ref = _log_unknown(app)
        clusters = [c.to_dict() for c in new_reason_clusters(ref)]
        mine = [c.to_dict() for c in app_new_reasons(app)]
    assert {s for (s,) in sources} >= {"label"} and len(sources) > 1  # not the source's
    assert total > 200 and sizes == []  # the kept best reasons: nothing classified again
    assert unknown["contact_id"].tolist() == ref["contact_id"].tolist()  # in the frame's order
    assert unknown["text"].tolist() == ref["text"].tolist()
    assert clusters and mine == clusters
    monkeypatch.setattr(labels, "contacts_frame", None)  # the log's frame: not read
    out = CliRunner().invoke(cli, ["contacts", "clusters", "--db", str(store), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == json.loads(json.dumps(clusters))


def test_source_given_contacts_without_a_kept_best_reason_are_classified_again(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    copy = tmp_path / "copy.duckdb"
    shutil.copy(store, copy)
    monkeypatch.setattr(derived, "UNKNOWN_ROWS", 200)
    with App(Settings.load(env={}, db_path=str(copy))) as app:
        views = app.contact_views()
        views.ensure()
        con = app.store.con
        con.execute(
            "UPDATE dc_contacts SET suggestion = NULL, model_confidence = NULL"
            " WHERE reason_source = 'source' AND ord % 3 = 0"
        ).fetchall()
        missing = con.execute(
            "SELECT count(*) FROM dc_contacts WHERE suggestion IS NULL AND text IS NOT NULL"
            " AND reason_source = 'source'"
        ).fetchall()[0][0]
        sizes, unknown = _predicted_sizes(views)
        ref = _log_unknown(app)
    assert missing > 0 and sum(sizes) == missing and max(sizes) <= 200
    assert unknown["contact_id"].tolist() == ref["contact_id"].tolist()


def test_the_reason_of_a_kept_best_reason_is_the_predicted_one(store: Path) -> None:
    from klantreis.contacts.classifier import ContactClassifier

    with App(Settings.load(env={}, db_path=str(store))) as app:
        texts = [
            t
            for (t,) in app.store.con.execute(
                "SELECT text FROM events WHERE kind = 'contact.inbound' AND text IS NOT NULL"
                " ORDER BY event_id LIMIT 400"
            ).fetchall()
        ]
        cold = app.contacts.cold_start()
        taxonomy = app.contacts.taxonomy
    pairs = [(p, r.id) for r in taxonomy.reasons() for p in r.phrases()]
    model = ContactClassifier(threshold=0.6, mlp_models=0).fit(
        [p for p, _ in pairs], [y for _, y in pairs]
    )
    for clf in (cold, model):
        preds = clf.predict([*texts, "", "xyz qqq"])
        assert {p.reason for p in preds} >= {UNKNOWN} and len({p.reason for p in preds}) > 2
        assert [clf.reason_of(p.best, p.confidence) for p in preds] == [p.reason for p in preds]
