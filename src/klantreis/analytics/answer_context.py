"""The journey's context for survey answers that know only their journey (order number).

A review export links an answer to its order and nothing else: no owner, no touchpoint. The
order's own events know them (the carrier that delivered it). :func:`with_journey_context`
fills an answer's empty ``owner`` and ``touchpoint`` from the latest event of its journey at
or before the answer that has one (feedback events themselves do not count), so
``scores(by=["owner"])`` breaks review scores down by carrier. Given values are never
overwritten; answers without a journey stay as they are.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

__all__ = ["CONTEXT_KEYS", "with_journey_context"]

#: Group keys the journey's context can fill (stage follows from the touchpoint).
CONTEXT_KEYS = ("owner", "touchpoint", "stage")


def with_journey_context(answers: ir.Table, events: ir.Table) -> ir.Table:
    """``answers`` with empty owner/touchpoint taken from their journey (see module docs)."""
    ctx = events.filter(
        events.journey_id.notnull()
        & events.score.isnull()
        & (events.owner.notnull() | events.touchpoint.notnull())
    ).select(
        c_journey=events.journey_id,
        c_at=events.occurred_at,
        c_owner=events.owner,
        c_touchpoint=events.touchpoint,
    )
    need = answers.filter(
        answers.journey_id.notnull() & (answers.owner.isnull() | answers.touchpoint.isnull())
    ).select(a_id=answers.event_id, a_journey=answers.journey_id, a_at=answers.occurred_at)
    j = need.join(ctx, [need.a_journey == ctx.c_journey, ctx.c_at <= need.a_at])
    found = j.group_by("a_id").aggregate(
        ctx_owner=j.c_owner.argmax(j.c_at, where=j.c_owner.notnull()),
        ctx_touchpoint=j.c_touchpoint.argmax(j.c_at, where=j.c_touchpoint.notnull()),
    )
    out = answers.left_join(found, answers.event_id == found.a_id)
    return out.mutate(
        owner=ibis.coalesce(out.owner, out.ctx_owner),
        touchpoint=ibis.coalesce(out.touchpoint, out.ctx_touchpoint),
    ).drop("a_id", "ctx_owner", "ctx_touchpoint")
