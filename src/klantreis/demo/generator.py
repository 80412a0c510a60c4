"""The demo data generator: a fictional Dutch webshop, "Huis & Haard".

``generate_demo(orders, seed)`` yields Arrow tables of canonical events, batch by batch.
The same ``orders``, ``seed`` and period give byte-identical tables: every random draw comes
from a generator seeded with ``(seed, batch number)``, and batches have a fixed size. Work
is vectorised with numpy and Arrow compute; only the texts are rendered row by row.

Ids: ``journey_id`` is the order number (``HH26000001``...), ``customer_id`` ``K0000001``...,
``event_id`` ``d<seed>-<fingerprint>-<order>-<type>[<n>]``, where the fingerprint stands for
the size and period: re-ingesting the same demo adds nothing, and a different demo can be
told apart (``run_demo`` refuses to mix two demos in one store).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from klantreis.demo.blocks import BlockContext, assemble
from klantreis.demo.clock import DemoPeriod
from klantreis.demo.contacts import contact_blocks, draw_contacts
from klantreis.demo.feedback import feedback_blocks
from klantreis.demo.journey_events import fulfilment_blocks
from klantreis.demo.orders import Skeleton, fulfil, skeleton
from klantreis.demo.pilot import treated
from klantreis.model.events import conform, derive_event_id

__all__ = ["BATCH_ORDERS", "DemoPeriod", "demo_period", "event_id_prefix", "generate_demo"]

#: Orders per generated batch (fixed, so output does not depend on anything but the inputs).
BATCH_ORDERS = 25_000
FIRST_ORDER_NUMBER = 26_000_001


@dataclass(frozen=True)
class _Batch:
    number: int
    lo: int
    hi: int


def demo_period(
    start: date | None = None, days: int = 120, now: datetime | None = None
) -> DemoPeriod:
    """The period: ``days`` days from ``start``, or ending at ``now`` (default: the fixed
    DEFAULT_END, 20 November 2026 15:00 Amsterdam time)."""
    if start is not None and now is not None:
        raise ValueError("give start or now, not both")
    if start is not None:
        return DemoPeriod.starting(start, days)
    return DemoPeriod.ending(now, days)


def event_id_prefix(orders: int, seed: int, period: DemoPeriod) -> str:
    """The event id prefix of one demo: seed plus a fingerprint of its size and period."""
    fingerprint = derive_event_id(orders, period.days, period.now.isoformat())[:6]
    return f"d{seed}-{fingerprint}-"


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    text = pc.cast(pa.array(numbers.astype("int64")), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(text, width, "0"), "")


def _batch_table(
    sk: Skeleton, batch: _Batch, seed: int, period: DemoPeriod, prefix: str
) -> pa.Table:
    rng = np.random.default_rng([seed, 1, batch.number])
    sl = slice(batch.lo, batch.hi)
    english, mood = sk.english[sl], sk.mood[sl]
    journey_ids = _ids("HH", np.arange(batch.lo, batch.hi) + FIRST_ORDER_NUMBER, 8)
    ctx = BlockContext(
        journey_ids=journey_ids,
        customer_ids=_ids("K", sk.customer[sl] + 1, 7),
        prefix=prefix,
        now_us=period.now_us,
    )
    f = fulfil(sk.t_order[sl], period, rng)
    calmed = treated(f, journey_ids, ctx.customer_ids, period)
    contacts = draw_contacts(f, english, rng, calmed)
    blocks = (
        fulfilment_blocks(f, sk.repeat[sl], rng)
        + contact_blocks(contacts, f, english, journey_ids, rng)
        + feedback_blocks(
            f, contacts, mood, english, journey_ids, rng, period.now_us, sk.repeat[sl]
        )
    )
    return conform(assemble(blocks, ctx))


def generate_demo(
    orders: int,
    seed: int = 7,
    start: date | None = None,
    days: int = 120,
    now: datetime | None = None,
) -> Iterator[pa.Table]:
    """Yield the demo's events in batches of ``BATCH_ORDERS`` orders (EVENT_SCHEMA tables).

    ``orders`` placed over ``days`` days; the last day is partial (cut at ``now``) and
    events after ``now`` are left out, so some deliveries are still under way — a few of
    them about to break their promise.
    """
    if orders < 1:
        raise ValueError("orders must be at least 1")
    period = demo_period(start, days, now)
    sk = skeleton(orders, period, np.random.default_rng([seed, 0]))
    prefix = event_id_prefix(orders, seed, period)
    for number, lo in enumerate(range(0, orders, BATCH_ORDERS)):
        batch = _Batch(number, lo, min(lo + BATCH_ORDERS, orders))
        yield _batch_table(sk, batch, seed, period, prefix)
