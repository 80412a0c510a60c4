"""The demo acts: its proactive-message pilot is decided by klantreis on the demo's own log,
and the holdout report finds the simulated effect back, with an interval that covers it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from klantreis.act.proactive import holdout_report
from klantreis.app import App
from klantreis.demo.clock import DemoPeriod
from klantreis.demo.pilot import CONSENT_SHARE, MESSAGE_EFFECT, pilot_config
from klantreis.settings import Settings


@pytest.mark.slow
def test_the_pilot_report_finds_the_simulated_effect(
    demo30k: tuple[Path, Any], tmp_path: Path
) -> None:
    """On the run's shared ``run_demo(app, orders=30_000, seed=7)`` (tests/conftest.py)."""
    store, summary = demo30k
    shutil.copyfile(store, tmp_path / "demo.duckdb")
    with App(Settings.load(env={}, db_path=str(tmp_path / "demo.duckdb"))) as app:
        _finds_the_simulated_effect(app, summary)


def _finds_the_simulated_effect(app: App, summary: Any) -> None:
    arms = summary.proactive
    decided = sum(arms.values())
    assert decided > 500
    # consent first: about 10% of signals are not eligible, the rest split 90/10
    assert abs(arms["ineligible"] / decided - (1 - CONSENT_SHARE)) < 0.05
    eligible = arms["message"] + arms["holdout"]
    assert abs(arms["holdout"] / eligible - 0.10) < 0.04
    rule = pilot_config(DemoPeriod.ending(summary.period_end)).rules[0]
    report = holdout_report(app.store, app.journey, rule)
    assert report.reason is None
    holdout, message = report.arms["holdout"], report.arms["message"]
    assert holdout.per_100 is not None and message.per_100 is not None
    # the simulated effect: late parcels' customers ask 40% less after the message
    assert message.per_100 < holdout.per_100
    assert report.ci_low is not None and report.ci_high is not None
    true_diff = -MESSAGE_EFFECT * holdout.per_100  # roughly: every signal is a late parcel
    assert report.ci_low < true_diff < report.ci_high
    assert report.avoided is not None and report.avoided > 0
    assert report.saved is not None and report.saved > 0
    assert report.false_alarm_rate is not None and report.false_alarm_rate < 0.5
