"""Orders and their fulfilment: customers, order times, payment, the warehouse's hand-over to
one of three carriers, the delivery promise and the actual delivery, invoices and returns.

The story lives in the numbers here: SnelPost delivers ~96% on time, PakketDirect ~90%, and
VlotBezorgd ~72% — worse over the last five weeks, while it gets more of the volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from klantreis.demo.clock import DAY, HOUR, MINUTE, DemoPeriod

__all__ = ["CARRIERS", "CARRIER_NAMES", "Fulfilment", "Skeleton", "fulfil", "skeleton"]

CARRIERS = ("carrier:snelpost", "carrier:pakketdirect", "carrier:vlotbezorgd")
CARRIER_NAMES = ("SnelPost", "PakketDirect", "VlotBezorgd")
METHODS = ("ideal", "creditcard", "klarna")

_HOUR_PROFILE = np.array(
    [
        0.2,
        0.1,
        0.05,
        0.05,
        0.05,
        0.1,
        0.3,
        0.6,
        0.9,
        1.0,
        1.1,
        1.1,
        1.2,
        1.2,
        1.1,
        1.1,
        1.1,
        1.2,
        1.3,
        1.6,
        1.9,
        2.0,
        1.6,
        0.8,
    ]
)
_WEEKDAY = np.array([1.1, 1.0, 1.0, 0.95, 0.9, 0.8, 1.15])
_CARRIER_SHARE_START = np.array([0.42, 0.35, 0.23])
_CARRIER_SHARE_END = np.array([0.30, 0.28, 0.42])
#: Last weeks of the period in which VlotBezorgd's service degrades.
DECLINE_DAYS = 35


@dataclass
class Skeleton:
    """All orders of the demo, in time order, with their customer."""

    t_order: np.ndarray
    customer: np.ndarray
    repeat: np.ndarray
    english: np.ndarray
    mood: np.ndarray


def _order_times(n: int, period: DemoPeriod, rng: np.random.Generator) -> np.ndarray:
    days = np.arange(period.days)
    weights = (1 + 0.35 * days / period.days) * _WEEKDAY[period.weekday(days)]
    hour_p = _HOUR_PROFILE / _HOUR_PROFILE.sum()
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        m = int((n - have) * 1.2) + 16
        day = rng.choice(period.days, size=m, p=weights / weights.sum())
        offset = rng.choice(24, size=m, p=hour_p) * HOUR + rng.integers(0, HOUR, size=m)
        t = period.local(day, offset)
        t = t[t <= period.now_us - 10 * MINUTE]
        out.append(t[: n - have])
        have += len(out[-1])
    return np.sort(np.concatenate(out))


def skeleton(n: int, period: DemoPeriod, rng: np.random.Generator) -> Skeleton:
    """Order times and customers: some customers order more than once (skewed)."""
    n_customers = max(1, int(n * 0.8))
    customer = (n_customers * rng.random(n) ** 1.4).astype("int64")
    _, first = np.unique(customer, return_index=True)
    repeat = np.ones(n, dtype=bool)
    repeat[first] = False
    english = rng.random(n_customers) < 0.15
    mood = rng.normal(0.0, 0.45, n_customers)
    return Skeleton(
        _order_times(n, period, rng), customer, repeat, english[customer], mood[customer]
    )


@dataclass
class Fulfilment:
    """What happened to each order of a batch (times in UTC microseconds)."""

    n: int
    t_order: np.ndarray
    amount: np.ndarray
    method: np.ndarray
    pay_failed: np.ndarray
    t_pay_failed: np.ndarray
    paid: np.ndarray
    t_paid: np.ndarray
    cancel_request: np.ndarray
    change_request: np.ndarray
    t_request: np.ndarray
    shipped: np.ndarray
    t_handover: np.ndarray
    carrier: np.ndarray
    t_promised: np.ndarray
    deadline: np.ndarray
    late: np.ndarray
    attempt_failed: np.ndarray
    t_attempt: np.ndarray
    t_delivered: np.ndarray
    damaged: np.ndarray
    not_received: np.ndarray
    decline: np.ndarray
    t_invoice: np.ndarray
    bounced: np.ndarray
    t_invoice_paid: np.ndarray
    returned: np.ndarray
    t_return_requested: np.ndarray
    t_return_received: np.ndarray
    refund_deadline: np.ndarray
    refunded: np.ndarray
    t_refund: np.ndarray

    @property
    def late_hours(self) -> np.ndarray:
        hours: np.ndarray = np.maximum(self.t_delivered - self.deadline, 0) / HOUR
        return hours


def _uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return rng.uniform(lo, hi, n).astype("int64")


def _payment(t_order: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = len(t_order)
    method = rng.choice(3, size=n, p=[0.6, 0.15, 0.25])
    fail_p = np.array([0.03, 0.08, 0.05])[method]
    failed = rng.random(n) < fail_p
    retried = rng.random(n) < 0.75
    t_failed = t_order + _uniform(rng, 20e6, 3 * MINUTE, n)
    t_paid = np.where(
        failed,
        t_failed + _uniform(rng, 2 * MINUTE, 40 * MINUTE, n),
        t_order + _uniform(rng, 10e6, 90e6, n),
    )
    amount = np.round(np.exp(rng.normal(np.log(65), 0.8, n)), 2) + 4.95
    return {
        "method": method,
        "pay_failed": failed,
        "t_pay_failed": t_failed,
        "paid": ~failed | retried,
        "t_paid": t_paid,
        "amount": amount,
    }


def _handover(t_order: np.ndarray, period: DemoPeriod, rng: np.random.Generator) -> np.ndarray:
    day = period.day_of(t_order)
    clock = t_order - period.local(day, 0)
    day = day + (clock >= 20 * HOUR) + (rng.random(len(day)) < 0.04)
    return period.local(day, 20 * HOUR + 30 * MINUTE + _uniform(rng, 0, 150 * MINUTE, len(day)))


def _carrier(decline: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    share = (
        _CARRIER_SHARE_START[None, :] * (1 - decline[:, None])
        + _CARRIER_SHARE_END[None, :] * decline[:, None]
    )
    cum = np.cumsum(share, axis=1)
    carrier: np.ndarray = (rng.random(len(decline))[:, None] > cum).sum(axis=1).clip(0, 2)
    return carrier


def _deadline(
    t_handover: np.ndarray, carrier: np.ndarray, period: DemoPeriod, rng: np.random.Generator
) -> np.ndarray:
    day = period.day_of(t_handover) + 1
    day = day + (period.weekday(day) == 6)  # no deliveries on Sunday
    slot_p = np.array([[0.25, 0.5, 0.25], [0.2, 0.5, 0.3], [0.1, 0.4, 0.5]])[carrier]
    slot = (rng.random(len(day))[:, None] > np.cumsum(slot_p, axis=1)).sum(axis=1).clip(0, 2)
    return period.local(day, np.array([12, 18, 21])[slot] * HOUR)


def _delivery(f: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    carrier, decline, deadline = f["carrier"], f["decline"], f["deadline"]
    n = len(carrier)
    on_time_p = np.array([0.962, 0.905, 0.80])[carrier]
    on_time_p = np.where(carrier == 2, on_time_p - 0.45 * decline**1.3, on_time_p)
    late = rng.random(n) > on_time_p
    attempt_failed = late & (rng.random(n) < np.array([0.25, 0.3, 0.35])[carrier])
    t_attempt = deadline - _uniform(rng, 0.5 * HOUR, 4 * HOUR, n)
    mean_late = 14 * HOUR * (1 + decline * (carrier == 2))
    late_by = (0.25 * HOUR + rng.exponential(1.0, n) * mean_late).clip(0, 120 * HOUR)
    late_by = np.where(
        attempt_failed, DAY + rng.normal(0, 2 * HOUR, n).clip(-3 * HOUR, 3 * HOUR), late_by
    )
    early = np.maximum(
        deadline - _uniform(rng, 0.2 * HOUR, 7 * HOUR, n), f["t_handover"] + 10 * HOUR
    )
    f["late"], f["attempt_failed"], f["t_attempt"] = late, attempt_failed, t_attempt
    f["t_delivered"] = np.where(late, deadline + late_by.astype("int64"), early)
    f["damaged"] = rng.random(n) < np.array([0.012, 0.02, 0.04])[carrier]
    f["not_received"] = rng.random(n) < np.array([0.004, 0.006, 0.02])[carrier]


def _requests(f: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Customers who ask to cancel or change the order before it ships."""
    n = len(f["t_order"])
    r = rng.random(n)
    f["cancel_request"] = r < 0.015
    f["change_request"] = (r >= 0.015) & (r < 0.04)
    window = np.maximum(f["t_handover"] - f["t_order"], 20 * MINUTE)
    f["t_request"] = f["t_order"] + (rng.uniform(0.05, 0.8, n) * window).astype("int64")
    cancelled = f["cancel_request"] & (rng.random(n) < 0.7)
    f["shipped"] = f["paid"] & ~cancelled


def _invoice(f: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    n = len(f["t_order"])
    f["t_invoice"] = f["t_handover"] + _uniform(rng, MINUTE, 15 * MINUTE, n)
    f["bounced"] = rng.random(n) < 0.03
    pay_after = np.where(
        f["bounced"], _uniform(rng, 15 * DAY, 30 * DAY, n), _uniform(rng, DAY, 13 * DAY, n)
    )
    f["t_invoice_paid"] = f["t_invoice"] + pay_after


def _returns(f: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    n = len(f["t_order"])
    p = 0.07 + 0.5 * f["damaged"] + 0.08 * f["late"] + 0.3 * f["cancel_request"]
    f["returned"] = f["shipped"] & ~f["not_received"] & (rng.random(n) < p)
    f["t_return_requested"] = f["t_delivered"] + _uniform(rng, 0.5 * DAY, 13 * DAY, n)
    f["t_return_received"] = f["t_return_requested"] + _uniform(rng, 1.5 * DAY, 6 * DAY, n)
    f["refund_deadline"] = f["t_return_received"] + 14 * DAY
    late = rng.random(n) < 0.11
    f["refunded"] = f["returned"] & (rng.random(n) < 0.97)
    f["t_refund"] = np.where(
        late,
        f["refund_deadline"] + _uniform(rng, DAY, 12 * DAY, n),
        f["t_return_received"] + _uniform(rng, DAY, 9 * DAY, n),
    )


def fulfil(t_order: np.ndarray, period: DemoPeriod, rng: np.random.Generator) -> Fulfilment:
    """Simulate payment, shipping, delivery, invoicing and returns for a batch of orders."""
    f = _payment(t_order, rng)
    f["t_order"] = t_order
    f["t_handover"] = np.maximum(_handover(t_order, period, rng), f["t_paid"] + 30 * MINUTE)
    _requests(f, rng)
    day = period.day_of(f["t_handover"])
    f["decline"] = ((day - (period.days - DECLINE_DAYS)) / DECLINE_DAYS).clip(0, 1)
    f["carrier"] = _carrier(f["decline"], rng)
    f["t_promised"] = f["t_handover"] + _uniform(rng, 5 * MINUTE, 60 * MINUTE, len(t_order))
    f["deadline"] = _deadline(f["t_handover"], f["carrier"], period, rng)
    _delivery(f, rng)
    _invoice(f, rng)
    _returns(f, rng)
    return Fulfilment(n=len(t_order), **f)
