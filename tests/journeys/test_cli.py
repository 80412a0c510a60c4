"""``klantreis journeys ...`` and ``klantreis export`` call the library functions."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.journeys.logs import T0, ev, load, small_log

from klantreis.app import App
from klantreis.cli.main import cli
from klantreis.settings import Settings

NOW = "2025-03-13T09:00:00Z"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("cli") / "store.duckdb")
    with App(Settings.load(env={}, db_path=path)) as app:
        load(app, small_log())
    return path


def run(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_dfg_json(db: str) -> None:
    out = json.loads(run("journeys", "dfg", "--db", db, "--json"))
    assert out["journeys"] == 6
    assert {"source": "order.placed", "target": "payment.completed"}.items() <= out["rows"][
        0
    ].items()


def test_variants_and_filters(db: str) -> None:
    out = json.loads(
        run(
            "journeys",
            "variants",
            "--db",
            db,
            "--json",
            "--top",
            "1",
            "--owner",
            "carrier:vlotbezorgd",
            "--no-index",
        )
    )
    assert out["journeys"] == 2 and len(out["rows"]) == 1
    # tables are worded by default (the language setting, nl), like the web and `metrics`
    text = run("journeys", "variants", "--db", db, "--segment", "segment=business")
    assert "Klantreizen: 1" in text and "order.placed" not in text, text
    english = run(
        "journeys", "variants", "--db", db, "--segment", "segment=business", "--lang", "en"
    )
    assert "Journeys: 1" in english and "Path" in english, english
    raw = run("journeys", "variants", "--db", db, "--segment", "segment=business", "--csv")
    assert "order.placed > payment.completed" in raw or "order.placed" in raw, raw


def test_handovers_promises_impact_timeline(db: str) -> None:
    rows = json.loads(run("journeys", "handovers", "--db", db, "--json"))["rows"]
    assert {"from_owner": "webshop", "to_owner": "finance"}.items() <= rows[0].items()
    rates = json.loads(run("journeys", "promises", "--db", db, "--now", NOW, "--json"))["rows"]
    assert {r["group"]: r["broken"] for r in rates} == {
        "carrier:snelpost": 0,
        "carrier:vlotbezorgd": 2,
    }
    risk = json.loads(run("journeys", "promises", "--db", db, "--now", NOW, "--at-risk", "--json"))[
        "rows"
    ]
    assert [r["journey_id"] for r in risk] == ["o5"]
    imp = json.loads(
        run(
            "journeys",
            "impact",
            "--db",
            db,
            "--now",
            NOW,
            "--condition",
            "broken:op_tijd_bezorgd",
            "--json",
        )
    )["rows"]
    assert imp[0]["journeys_with"] == 2 and imp[0]["contacts"]["per100_with"] == 150.0
    tl = json.loads(run("journeys", "timeline", "--db", db, "--journey", "o2", "--json"))
    assert [r["kind"] for r in tl["rows"]][:2] == ["order.placed", "payment.completed"]


def test_bad_input_is_a_clear_error(db: str) -> None:
    result = CliRunner().invoke(cli, ["journeys", "impact", "--db", db, "--condition", "late"])
    assert result.exit_code != 0 and "cannot read condition" in result.output
    result = CliRunner().invoke(cli, ["journeys", "timeline", "--db", db])
    assert result.exit_code != 0 and "exactly one" in result.output
    result = CliRunner().invoke(cli, ["journeys", "dfg", "--db", db, "--segment", "a b=c"])
    assert result.exit_code != 0 and "attribute key" in result.output


@pytest.mark.parametrize("fmt", ["xes", "csv"])
def test_export(db: str, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"log.{fmt}"
    text = run("export", "--db", db, "--format", fmt, str(out))
    assert "6 journeys" in text and out.stat().st_size > 1000


@pytest.mark.parametrize(("flag", "cell"), [(None, "'=1+2"), ("--no-spreadsheet-safe", "=1+2")])
def test_csv_export_is_spreadsheet_safe_unless_asked(
    tmp_path: Path, flag: str | None, cell: str
) -> None:
    path = str(tmp_path / "store.duckdb")
    with App(Settings.load(env={}, db_path=path)) as app:
        load(app, [ev("f1", "j1", "contact.inbound", T0, text="=1+2")])
    out = tmp_path / "log.csv"
    run("export", "--db", path, "--format", "csv", *([flag] if flag else []), str(out))
    with open(out, encoding="utf-8", newline="") as fh:
        assert next(csv.DictReader(fh))["text"] == cell


def _close(a: Any, b: Any) -> bool:
    """Equal, floats within 1e-9 (the kept reader sums per journey, the log per event)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def _keeps_views(path: str) -> bool:
    with App(Settings.load(env={}, db_path=path)) as app:
        sql = "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'dv_state'"
        return bool(app.store.query(sql).to_pylist()[0]["n"])


def test_impact_reads_the_kept_views_when_the_store_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from klantreis.analytics import derived_promises

    path = str(tmp_path / "store.duckdb")
    with App(Settings.load(env={}, db_path=path)) as app:
        load(app, small_log())
    calls: list[object] = []
    kept_ranking = derived_promises.impact_ranking
    monkeypatch.setattr(
        derived_promises,
        "impact_ranking",
        lambda *a, **k: calls.append(a) or kept_ranking(*a, **k),
    )
    args = ("journeys", "impact", "--db", path, "--now", NOW, "--json")
    portable = json.loads(run(*args))["rows"]
    assert portable and not calls and not _keeps_views(path)  # a command builds no views
    with App(Settings.load(env={}, db_path=path)) as app:
        app.derived_views()
    kept = json.loads(run(*args))["rows"]
    assert len(calls) == 1 and _close(kept, portable)
    run(*args, "--condition", "broken:op_tijd_bezorgd")
    assert len(calls) == 2
    run(*args, "--condition", "contacts>0")  # not kept per journey: the log
    assert len(calls) == 2


@pytest.mark.parametrize("extra", [(), ("--by", "touchpoint"), ("--by", "promise"), ("--at-risk",)])
def test_promises_read_the_kept_views_when_the_store_keeps_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: tuple[str, ...]
) -> None:
    from klantreis.analytics import derived_promises

    path = str(tmp_path / "store.duckdb")
    with App(Settings.load(env={}, db_path=path)) as app:
        load(app, small_log())
    calls: list[str] = []
    for name in ("promise_rates", "at_risk"):
        kept = getattr(derived_promises, name)
        monkeypatch.setattr(
            derived_promises,
            name,
            lambda *a, _k=kept, _n=name, **k: calls.append(_n) or _k(*a, **k),
        )
    args = ("journeys", "promises", "--db", path, "--now", NOW, "--json", *extra)
    portable = json.loads(run(*args))["rows"]
    assert portable and not calls and not _keeps_views(path)
    with App(Settings.load(env={}, db_path=path)) as app:
        app.derived_views()
    kept_rows = json.loads(run(*args))["rows"]
    assert calls == ["at_risk" if extra == ("--at-risk",) else "promise_rates"]
    assert _close(kept_rows, portable)
    run(*args, "--promise", "op_tijd_bezorgd")  # one promise: the log
    assert len(calls) == 1
