"""Issue 4's promise: an order export plus a review export and two mapping files give the
promise-kept rate and the score difference between late and on-time orders, equal to a hand
computation on the CSV files themselves."""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner

from klantreis.cli.main import cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FMT = "%Y-%m-%d %H:%M:%S"
NOW = "2027-01-01T00:00:00Z"  # after every deadline in the example: no promise is open


def _rows(name: str) -> list[dict[str, str]]:
    with open(EXAMPLES / "data" / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _hand_computed() -> tuple[int, int, dict[bool, list[float]]]:
    late: dict[str, bool] = {}
    for order in _rows("olist_orders.csv"):
        deadline = datetime.strptime(order["order_estimated_delivery_date"], FMT)
        done = order["order_delivered_customer_date"]
        late[order["order_id"]] = not done or datetime.strptime(done, FMT) > deadline
    top2: dict[bool, list[float]] = {True: [], False: []}
    for review in _rows("olist_reviews.csv"):
        top2[late[review["order_id"]]].append(float(int(review["review_score"]) >= 4))
    broken = sum(late.values())
    return len(late) - broken, broken, top2


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_order_and_review_exports_give_promise_rates_and_the_late_score_gap(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "olist.duckdb")
    for name in ("orders", "reviews"):
        out = json.loads(
            _cli(
                "ingest",
                str(EXAMPLES / "data" / f"olist_{name}.csv"),
                "--mapping",
                str(EXAMPLES / "mappings" / f"olist_{name}.toml"),
                "--db",
                db,
                "--json",
            )
        )
        assert out["totals"]["quarantined"] == 0
    kept, broken, top2 = _hand_computed()

    rates = json.loads(
        _cli("journeys", "promises", "--db", db, "--by", "promise", "--now", NOW, "--json")
    )
    (row,) = rates["rows"]
    assert (row["kept"], row["broken"], row["open"]) == (kept, broken, 0)
    assert math.isclose(row["kept_rate"], 100 * kept / (kept + broken))
    assert row["ci_low"] < row["kept_rate"] < row["ci_high"]

    impact = json.loads(
        _cli(
            "journeys",
            "impact",
            "--db",
            db,
            "--condition",
            "broken:op_tijd_bezorgd",
            "--rank-by",
            "csat",
            "--now",
            NOW,
            "--json",
        )
    )
    (item,) = impact["rows"]
    csat = item["metrics"]["csat"]
    on_time, late = top2[False], top2[True]
    assert (csat["n_a"], csat["n_b"]) == (len(on_time), len(late))
    assert math.isclose(csat["value_a"], 100 * sum(on_time) / len(on_time))
    assert math.isclose(csat["value_b"], 100 * sum(late) / len(late))
    assert math.isclose(csat["diff"], csat["value_b"] - csat["value_a"])
    assert csat["ci_low"] < csat["diff"] < csat["ci_high"] < 0  # late orders score lower
    assert csat["significant"] and csat["p_value"] < 0.05


def test_re_sending_the_review_export_adds_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "olist.duckdb")
    args = [
        "ingest",
        str(EXAMPLES / "data" / "olist_reviews.csv"),
        "--mapping",
        str(EXAMPLES / "mappings" / "olist_reviews.toml"),
        "--db",
        db,
        "--json",
    ]
    first = json.loads(_cli(*args))["totals"]
    again = json.loads(_cli(*args))["totals"]
    assert first["events_stored"] == len(_rows("olist_reviews.csv"))
    assert again["events_stored"] == 0
    assert again["duplicates"] == first["events_stored"]
