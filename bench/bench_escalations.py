"""Time the escalation job's rounds on N open cases (a fresh store each run).

``python -m bench.bench_escalations 20000`` (``PROF=1`` adds a profile): N open cases of
the standard policy, opened 7 s apart from 2 Nov, none acted on, then two rounds at
1 Dec 12:00 and five minutes later. The first round fires every reached ladder step
(three per case here), the second finds nothing new."""

import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from klantreis.act import cases as C
from klantreis.act.runner import run_escalations
from klantreis.app import App
from klantreis.settings import Settings

n = int(sys.argv[1])
d = tempfile.mkdtemp()
s = Settings.load(env={}, db_path=os.path.join(d, "s.duckdb"), secret_key="x" * 32)
with App(s) as app:
    C.ensure_schema(app.store)
    with app.store.transaction() as con:
        con.execute(
            "INSERT INTO cases (case_id, rule_id, journey_id, customer_id, owner, assignee, status, sla,"
            " trigger_event_id, triggered_at, opened_at, first_action_at, closed_at, root_cause, reassign, updated_at)"
            " SELECT 'c' || i, 'r', 'j' || i, 'k' || i, ['VlotBezorgd','Webshop','Klantenservice'][1 + i % 3], NULL, 'open', 'standaard',"
            " 'e' || i, TIMESTAMPTZ '2026-11-02 09:00:00+00' + i * INTERVAL 7 SECOND, TIMESTAMPTZ '2026-11-02 09:00:00+00' + i * INTERVAL 7 SECOND,"
            " NULL, NULL, NULL, false, TIMESTAMPTZ '2026-11-02 09:00:00+00' FROM range(?) r(i)",
            [n],
        ).fetchall()
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    import cProfile
    import pstats

    prof = cProfile.Profile() if os.environ.get("PROF") else None
    for label, at in (("first round", now), ("second round", now + timedelta(minutes=5))):
        c0, t0 = time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        alerts = run_escalations(app, app.case_rules, at)
        if prof:
            prof.disable()
        print(
            f"{label}: n={n} wall {time.perf_counter() - t0:.2f} s cpu {time.process_time() - c0:.2f} s alerts {len(alerts)}"
            f" log {app.store.query('SELECT count(*) AS n FROM case_log').to_pylist()[0]['n']}"
        )
if prof:
    pstats.Stats(prof).sort_stats("cumtime").print_stats(18)
