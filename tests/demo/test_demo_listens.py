"""The demo listens (issue 14 point 9): its surveys run on its own journeys through the
directory, the contact rules, the outbox (nothing really sent) and the responses."""

from __future__ import annotations

from klantreis.app import App
from klantreis.demo.listening import DOMAIN
from klantreis.demo.runner import run_demo
from klantreis.listen import rates
from klantreis.listen.rules import DIRECTORY_REASONS
from klantreis.settings import Settings


def test_the_demo_asks_decides_and_hears_back() -> None:
    with App(Settings.load(env={}, db_path=":memory:", demo_mode=True)) as app:
        summary = run_demo(app, orders=2_000, seed=3, days=60)
        heard = summary.listening
        assert heard is not None and heard.queued > 0 and heard.answered > 0
        # suppressed with reasons: the directory's (consent per customer) and fatigue
        assert {"no_consent", "objected", "suppressed"} <= set(heard.suppressed)
        assert set(heard.suppressed) & {"cooldown", "min_days_between", "cap"}
        reasons = app.store.query(
            "SELECT DISTINCT reason FROM survey_invitations WHERE status = 'suppressed'"
        )["reason"].to_pylist()
        assert set(DIRECTORY_REASONS) - {"erased"} <= set(reasons)
        # handed to the outbox and marked sent by the recording sender, nothing to a real address
        states = {
            r["state"]: r["n"]
            for r in app.store.query(
                "SELECT state, count(*) AS n FROM outbox_messages GROUP BY state"
            ).to_pylist()
        }
        assert states == {"sent": heard.queued + heard.reminded} == {"sent": heard.sent}
        rows = app.directory._query(
            "SELECT DISTINCT split_part(email, '@', 2) FROM contacts WHERE email IS NOT NULL"
        )
        assert [r[0] for r in rows] == [DOMAIN]
        # the answers are survey.response events on the invitation's journey and carrier
        answers = app.store.query(
            "SELECT e.journey_id = i.journey_id AS same_journey, e.owner, i.owner AS asked"
            " FROM events e JOIN survey_invitations i"
            " ON json_extract_string(e.attrs, '$.invitation_id') = i.invitation_id"
            " WHERE e.kind = 'survey.response' AND e.source = 'survey'"
        ).to_pylist()
        assert len(answers) >= heard.answered
        assert all(a["same_journey"] and a["owner"] == a["asked"] for a in answers)
        assert any(a["owner"] and a["owner"].startswith("carrier:") for a in answers)
        by_owner = rates.response_rates(app.store, "owner", 0.95).to_pylist()
        carriers = [r for r in by_owner if str(r["group"]).startswith("carrier:")]
        assert carriers and any(r["answered"] for r in carriers)
        assert all(r["ci_low"] <= r["rate"] <= r["ci_high"] for r in carriers)
