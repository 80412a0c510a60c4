"""On the demo webshop: the war room names the late carrier, the classifier learns the
Dutch/English contacts (macro-F1 >= 0.90 on a held-out split)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.contacts.conftest import store_copy

from klantreis.app import App
from klantreis.contacts.clusters import new_reason_clusters
from klantreis.contacts.reports import reason_report
from klantreis.contacts.taxonomy import UNKNOWN, default_taxonomy
from klantreis.contacts.training import labelled_from_store
from klantreis.contacts.warroom import build_war_room, load_analysis
from klantreis.wording import Names, Wording
from klantreis.wording.warroom import worded_war_room

demo = pytest.importorskip("klantreis.demo.runner")


@pytest.fixture(scope="module")
def demo_app(demo4000_seed7: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """A copy of the run's ``run_demo(app, orders=4000, seed=7)`` (tests/contacts/conftest.py)."""
    from klantreis.settings import Settings

    path = store_copy(demo4000_seed7, tmp_path_factory, "demo4000")
    app = App(Settings.load(env={}, db_path=str(path)))
    yield app
    app.close()


def test_war_room_names_the_late_carrier_with_the_saving(demo_app: App) -> None:
    tax = default_taxonomy()
    analysis = load_analysis(demo_app.events_table(), demo_app.journey, tax)
    room = worded_war_room(
        build_war_room(analysis, top=3, lang="en"), Names(demo_app.journey, Wording("en"))
    )
    top = room.rows[0]
    assert top.reason == "waar_is_mijn_pakket"
    assert top.root_cause == "broken:op_tijd_bezorgd" and top.lift_ci_low > 1
    assert top.owner == "carrier:vlotbezorgd"
    assert top.saving_per_year == pytest.approx(top.cost * 365 / room.days, rel=0.01)
    assert top.saving_per_year > room.rows[1].saving_per_year > 0
    # named as configured ("VlotBezorgd"), no longer as the raw id "carrier:vlotbezorgd"
    assert "VlotBezorgd" in room.headline and "carrier:vlotbezorgd" not in room.headline


def test_demo_classifier_macro_f1_on_a_held_out_split(demo_app: App) -> None:
    from klantreis.contacts.classifier import train_with_holdout

    data = labelled_from_store(demo_app.events_table(), default_taxonomy())
    assert len(data.texts) > 500
    _, report = train_with_holdout(data.texts, data.labels, test_size=0.25, seed=1)
    assert report.macro_f1 >= 0.90


def test_reason_report_is_json_ready(demo_app: App) -> None:
    import json

    report = reason_report(
        demo_app.events_table(), demo_app.journey, default_taxonomy(), period="month"
    )
    json.dumps(report)
    assert report["overall"][0]["orders"] == 4000
    service = {r["channel"]: r for r in report["service_by_channel"]}
    # curt on the phone, sweet on social media
    assert service["phone"]["response_median_min"] < service["social"]["response_median_min"]
    assert service["phone"]["csat_pct"] < service["social"]["csat_pct"]


def test_unknown_contacts_cluster_into_new_reasons(demo_app: App) -> None:
    tax = default_taxonomy()
    analysis = load_analysis(demo_app.events_table(), demo_app.journey, tax, trust_given=False)
    contacts = analysis.contacts
    assert (contacts["reason"] == UNKNOWN).sum() > 20  # the phrase rules miss many
    found = new_reason_clusters(contacts, seed=0)
    assert found and sum(c.size for c in found) == (contacts["reason"] == UNKNOWN).sum()
    assert all(c.top_terms and c.examples for c in found)
