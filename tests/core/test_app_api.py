"""The Python API gives what the commands give: each App analysis against its command's JSON
on the same store (journeys: a hand-made log; contacts: hand-made contacts)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner
from tests.contacts.helpers import contact, event
from tests.contacts.helpers import load as load_contacts
from tests.journeys.logs import NOW, load, small_log

from klantreis.app import App
from klantreis.app_api import AnalysesMixin
from klantreis.cli.main import cli
from klantreis.settings import Settings

NOW_ISO = NOW.isoformat()


def _plain(value: Any) -> Any:
    """What the command's JSON holds for ``value`` (times as text, NaN as null)."""
    if isinstance(value, pa.Table):
        value = value.to_pylist()
    elif isinstance(value, pd.DataFrame):
        value = value.to_dict("records")
    text = json.dumps(value, default=str, ensure_ascii=False).replace("NaN", "null")
    return json.loads(text)


def _command(db: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--db", str(db)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture(scope="module")
def journeys_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("api") / "journeys.duckdb"
    with App(Settings.load(env={}, db_path=str(db))) as app:
        load(app, small_log())
    return db


@pytest.fixture
def journeys_app(journeys_db: Path) -> Iterator[App]:
    with App(Settings.load(env={}, db_path=str(journeys_db))) as app:
        yield app


JOURNEY_CASES: list[tuple[list[str], Callable[[App], Any], str | None]] = [
    (["journeys", "dfg", "--json"], lambda a: a.dfg(), "rows"),
    (["journeys", "variants", "--json", "--top", "5"], lambda a: a.variants(top=5), "rows"),
    (["journeys", "handovers", "--json"], lambda a: a.handovers(), "rows"),
    (
        ["journeys", "promises", "--json", "--now", NOW_ISO],
        lambda a: a.promises(now=NOW),
        "rows",
    ),
    (
        ["journeys", "promises", "--json", "--by", "period", "--period", "day", "--now", NOW_ISO],
        lambda a: a.promises(by="period", period="day", now=NOW),
        "rows",
    ),
    (
        ["journeys", "timeline", "--json", "--journey", "o2"],
        lambda a: a.timeline("o2"),
        "rows",
    ),
]


@pytest.mark.parametrize(
    ("args", "api", "key"), JOURNEY_CASES, ids=[" ".join(c[0][:2]) for c in JOURNEY_CASES]
)
def test_journey_analyses_equal_their_commands(
    journeys_db: Path, args: list[str], api: Callable[[App], Any], key: str
) -> None:
    expected = _command(journeys_db, *args)[key]
    with App(Settings.load(env={}, db_path=str(journeys_db))) as app:
        got = _plain(api(app))
    assert expected, "the case should have rows to compare"
    if args[1] == "timeline":  # the command prints only its columns
        got = [{k: r[k] for k in expected[0]} for r in got]
    assert got == expected


def test_variants_share_and_top_follow_the_log(journeys_app: App) -> None:
    table = journeys_app.variants(top=2)
    assert table.num_rows == 2
    shares = table.column("share").to_pylist()
    assert shares == sorted(shares, reverse=True) and all(0 < s <= 1 for s in shares)
    assert journeys_app.variants(top=None).num_rows >= table.num_rows


def test_impact_equals_the_command_per_condition_and_measure(
    journeys_db: Path, journeys_app: App
) -> None:
    expected = _command(journeys_db, "journeys", "impact", "--json", "--now", NOW_ISO)["rows"]
    frame = journeys_app.impact(now=NOW)
    assert list(dict.fromkeys(frame["condition"])) == [r["condition"] for r in expected]
    for row in expected:
        mine = frame[frame["condition"] == row["condition"]].set_index("metric")
        assert set(mine.index) == {*row["metrics"], "contacts"}
        assert _plain(mine.loc["contacts", "diff"]) == row["contacts"]["diff"]
        for metric, values in row["metrics"].items():
            assert _plain(mine.loc[metric, "diff"]) == values["diff"]
    chosen = journeys_app.impact(["contacts>0"], rank_by="contacts", now=NOW)
    assert set(chosen["condition"]) == {"contacts>0"}


def test_at_risk_is_the_commands(journeys_db: Path, journeys_app: App) -> None:
    args = ["journeys", "promises", "--at-risk", "--json", "--now", NOW_ISO]
    assert _plain(journeys_app.promises_at_risk(now=NOW)) == _command(journeys_db, *args)["rows"]


WAAR, FACTUUR = "waar_is_mijn_pakket", "factuur_niet_ontvangen"


@pytest.fixture(scope="module")
def contacts_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("api") / "contacts.duckdb"
    with App(Settings.load(env={}, db_path=str(db))) as app:
        load_contacts(
            app,
            [
                *(event("order.placed", f"J{i}", i) for i in range(1, 9)),
                contact("J1", 2, WAAR, "phone", n=0, minutes=4, resolved=False),
                contact("J1", 3, WAAR, "phone", n=1, minutes=6, resolved=True),
                contact("J3", 4.5, FACTUUR, "email", n=0, minutes=100, resolved=True),
                contact("J5", 6, None, "chat", text="waar blijft mijn pakket"),
            ],
        )
    return db


def test_contact_report_is_the_commands(contacts_db: Path) -> None:
    expected = _command(contacts_db, "contacts", "reasons", "--json", "--period", "week")
    with App(Settings.load(env={}, db_path=str(contacts_db))) as app:
        report = app.contact_report(period="week")
        by_reason = app.contacts_per_100_orders(by="reason")
        overall = app.contacts_per_100_orders()
    assert set(report) == set(expected)
    for name, frame in report.items():
        assert _plain(frame) == expected[name], name
    assert _plain(by_reason) == [
        {k: v for k, v in r.items() if k != "name"} for r in expected["by_reason"]
    ]
    assert _plain(overall) == expected["overall"]
    assert overall["per_100_orders"].iloc[0] == pytest.approx(100 * 4 / 8)


def test_classify_and_war_room_are_the_commands(contacts_db: Path) -> None:
    texts = ["waar is mijn pakket", "ik heb geen factuur gekregen"]
    expected = _command(contacts_db, "contacts", "classify", "--json", *texts)
    room = _command(contacts_db, "contacts", "warroom", "--json", "--lang", "en")
    with App(Settings.load(env={}, db_path=str(contacts_db))) as app:
        got = app.classify(texts)
        war = app.war_room(lang="en")
    assert list(got["text"]) == texts
    assert got[["reason", "confidence", "method"]].to_dict("records") == [
        {k: r[k] for k in ("reason", "confidence", "method")} for r in expected
    ]
    assert _plain(war) == room["rows"]
    assert war.attrs["headline"] == room["headline"]
    assert war.attrs["room"]["orders"] == room["orders"] == 8


def test_every_command_analysis_is_on_the_app() -> None:
    wanted = {
        "dfg",
        "variants",
        "handovers",
        "promises",
        "promises_at_risk",
        "impact",
        "timeline",
        "classify",
        "contacts_per_100_orders",
        "contact_report",
        "war_room",
    }
    for name in wanted:
        method = getattr(App, name)
        assert method.__doc__ and getattr(AnalysesMixin, name) is method, name
