"""Issue 11: never delivered is not late (kept / late / not delivered / open), and mean
scores (stars) in impact, its ranking and the CLI."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from scipy import stats as sps
from tests.journeys.logs import NOW, T0, ev, load

from klantreis.analytics.conditions import PromiseBroken, parse_condition
from klantreis.analytics.impact import default_conditions, impact, impact_ranking
from klantreis.analytics.promises import promise_outcomes, promise_rates
from klantreis.app import App
from klantreis.cli.main import cli
from klantreis.settings import Settings

D = timedelta
DEADLINE = T0 + D(days=2)
#: (journey, delivered after T0 or None, stars): 4 kept, 3 late, 2 never delivered, 1 open.
ORDERS: list[tuple[str, timedelta | None, float | None]] = [
    ("k1", D(days=1), 5),
    ("k2", D(days=1, hours=5), 4),
    ("k3", D(days=1, hours=9), 5),
    ("k4", D(days=2), 4),  # exactly at the deadline: kept
    ("l1", D(days=3), 2),
    ("l2", D(days=4), 3),
    ("l3", D(days=2, minutes=1), 1),
    ("u1", None, 1),  # cancelled: never delivered
    ("u2", None, None),
]


def _order(jid: str, delivered: timedelta | None, stars: float | None) -> list[dict[str, Any]]:
    deadline = DEADLINE.isoformat().replace("+00:00", "Z")
    recs = [
        ev(f"{jid}-1", jid, "order.placed", T0),
        ev(
            f"{jid}-2",
            jid,
            "delivery.promised",
            T0 + D(minutes=1),
            owner="carrier:snelpost",
            attrs={"deadline": deadline},
        ),
    ]
    if jid.startswith("u"):
        recs.append(ev(f"{jid}-x", jid, "order.cancelled", T0 + D(hours=5)))
    if delivered is not None:
        recs.append(ev(f"{jid}-3", jid, "delivery.completed", T0 + delivered))
    if stars is not None:
        recs.append(
            ev(f"{jid}-s", jid, "survey.response", T0 + D(days=5), metric="stars", score=stars)
        )
    return recs


def _open_order() -> list[dict[str, Any]]:
    deadline = (NOW + D(days=1)).isoformat().replace("+00:00", "Z")
    return [
        ev("o1-1", "o1", "order.placed", NOW - D(days=1)),
        ev("o1-2", "o1", "delivery.promised", NOW - D(hours=20), attrs={"deadline": deadline}),
    ]


@pytest.fixture
def loaded(app: App) -> App:
    recs = [r for o in ORDERS for r in _order(*o)] + _open_order()
    load(app, recs)
    return app


def test_outcomes_tell_late_from_never_delivered(loaded: App) -> None:
    out = promise_outcomes(loaded.events_table(), loaded.journey, ["op_tijd_bezorgd"], NOW)
    by = {r["journey_id"]: (r["outcome"], r["status"]) for r in out.to_pylist()}
    assert by == {
        **{k: ("kept", "kept") for k in ("k1", "k2", "k3", "k4")},
        **{k: ("late", "broken") for k in ("l1", "l2", "l3")},
        **{k: ("undelivered", "broken") for k in ("u1", "u2")},
        "o1": ("open", "open"),
    }
    row = promise_rates(loaded.events_table(), loaded.journey, "promise", now=NOW).to_pylist()
    r = next(x for x in row if x["promise_id"] == "op_tijd_bezorgd")
    assert (r["kept"], r["late"], r["undelivered"], r["broken"], r["open"]) == (4, 3, 2, 5, 1)
    assert r["kept_rate"] == pytest.approx(100 * 4 / 9)
    assert r["on_time_rate"] == pytest.approx(100 * 4 / 7)
    assert r["on_time_ci_low"] < r["on_time_rate"] < r["on_time_ci_high"]


@pytest.mark.parametrize(
    ("text", "hit", "population"),
    [
        ("broken:op_tijd_bezorgd", {"l1", "l2", "l3", "u1", "u2"}, 9),
        ("late:op_tijd_bezorgd", {"l1", "l2", "l3"}, 7),
        ("undelivered:op_tijd_bezorgd", {"u1", "u2"}, 9),
    ],
)
def test_conditions_name_each_outcome(
    loaded: App, text: str, hit: set[str], population: int
) -> None:
    cond = parse_condition(text, NOW)
    assert cond.label == text
    ev_t, j = loaded.events_table(), loaded.journey
    got = {r["journey_id"] for r in cond.journeys(ev_t, j).to_pyarrow().to_pylist()}
    assert got == hit
    pop = cond.population(ev_t, j)
    assert pop is not None and pop.count().to_pyarrow().as_py() == population


def test_mean_review_score_late_vs_on_time(loaded: App) -> None:
    cond = PromiseBroken("op_tijd_bezorgd", None, NOW, "late")
    result = impact(loaded.events_table(), loaded.journey, cond, min_answers=2)
    stars = result.metrics["stars"]
    on_time, late = [5, 4, 5, 4], [2, 3, 1]
    assert stars.n_a == 4 and stars.n_b == 3
    assert stars.diff == pytest.approx(sum(late) / 3 - sum(on_time) / 4)
    welch = sps.ttest_ind(late, on_time, equal_var=False)
    assert stars.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    assert result.as_dict()["metrics"]["stars"]["diff"] == pytest.approx(stars.diff)


def test_rank_by_stars(loaded: App) -> None:
    ranked = impact_ranking(
        loaded.events_table(),
        loaded.journey,
        [parse_condition("late:op_tijd_bezorgd", NOW), parse_condition("kind:order.cancelled")],
        rank_by="stars",
        min_answers=2,
        now=NOW,
    )
    assert ranked[0].condition == "late:op_tijd_bezorgd"


def test_default_conditions_split_late_and_undelivered(loaded: App) -> None:
    labels = [c.label for c in default_conditions(loaded.events_table(), loaded.journey, NOW)]
    assert "late:op_tijd_bezorgd" in labels and "undelivered:op_tijd_bezorgd" in labels


def test_cli_impact_rank_by_stars(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    with App(Settings.load(env={}, db_path=str(db))) as app:
        load(app, [r for o in ORDERS for r in _order(*o)])
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "journeys",
            "impact",
            "--db",
            str(db),
            "--condition",
            "late:op_tijd_bezorgd",
            "--rank-by",
            "stars",
            "--now",
            NOW.isoformat(),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert rows[0]["condition"] == "late:op_tijd_bezorgd"
    assert "stars" in rows[0]["metrics"]
