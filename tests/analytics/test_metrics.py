"""Grouped metrics on small hand-computed event logs (DuckDB via the App fixture)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner

from klantreis.analytics import metrics, stats
from klantreis.analytics.periods import offsets_within, zone_offsets
from klantreis.app import App
from klantreis.model.events import events_from_records

_counter = iter(range(10**9))


def answer(
    metric: str,
    score: float,
    at: str,
    touchpoint: str = "bezorging",
    channel: str = "email",
    owner: str | None = None,
    attrs: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "event_id": f"a{next(_counter)}",
        "occurred_at": at,
        "kind": "survey.response",
        "metric": metric,
        "score": score,
        "touchpoint": touchpoint,
        "channel": channel,
        "owner": owner,
        "attrs": attrs,
        **extra,
    }


def event(
    kind: str,
    at: str,
    journey_id: str,
    channel: str | None = None,
    attrs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "event_id": f"e{next(_counter)}",
        "occurred_at": at,
        "kind": kind,
        "journey_id": journey_id,
        "channel": channel,
        "attrs": attrs,
    }


def load(app: App, rows: list[dict[str, Any]]) -> Any:
    app.store.append(events_from_records(rows))
    return app.events_table()


def by_key(df: Any, key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in df.to_dict("records")}


# -- grouping ---------------------------------------------------------------------------------
def test_nps_by_touchpoint_and_owner_hand_computed(app: App) -> None:
    rows = [
        answer("nps", s, "2026-05-04T10:00:00Z", "bezorging", owner="carrier:snelpost")
        for s in (10, 10, 9, 7, 3)
    ]
    rows += [
        answer("nps", s, "2026-05-04T10:00:00Z", "bezorging", owner="carrier:vlotbezorgd")
        for s in (0, 6, 8)
    ]
    rows += [answer("nps", s, "2026-05-04T10:00:00Z", "factuur", owner="finance") for s in (9, 9)]
    t = load(app, rows)
    df = metrics.score_table(
        t, "nps", by=["touchpoint", "owner"], journey=app.journey, min_answers=1
    )
    got = {(r["touchpoint"], r["owner"]): (r["n"], r["value"]) for r in df.to_dict("records")}
    assert got == {
        ("bezorging", "carrier:snelpost"): (5, pytest.approx(100 * (3 - 1) / 5)),
        ("bezorging", "carrier:vlotbezorgd"): (3, pytest.approx(-100 * 2 / 3)),
        ("factuur", "finance"): (2, pytest.approx(100.0)),
    }
    snel = stats.nps(3, 1, 5, min_answers=1)
    row = df[(df.owner == "carrier:snelpost")].iloc[0]
    assert (row.ci_low, row.ci_high) == pytest.approx((snel.ci_low, snel.ci_high))


def test_stage_from_journey_config(app: App) -> None:
    # bestellen and betalen are both in stage "aankoop"; bezorging is "levering".
    t = load(
        app,
        [
            answer("ces", 2, "2026-05-04T10:00:00Z", "bestellen"),
            answer("ces", 4, "2026-05-04T10:00:00Z", "betalen"),
            answer("ces", 7, "2026-05-04T10:00:00Z", "bezorging"),
            answer("ces", 5, "2026-05-04T10:00:00Z", "nergens"),
        ],
    )
    df = metrics.score_table(t, "ces", by=["stage"], journey=app.journey, min_answers=1)
    got = {r["stage"]: (r["n"], r["value"]) for r in df.to_dict("records")}
    assert got == {"aankoop": (2, 3.0), "levering": (1, 7.0), None: (1, 5.0)}


def test_group_by_attribute_and_filter(app: App) -> None:
    t = load(
        app,
        [
            answer("csat", 5, "2026-05-04T10:00:00Z", attrs={"segment": "vast"}),
            answer("csat", 2, "2026-05-04T10:00:00Z", attrs={"segment": "vast"}),
            answer("csat", 4, "2026-05-04T10:00:00Z", attrs={"segment": "nieuw"}),
            answer("csat", 1, "2026-05-04T10:00:00Z", channel="web", attrs={"segment": "nieuw"}),
        ],
    )
    df = metrics.score_table(
        t,
        "csat",
        by=["attrs.segment"],
        journey=app.journey,
        min_answers=1,
        filters={"channel": "email"},
    )
    got = {r["attrs.segment"]: (r["n"], r["value"]) for r in df.to_dict("records")}
    assert got == {"nieuw": (1, 100.0), "vast": (2, 50.0)}
    with pytest.raises(ValueError, match="cannot group by"):
        metrics.score_table(t, "csat", by=["colour"], journey=app.journey)


def test_several_metrics_in_one_table_and_other_metrics_ignored(app: App) -> None:
    t = load(
        app,
        [
            answer("nps", 10, "2026-05-04T10:00:00Z"),
            answer("stars", 3, "2026-05-04T10:00:00Z"),
            answer("ces", 6, "2026-05-04T10:00:00Z"),
        ],
    )
    df = metrics.score_table(t, ["nps", "ces"], journey=app.journey, min_answers=1)
    assert sorted(df["metric"]) == ["ces", "nps"]
    assert by_key(df, "metric")["ces"]["value"] == 6.0


# -- periods ----------------------------------------------------------------------------------
def test_late_evening_utc_belongs_to_next_day_in_amsterdam(app: App) -> None:
    t = load(
        app, [answer("nps", 10, "2026-03-31T23:30:00Z"), answer("nps", 0, "2026-03-31T21:59:00Z")]
    )
    days = metrics.score_table(t, "nps", period="day", journey=app.journey, min_answers=1)
    assert by_key(days, "period") == {
        date(2026, 3, 31): pytest.approx(by_key(days, "period")[date(2026, 3, 31)]),
        date(2026, 4, 1): pytest.approx(by_key(days, "period")[date(2026, 4, 1)]),
    }
    assert by_key(days, "period")[date(2026, 4, 1)]["value"] == 100.0
    months = metrics.score_table(t, "nps", period="month", journey=app.journey, min_answers=1)
    assert {r["period"]: r["n"] for r in months.to_dict("records")} == {
        date(2026, 3, 1): 1,
        date(2026, 4, 1): 1,
    }
    utc = metrics.score_table(
        t, "nps", period="day", journey=app.journey, min_answers=1, timezone="UTC"
    )
    assert list(utc["period"]) == [date(2026, 3, 31)] and list(utc["n"]) == [2]


def test_weeks_start_on_monday_and_autumn_dst(app: App) -> None:
    # Sunday 25 Oct 2026 22:30 UTC is Sunday 23:30 in Amsterdam (winter time, UTC+1),
    # 23:30 UTC is Monday 00:30: the next ISO week.
    t = load(
        app,
        [
            answer("ces", 3, "2026-10-25T22:30:00Z"),
            answer("ces", 5, "2026-10-25T23:30:00Z"),
            answer("ces", 7, "2026-10-19T00:00:00Z"),
        ],
    )
    weeks = metrics.score_table(t, "ces", period="week", journey=app.journey, min_answers=1)
    assert {r["period"]: (r["n"], r["value"]) for r in weeks.to_dict("records")} == {
        date(2026, 10, 19): (2, 5.0),
        date(2026, 10, 26): (1, 5.0),
    }


def test_since_until_are_local_and_half_open(app: App) -> None:
    t = load(
        app,
        [
            answer("nps", 10, "2026-03-31T22:00:00Z"),  # 00:00 on 1 April local
            answer("nps", 0, "2026-03-31T21:59:59Z"),
            answer("nps", 9, "2026-04-30T22:00:00Z"),
        ],
    )  # 00:00 on 1 May local
    df = metrics.score_table(
        t, "nps", journey=app.journey, min_answers=1, since="2026-04-01", until=date(2026, 5, 1)
    )
    assert list(df["n"]) == [1] and list(df["value"]) == [100.0]


def test_offsets_within_span_keeps_the_offsets_that_apply() -> None:
    offsets = zone_offsets("Europe/Amsterdam", 2026)
    start = 1_767_225_600_000_000  # 2026-01-01 UTC
    chosen = offsets_within(offsets, (start, start + 86_400_000_000 * 364))
    assert [o // 3_600_000_000 for _, o in chosen] == [1, 2, 1]
    assert chosen[0][0] <= start


# -- too few, changes -------------------------------------------------------------------------
def test_too_few_answers_hides_the_value(app: App) -> None:
    t = load(app, [answer("nps", 10, "2026-05-04T10:00:00Z") for _ in range(29)])
    df = metrics.score_table(t, "nps", journey=app.journey)  # journey min_answers = 30
    row = df.iloc[0]
    assert row.n == 29 and bool(row.too_few) and row.isna()["value"]
    df = metrics.score_table(t, "nps", journey=app.journey, min_answers=29)
    assert not df.iloc[0].too_few and df.iloc[0].value == 100.0


def test_period_change_matches_two_sample_test(app: App) -> None:
    week1 = [9] * 20 + [7] * 10 + [3] * 10  # 2026-05-04 (Monday)
    week2 = [10] * 25 + [8] * 10 + [2] * 5  # 2026-05-11
    t = load(
        app,
        [answer("nps", s, "2026-05-05T10:00:00Z") for s in week1]
        + [answer("nps", s, "2026-05-12T10:00:00Z") for s in week2],
    )
    df = metrics.period_change(t, "nps", period="week", journey=app.journey, min_answers=30)
    row = by_key(df, "period")[date(2026, 5, 11)]
    want = stats.compare_nps(stats.Summary.from_scores(week1), stats.Summary.from_scores(week2))
    assert row["previous_period"] == date(2026, 5, 4)
    assert (row["n_previous"], row["n"]) == (40, 40)
    assert want.diff == pytest.approx(50.0 - 25.0)  # 25 of 40 minus 5 of 40, vs 20 and 10
    assert row["diff"] == pytest.approx(want.diff)
    assert row["p_value"] == pytest.approx(want.p_value)
    assert row["significant"] == want.significant
    first = by_key(df, "period")[date(2026, 5, 4)]
    assert first["n_previous"] == 0 and first["too_few"] and not first["significant"]
    latest = metrics.period_change(t, "nps", period="week", journey=app.journey, latest=True)
    assert list(latest["period"]) == [date(2026, 5, 11)]


# -- matrix and contacts ----------------------------------------------------------------------
def test_nps_ces_matrix_lists_every_touchpoint(app: App) -> None:
    t = load(
        app,
        [
            answer("nps", 10, "2026-05-04T10:00:00Z", "bezorging"),
            answer("nps", 0, "2026-05-04T10:00:00Z", "bezorging"),
            answer("ces", 6, "2026-05-04T10:00:00Z", "bezorging"),
            answer("ces", 2, "2026-05-04T10:00:00Z", "factuur"),
        ],
    )
    m = metrics.nps_ces_matrix(t, app.journey, min_answers=1)
    assert list(m["touchpoint"]) == [tp.id for tp in app.journey.touchpoints]
    rows = by_key(m, "touchpoint")
    assert (rows["bezorging"]["nps_n"], rows["bezorging"]["nps"]) == (2, 0.0)
    assert (rows["bezorging"]["ces_n"], rows["bezorging"]["ces"]) == (1, 6.0)
    assert rows["factuur"]["nps_n"] == 0 and rows["factuur"]["nps_too_few"]
    assert rows["factuur"]["stage"] == "nazorg"


def test_contacts_per_100_journeys_hand_computed(app: App) -> None:
    rows = [event("order.placed", "2026-05-04T10:00:00Z", f"o{i}") for i in range(8)]
    rows += [event("order.placed", "2026-05-12T10:00:00Z", f"p{i}") for i in range(4)]
    rows += [
        event(
            "contact.inbound",
            "2026-05-05T10:00:00Z",
            "o1",
            "phone",
            {"reason": "waar_is_mijn_pakket"},
        ),
        event(
            "contact.inbound",
            "2026-05-06T10:00:00Z",
            "o2",
            "chat",
            {"reason": "waar_is_mijn_pakket"},
        ),
        event(
            "contact.inbound", "2026-05-13T10:00:00Z", "p1", "phone", {"reason": "factuur_onjuist"}
        ),
        event("contact.outbound", "2026-05-13T10:00:00Z", "p1", "phone"),
    ]
    t = load(app, rows)
    weekly = metrics.contacts_per_100_journeys(t, app.journey, period="week")
    assert [
        (r["period"], r["contacts"], r["journeys"], r["per_100"]) for r in weekly.to_dict("records")
    ] == [(date(2026, 5, 4), 2, 8, 25.0), (date(2026, 5, 11), 1, 4, 25.0)]
    reasons = metrics.contacts_per_100_journeys(t, app.journey, by=["attrs.reason"])
    got = {r["attrs.reason"]: r["per_100"] for r in reasons.to_dict("records")}
    assert got == {
        "factuur_onjuist": pytest.approx(100 / 12),
        "waar_is_mijn_pakket": pytest.approx(200 / 12),
    }


# -- the App and the CLI ---------------------------------------------------------------------
def test_app_scores_uses_journey_minimum(app: App) -> None:
    load(app, [answer("nps", 9, "2026-05-04T10:00:00Z") for _ in range(5)])
    assert bool(app.scores("nps")["too_few"][0])
    assert app.scores("nps", min_answers=5)["value"][0] == 100.0
    assert list(app.score_changes("nps", period="day", min_answers=1)["n"]) == [5]


def test_cli_metrics_json_and_too_few(file_app: App) -> None:
    from klantreis.cli.main import cli

    load(file_app, [answer("nps", 9, "2026-05-04T10:00:00Z", "bezorging") for _ in range(3)])
    db = str(file_app.settings.db_path)
    file_app.close()
    runner = CliRunner()
    res = runner.invoke(cli, ["metrics", "--db", db, "--by", "touchpoint", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["rows"]
    assert rows[0]["touchpoint"] == "bezorging" and rows[0]["n"] == 3
    assert rows[0]["value"] is None and rows[0]["too_few"] is True
    table = runner.invoke(cli, ["metrics", "--db", db, "--by", "touchpoint", "--lang", "nl"])
    assert table.exit_code == 0 and "te weinig antwoorden" in table.output
    csv = runner.invoke(cli, ["metrics", "--db", db, "--csv", "--min-answers", "1"])
    assert csv.exit_code == 0 and csv.output.splitlines()[1].startswith("nps,3,100.0")


def test_metric_in_by_is_not_a_second_key(app: App) -> None:
    t = load(app, [answer("stars", 4, "2026-05-04T10:00:00Z")])
    df = metrics.score_table(
        t, "stars", by=["metric", "channel"], journey=app.journey, min_answers=1
    )
    assert list(df.columns[:2]) == ["metric", "channel"] and df["value"].tolist() == [4.0]
