from __future__ import annotations

import csv
import io

from klantreis.contacts.warroom import WarRoom, WarRoomRow, war_room_csv
from klantreis.wording import Names, Wording
from klantreis.wording.warroom import war_room_html, worded_war_room_dict

EVIL = "<script>alert(1)</script>"


def report(lang: str = "nl") -> WarRoom:
    row = WarRoomRow(
        rank=1,
        reason="waar_is_mijn_pakket",
        name=f"Waar {EVIL}",
        category="bezorging",
        avoidable=True,
        contacts=10,
        per_100_orders=5.0,
        cost=65.0,
        cost_per_year=650.0,
        saving_per_year=650.0,
        fix=f"=cmd|' /C calc'!A0 {EVIL}",
        root_cause="broken:op_tijd_bezorgd",
        root_cause_label="Belofte gebroken",
        lift=3.0,
        lift_ci_low=2.0,
        lift_ci_high=4.5,
        owner="carrier:vlotbezorgd",
        owner_name=f"V {EVIL}",
    )
    return WarRoom(
        lang=lang,
        currency="EUR",
        period_start=None,
        period_end=None,
        days=36.5,
        orders=200,
        contacts=10,
        per_100_orders=5.0,
        cost=65.0,
        cost_per_year=650.0,
        unknown_contacts=0,
        rows=[row],
        headline=f"Kop {EVIL}",
    )


def test_html_escapes_every_text() -> None:
    page = war_room_html(report())
    assert "<script>" not in page
    assert page.count("&lt;script&gt;") == 4
    assert "lift" not in page.lower() or "3 (2-4,5)" in page  # Dutch page, decimal comma
    assert '<html lang="nl">' in page and "Eigenaar" in page
    assert "Owner" in war_room_html(report("en"))


def test_csv_has_one_row_per_reason_and_defuses_formulas() -> None:
    rows = list(csv.DictReader(io.StringIO(war_room_csv(report()))))
    assert len(rows) == 1
    assert rows[0]["owner"] == "carrier:vlotbezorgd"
    assert rows[0]["saving_per_year"] == "650.0"
    assert rows[0]["fix"].startswith("'=")


def test_an_empty_store_gives_an_empty_report(app) -> None:  # type: ignore[no-untyped-def]
    import json

    from klantreis.contacts.reports import contacts_overview
    from klantreis.contacts.taxonomy import default_taxonomy

    overview = contacts_overview(
        app.events_table(), app.journey, default_taxonomy(), period="week", lang="en"
    )
    json.dumps(overview)
    assert overview["overall"][0]["contacts"] == 0 and overview["warroom"]["rows"] == []
    worded = worded_war_room_dict(overview["warroom"], Names(app.journey, Wording("en")))
    assert worded["headline"] == "No avoidable contact reasons found."
