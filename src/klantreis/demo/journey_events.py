"""The operational events of each order: web visits, the order, payment, hand-over, promise,
delivery, invoice and return — as column blocks (see ``klantreis.demo.blocks``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from klantreis.demo.blocks import Block, jint, jnum, json_object, jstr, jtime
from klantreis.demo.clock import HOUR, MINUTE
from klantreis.demo.orders import CARRIERS, METHODS, Fulfilment

__all__ = ["fulfilment_blocks"]

_CHANNELS = ("web", "app")


def _visits(f: Fulfilment, channel: np.ndarray, rng: np.random.Generator) -> list[Block]:
    n = f.n
    first = f.t_order - 5 * MINUTE - (rng.exponential(18 * HOUR, n)).astype("int64")
    second = first - (rng.exponential(30 * HOUR, n)).astype("int64")
    again = np.nonzero(rng.random(n) < 0.4)[0]
    tracking = np.nonzero(f.shipped & (rng.random(n) < 0.3))[0]
    t_track = f.t_promised + rng.uniform(HOUR, 16 * HOUR, n).astype("int64")
    blocks = []
    for seq, idx, t, page in (
        (0, np.arange(n), first, "product"),
        (1, again, second, "home"),
        (2, tracking, t_track, "track_trace"),
    ):
        pages = jint(1 + rng.poisson(4, len(idx)))
        blocks.append(
            Block(
                kind="web.visit",
                code="wv",
                order=idx,
                t=t[idx],
                seq=np.full(len(idx), seq),
                touchpoint="website",
                channel=(_CHANNELS, channel[idx]),
                owner="webshop",
                attrs=json_object(len(idx), page=jstr(page, 0), pages=pages),
            )
        )
    return blocks


def _order(
    f: Fulfilment, channel: np.ndarray, segment: np.ndarray, rng: np.random.Generator
) -> list[Block]:
    n = f.n
    idx = np.arange(n)
    items = jint(1 + rng.poisson(0.8, n))
    placed = Block(
        kind="order.placed",
        code="op",
        order=idx,
        t=f.t_order,
        touchpoint="bestellen",
        channel=(_CHANNELS, channel),
        owner="webshop",
        attrs=json_object(
            n,
            amount=jnum(f.amount),
            currency='"EUR"',
            items=items,
            segment=jstr((("nieuw", "terugkerend"), segment), n),
            payment_method=jstr((METHODS, f.method), n),
        ),
    )
    failed = np.nonzero(f.pay_failed)[0]
    reasons = ("geweigerd", "time-out", "geannuleerd")
    pay_failed = Block(
        kind="payment.failed",
        code="pf",
        order=failed,
        t=f.t_pay_failed[failed],
        touchpoint="betalen",
        channel=(_CHANNELS, channel[failed]),
        owner="finance",
        attrs=json_object(
            len(failed),
            method=jstr((METHODS, f.method[failed]), len(failed)),
            reason=jstr((reasons, rng.integers(0, 3, len(failed))), len(failed)),
        ),
    )
    paid = np.nonzero(f.paid)[0]
    pay_ok = Block(
        kind="payment.completed",
        code="pc",
        order=paid,
        t=f.t_paid[paid],
        touchpoint="betalen",
        channel=(_CHANNELS, channel[paid]),
        owner="finance",
        attrs=json_object(
            len(paid),
            method=jstr((METHODS, f.method[paid]), len(paid)),
            amount=jnum(f.amount[paid]),
        ),
    )
    return [placed, pay_failed, pay_ok]


def _carrier_attr(f: Fulfilment, idx: np.ndarray) -> pa.Array | str:
    return jstr((CARRIERS, f.carrier[idx]), len(idx))


def _delivery(f: Fulfilment, rng: np.random.Generator) -> list[Block]:
    s = np.nonzero(f.shipped)[0]
    owner = (CARRIERS, f.carrier[s])
    handed = Block(
        kind="shipment.handed_over",
        code="sh",
        order=s,
        t=f.t_handover[s],
        touchpoint="verzending",
        owner="warehouse",
        attrs=json_object(len(s), carrier=_carrier_attr(f, s)),
    )
    promised = Block(
        kind="delivery.promised",
        code="dp",
        order=s,
        t=f.t_promised[s],
        touchpoint="bezorging",
        channel="email",
        owner=owner,
        attrs=json_object(len(s), deadline=jtime(f.deadline[s]), carrier=_carrier_attr(f, s)),
    )
    fa = s[f.attempt_failed[s]]
    failed = Block(
        kind="delivery.failed",
        code="df",
        order=fa,
        t=f.t_attempt[fa],
        touchpoint="bezorging",
        owner=(CARRIERS, f.carrier[fa]),
        attrs=json_object(len(fa), reason='"niet_thuis"', carrier=_carrier_attr(f, fa)),
    )
    proofs = ("handtekening", "foto", "brievenbus", "buren")
    completed = Block(
        kind="delivery.completed",
        code="dc",
        order=s,
        t=f.t_delivered[s],
        touchpoint="bezorging",
        owner=owner,
        attrs=json_object(
            len(s),
            carrier=_carrier_attr(f, s),
            proof=jstr((proofs, rng.integers(0, 4, len(s))), len(s)),
        ),
    )
    return [handed, promised, failed, completed]


def _invoice(f: Fulfilment, rng: np.random.Generator) -> list[Block]:
    s = np.nonzero(f.shipped)[0]
    sent = Block(
        kind="invoice.sent",
        code="is",
        order=s,
        t=f.t_invoice[s],
        touchpoint="factuur",
        channel="email",
        owner="finance",
        attrs=json_object(
            len(s), amount=jnum(f.amount[s]), method=jstr((METHODS, f.method[s]), len(s))
        ),
    )
    b = s[f.bounced[s]]
    t_bounce = f.t_invoice[b] + rng.uniform(MINUTE, 20 * MINUTE, len(b)).astype("int64")
    bounced = Block(
        kind="invoice.bounced",
        code="ib",
        order=b,
        t=t_bounce,
        touchpoint="factuur",
        channel="email",
        owner="finance",
        attrs=json_object(len(b), bounce='"hard"', reason='"mailbox_unknown"'),
    )
    k = s[f.method[s] == 2]
    paid = Block(
        kind="invoice.paid",
        code="ip",
        order=k,
        t=f.t_invoice_paid[k],
        touchpoint="factuur",
        owner="finance",
        attrs=json_object(len(k), amount=jnum(f.amount[k]), method='"klarna"'),
    )
    return [sent, bounced, paid]


def _returns(f: Fulfilment, rng: np.random.Generator) -> list[Block]:
    r = np.nonzero(f.returned)[0]
    why = np.where(f.damaged[r], 0, rng.integers(1, 4, len(r)))
    reasons = ("beschadigd", "past_niet", "niet_zoals_verwacht", "bedacht")
    requested = Block(
        kind="return.requested",
        code="rq",
        order=r,
        t=f.t_return_requested[r],
        touchpoint="retour",
        channel="web",
        owner="warehouse",
        attrs=json_object(len(r), reason=jstr((reasons, why), len(r))),
    )
    received = Block(
        kind="return.received",
        code="rr",
        order=r,
        t=f.t_return_received[r],
        touchpoint="retour",
        owner="warehouse",
        attrs=json_object(len(r), refund_deadline=jtime(f.refund_deadline[r])),
    )
    p = np.nonzero(f.refunded)[0]
    # The retour touchpoint's owner keeps the refund promise (same owner as return.received).
    refund = Block(
        kind="refund.paid",
        code="rp",
        order=p,
        t=f.t_refund[p],
        touchpoint="retour",
        owner="warehouse",
        attrs=json_object(len(p), amount=jnum(f.amount[p])),
    )
    return [requested, received, refund]


def fulfilment_blocks(f: Fulfilment, repeat: np.ndarray, rng: np.random.Generator) -> list[Block]:
    """Every operational event of the batch's orders."""
    channel = (rng.random(f.n) < 0.35).astype("int64")
    return (
        _visits(f, channel, rng)
        + _order(f, channel, repeat.astype("int64"), rng)
        + _delivery(f, rng)
        + _invoice(f, rng)
        + _returns(f, rng)
    )
