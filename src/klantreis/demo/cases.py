"""The demo acts: open the cases the shipped rules find in the demo's log (VlotBezorgd's late
parcels go to VlotBezorgd), and play out part of them: the carrier is called, the case waits
for the carrier and is closed with a root cause. The re-surveys of the closed cases are not
made up here: the demo's listening (``demo.runner.listen_demo``) plans them with
``klantreis.act.resurvey`` and sends them like every invitation (consent, contact rules,
outbox); its simulated respondents answer through ``listen.responses``, so the recovery rate
on ``/cases`` counts real ledger answers. Some open cases are given to the demo accounts
(``admin``, ``analyst``) so "my cases" is not empty.

Deterministic for a store (a seeded generator; event ids derived from the case) and safe to
run again: cases exist once, closed cases are not touched again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from klantreis.act.cases import Action, apply_actions, list_cases
from klantreis.act.rules import default_case_rules
from klantreis.act.runner import evaluate_cases
from klantreis.ingest.pipeline import Target

__all__ = ["DemoCases", "act_on_demo"]

DEMO_USERS = ("analyst", "admin")


@dataclass(frozen=True)
class DemoCases:
    opened: int
    closed: int
    assigned: int
    #: Re-survey answers (filled in by the demo's listening, see the module).
    resurveyed: int = 0
    #: Events the acting stored (case events and re-survey answers).
    events: int = 0


def act_on_demo(
    target: Target, now: datetime, seed: int = 7, share_closed: float = 0.6
) -> DemoCases:
    """Open the demo's cases and close ``share_closed`` of those opened at least five days
    before ``now``."""
    rules = default_case_rules(target.journey)
    if list_cases(target.store, limit=1):
        return DemoCases(0, 0, 0)  # the demo acted on this store before
    run = evaluate_cases(target, rules, now=now)
    rng = random.Random(seed)
    cases = sorted(list_cases(target.store, limit=1_000_000), key=lambda c: c.case_id)
    actions: list[Action] = []
    closed = assigned = 0
    for case in cases:
        if case.status != "open" or case.first_action_at is not None:
            continue
        old_enough = case.opened_at <= now - timedelta(days=5)
        if old_enough and rng.random() < share_closed:
            actions += _play_out(case, now, rng)
            closed += 1
        elif assigned < 12 and not old_enough:
            actions.append(
                Action(
                    case.case_id,
                    "assign",
                    case.opened_at + timedelta(minutes=30),
                    "demo",
                    value=DEMO_USERS[assigned % 2],
                    automatic=True,
                )
            )
            assigned += 1
    stored = run.update.written.stored if run.update and run.update.written else 0
    if actions:
        done = apply_actions(target, rules, actions)
        stored += done.written.stored if done.written else 0
    return DemoCases(len(run.opened), closed, assigned, events=stored)


def _play_out(case: object, now: datetime, rng: random.Random) -> list[Action]:
    c = case  # a klantreis.act.cases.Case
    start = c.opened_at  # type: ignore[attr-defined]
    carrier = str(c.owner).startswith("carrier:")  # type: ignore[attr-defined]
    first = start + timedelta(hours=rng.uniform(0.5, 30))
    wait_end = first + timedelta(hours=rng.uniform(2, 40))
    close = wait_end + timedelta(hours=rng.uniform(1, 30))
    close = min(close, now - timedelta(hours=1))
    wait_end = min(wait_end, close)
    first = min(first, wait_end)
    note = "Vervoerder gebeld; pakket komt morgen." if carrier else "Klant gebeld en geholpen."
    cid = c.case_id  # type: ignore[attr-defined]
    steps = [
        Action(cid, "note", first, "demo", note=note),
        Action(
            cid,
            "status",
            first,
            "demo",
            value="waiting_third_party" if carrier else "waiting_customer",
        ),
        Action(cid, "status", wait_end, "demo", value="in_progress"),
        Action(cid, "status", close, "demo", value="closed", root_cause=_cause(c)),
    ]
    return steps


def _cause(case: object) -> str:
    owner = str(case.owner)  # type: ignore[attr-defined]
    if owner.startswith("carrier:"):
        return "te_laat_bezorgd"
    return {"finance": "factuur_fout", "warehouse": "beschadigd"}.get(
        owner, "informatie_onduidelijk"
    )
