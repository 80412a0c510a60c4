"""Inbound contacts whose reasons follow what went wrong, on every channel.

A late parcel makes "waar is mijn pakket?" likely, a bounced invoice e-mail "factuur niet
ontvangen", a failed payment "betaling mislukt", and so on. Channels differ the way real
ones do: the phone answers fast but resolves less ("curt on the phone"); social media is slow
but resolves most ("sweet on social"). Unresolved contacts often come back (repeat contacts)
and some get a call back (``contact.outbound``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from klantreis.demo.blocks import Block, jbool, jnum, json_object, jstr, take
from klantreis.demo.clock import DAY, HOUR, MINUTE
from klantreis.demo.orders import CARRIER_NAMES, Fulfilment
from klantreis.demo.pilot import MESSAGE_EFFECT
from klantreis.demo.texts import REASONS, render_contacts

__all__ = ["CONTACT_CHANNELS", "Contacts", "contact_blocks", "draw_contacts"]

CONTACT_CHANNELS = ("phone", "email", "chat", "whatsapp", "social", "store")
_CHANNEL_P_NL = np.array([0.30, 0.24, 0.20, 0.13, 0.08, 0.05])
_CHANNEL_P_EN = np.array([0.12, 0.40, 0.33, 0.08, 0.07, 0.0])
_RESPONSE_MEDIAN_MIN = np.array([4.0, 480.0, 2.5, 35.0, 120.0, 6.0])
_RESPONSE_SIGMA = np.array([0.6, 0.7, 0.6, 0.8, 0.7, 0.5])
_RESOLVED_P = np.array([0.60, 0.68, 0.72, 0.80, 0.87, 0.84])
_REASON = {r: i for i, r in enumerate(REASONS)}


@dataclass
class Contacts:
    """One row per inbound contact of the batch."""

    order: np.ndarray
    reason: np.ndarray
    t: np.ndarray
    channel: np.ndarray
    repeat: np.ndarray
    resolved: np.ndarray
    response_minutes: np.ndarray

    @property
    def seq(self) -> np.ndarray:
        """Unique per journey: one first contact and one repeat per reason."""
        seq: np.ndarray = self.reason * 2 + self.repeat
        return seq


#: (reason id, indices of the orders that contact us, the moments they do).
Trigger = tuple[str, np.ndarray, np.ndarray]


def _between(rng: np.random.Generator, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    t: np.ndarray = a + (rng.uniform(0.1, 0.9, len(a)) * np.maximum(b - a, MINUTE)).astype("int64")
    return t


def _after(rng: np.random.Generator, t: np.ndarray, lo: float, hi: float) -> np.ndarray:
    later: np.ndarray = t + rng.uniform(lo, hi, len(t)).astype("int64")
    return later


def _delivery_triggers(
    f: Fulfilment, r: np.ndarray, rng: np.random.Generator, calmed: np.ndarray
) -> list[Trigger]:
    s = f.shipped
    p_late = (0.45 + 0.2 * f.attempt_failed) * np.where(calmed, 1 - MESSAGE_EFFECT, 1.0)
    late = np.nonzero(s & f.late & (r < p_late))[0]
    anxious = np.nonzero(s & ~f.late & (r < 0.025))[0]
    damaged = np.nonzero(s & f.damaged & (r < 0.7))[0]
    missing = np.nonzero(s & f.not_received & (r < 0.85))[0]
    return [
        ("waar_is_mijn_pakket", late, _between(rng, f.deadline[late], f.t_delivered[late])),
        (
            "waar_is_mijn_pakket",
            anxious,
            _between(rng, f.t_promised[anxious], f.t_delivered[anxious]),
        ),
        ("pakket_beschadigd", damaged, _after(rng, f.t_delivered[damaged], HOUR, 48 * HOUR)),
        (
            "bezorgd_niet_ontvangen",
            missing,
            _after(rng, f.t_delivered[missing], 2 * HOUR, 30 * HOUR),
        ),
    ]


def _return_triggers(f: Fulfilment, r: np.ndarray, rng: np.random.Generator) -> list[Trigger]:
    ask = np.nonzero(f.returned & (r < 0.25))[0]
    t_ask = np.maximum(
        f.t_return_requested[ask] - rng.uniform(HOUR, 30 * HOUR, len(ask)),
        f.t_delivered[ask] + 10 * MINUTE,
    ).astype("int64")
    refund_late = f.refunded & (f.t_refund > f.refund_deadline)
    late = np.nonzero(refund_late & (r < 0.6))[0]
    impatient = np.nonzero(f.refunded & ~refund_late & (r < 0.04))[0]
    t_imp = np.minimum(
        _after(rng, f.t_return_received[impatient], 2 * DAY, 6 * DAY), f.t_refund[impatient] - HOUR
    )
    rejected = np.nonzero(f.returned & ~f.refunded & (r < 0.5))[0]
    return [
        ("retour_aanmelden", ask, t_ask),
        ("terugbetaling_status", late, _between(rng, f.refund_deadline[late], f.t_refund[late])),
        ("terugbetaling_status", impatient, t_imp),
        (
            "terugbetaling_status",
            rejected,
            _after(rng, f.t_return_received[rejected], 5 * DAY, 15 * DAY),
        ),
    ]


def _other_triggers(f: Fulfilment, r: np.ndarray, rng: np.random.Generator) -> list[Trigger]:
    s = f.shipped
    p_bounce = np.where(f.method == 2, 0.6, 0.35)
    bounced = np.nonzero(s & f.bounced & (r < p_bounce))[0]
    missing = np.nonzero(s & ~f.bounced & (r < 0.008))[0]
    u = rng.random(f.n)
    wrong = np.nonzero(s & (u < 0.012))[0]
    payment = np.nonzero(f.pay_failed & (r < np.where(f.paid, 0.35, 0.6)))[0]
    question = np.nonzero((u >= 0.012) & (u < 0.042))[0]
    after = s[question] & (rng.random(len(question)) < 0.5)
    t_q = np.where(
        after,
        _after(rng, f.t_delivered[question], DAY, 20 * DAY),
        f.t_order[question] - rng.uniform(HOUR, 3 * DAY, len(question)).astype("int64"),
    )
    login = np.nonzero((u >= 0.042) & (u < 0.052))[0]
    return [
        ("factuur_niet_ontvangen", bounced, _after(rng, f.t_invoice[bounced], DAY, 10 * DAY)),
        ("factuur_niet_ontvangen", missing, _after(rng, f.t_invoice[missing], DAY, 10 * DAY)),
        ("factuur_onjuist", wrong, _after(rng, f.t_invoice[wrong], HOUR, 5 * DAY)),
        ("betaling_mislukt", payment, _after(rng, f.t_pay_failed[payment], 2 * MINUTE, 3 * HOUR)),
        ("bestelling_wijzigen", np.nonzero(f.change_request)[0], f.t_request[f.change_request]),
        ("bestelling_annuleren", np.nonzero(f.cancel_request)[0], f.t_request[f.cancel_request]),
        ("productvraag", question, t_q),
        (
            "inloggen_account",
            login,
            f.t_order[login] - rng.uniform(10 * MINUTE, 2 * DAY, len(login)).astype("int64"),
        ),
    ]


def _channels(english: np.ndarray, rng: np.random.Generator, phone_bias: float = 0.0) -> np.ndarray:
    p_nl = _CHANNEL_P_NL.copy()
    p_nl[0] += phone_bias
    cum_nl, cum_en = np.cumsum(p_nl / p_nl.sum()), np.cumsum(_CHANNEL_P_EN)
    u = rng.random(len(english))
    ch_nl = np.searchsorted(cum_nl, u, side="right")
    ch_en = np.searchsorted(cum_en, u, side="right")
    return np.where(english, ch_en, ch_nl).clip(0, len(CONTACT_CHANNELS) - 1)


def _handling(
    channel: np.ndarray, reason: np.ndarray, repeat: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n = len(channel)
    minutes = _RESPONSE_MEDIAN_MIN[channel] * np.exp(rng.normal(0, 1, n) * _RESPONSE_SIGMA[channel])
    p = _RESOLVED_P[channel] * np.where(reason == _REASON["bezorgd_niet_ontvangen"], 0.7, 1.0)
    p = np.minimum(p + 0.1 * repeat, 0.97)
    return np.round(minutes, 1), rng.random(n) < p


def draw_contacts(
    f: Fulfilment,
    english: np.ndarray,
    rng: np.random.Generator,
    calmed: np.ndarray | None = None,
) -> Contacts:
    """Who contacts us, why, when and how; plus repeats of unresolved contacts.

    ``calmed`` marks the orders whose customer got a proactive message about the late parcel
    (``klantreis.demo.pilot``): they ask "waar is mijn pakket?" less often."""
    r = rng.random(f.n)
    calmed = np.zeros(f.n, dtype=bool) if calmed is None else calmed
    triggers = (
        _delivery_triggers(f, r, rng, calmed)
        + _return_triggers(f, r, rng)
        + _other_triggers(f, r, rng)
    )
    order = np.concatenate([idx for _, idx, _ in triggers]).astype("int64")
    reason = np.concatenate([np.full(len(idx), _REASON[name]) for name, idx, _ in triggers])
    t = np.concatenate([ts for _, _, ts in triggers]).astype("int64")
    # A journey asks about one reason once (first trigger wins), then maybe again (repeat).
    _, first = np.unique(order * 100 + reason, return_index=True)
    order, reason, t = order[first], reason[first], t[first]
    channel = _channels(english[order], rng)
    minutes, resolved = _handling(channel, reason, np.zeros(len(order), "int64"), rng)
    again = np.nonzero(~resolved & (rng.random(len(order)) < 0.45))[0]
    r_channel = _channels(english[order[again]], rng, phone_bias=0.15)
    r_minutes, r_resolved = _handling(r_channel, reason[again], np.ones(len(again), "int64"), rng)
    r_t = t[again] + rng.uniform(3 * HOUR, 60 * HOUR, len(again)).astype("int64")
    return Contacts(
        order=np.concatenate([order, order[again]]),
        reason=np.concatenate([reason, reason[again]]),
        t=np.concatenate([t, r_t]),
        channel=np.concatenate([channel, r_channel]),
        repeat=np.concatenate([np.zeros(len(order), "int64"), np.ones(len(again), "int64")]),
        resolved=np.concatenate([resolved, r_resolved]),
        response_minutes=np.concatenate([minutes, r_minutes]),
    )


def contact_ids(c: Contacts, journey_ids: pa.Array) -> pa.Array:
    seq = pc.cast(pa.array(c.seq), pa.string())
    return pc.binary_join_element_wise(take(journey_ids, c.order), "-C", seq, "")


def _agents(n: int, rng: np.random.Generator) -> pa.Array:
    number = pc.utf8_lpad(pc.cast(pa.array(rng.integers(1, 41, n)), pa.string()), 2, "0")
    return pc.binary_join_element_wise('"agent-', number, '"', "")


def _callbacks(c: Contacts, cid: pa.Array, rng: np.random.Generator) -> Block:
    """Customer service calls or mails back on some unresolved contacts."""
    back = np.nonzero(~c.resolved & (rng.random(len(c.order)) < 0.3))[0]
    n = len(back)
    t_back = c.t[back] + rng.uniform(HOUR, 26 * HOUR, n).astype("int64")
    replied = cid.take(pa.array(back, pa.int64()))
    return Block(
        kind="contact.outbound",
        code="co",
        order=c.order[back],
        t=t_back,
        seq=c.seq[back],
        touchpoint="klantenservice",
        channel=(("phone", "email"), rng.integers(0, 2, n)),
        owner="customer_service",
        attrs=json_object(
            n,
            contact_id=jstr(pc.binary_join_element_wise(replied, "-T", ""), n),
            in_reply_to=jstr(replied, n),
            reason=jstr((REASONS, c.reason[back]), n),
        ),
    )


def contact_blocks(
    c: Contacts, f: Fulfilment, english: np.ndarray, journey_ids: pa.Array, rng: np.random.Generator
) -> list[Block]:
    """``contact.inbound`` with text and attrs, and call-backs (``contact.outbound``)."""
    n = len(c.order)
    en = english[c.order]
    carriers = [CARRIER_NAMES[k] for k in f.carrier[c.order].tolist()]
    texts = render_contacts(c.reason, en, take(journey_ids, c.order).to_pylist(), carriers, rng)
    cid = contact_ids(c, journey_ids)
    inbound = Block(
        kind="contact.inbound",
        code="ci",
        order=c.order,
        t=c.t,
        seq=c.seq,
        touchpoint="klantenservice",
        channel=(CONTACT_CHANNELS, c.channel),
        owner="customer_service",
        text=texts,
        lang=(("nl", "en"), en.astype("int64")),
        attrs=json_object(
            n,
            contact_id=jstr(cid, n),
            reason=jstr((REASONS, c.reason), n),
            response_minutes=jnum(c.response_minutes, 1),
            resolved=jbool(c.resolved),
            agent=_agents(n, rng),
        ),
    )
    return [inbound, _callbacks(c, cid, rng)]
