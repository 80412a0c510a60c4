"""The demo's proactive-message pilot, simulated honestly.

For the last ``PILOT_DAYS`` days of the demo, VlotBezorgd parcels about to miss their promise
(still undelivered 4 hours before the deadline) trigger the rule in ``proactive.toml``.
Customers who consented to service messages are randomised by the same hashed draw klantreis
uses (``klantreis.act.proactive.arm_of``): 10% holdout. The generator makes customers in the
message arm ask "waar is mijn pakket?" ``1 - MESSAGE_EFFECT`` as often — a simulated effect
that the holdout report must find back (``tests/demo`` checks that it does, with its interval).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from importlib import resources

import numpy as np
import pyarrow as pa

from klantreis.act.proactive import ProactiveConfig, arm_of, parse_proactive_config
from klantreis.demo.clock import HOUR, DemoPeriod
from klantreis.demo.orders import CARRIER_NAMES, Fulfilment

__all__ = [
    "CONSENT_SHARE",
    "MESSAGE_EFFECT",
    "PILOT_DAYS",
    "has_consent",
    "pilot_config",
    "treated",
]

PILOT_DAYS = 21
#: Simulated: a customer who got the message asks "where is my parcel?" 40% less often.
MESSAGE_EFFECT = 0.4
#: Share of demo customers who allow service messages (the rest object or left no address).
CONSENT_SHARE = 0.9
_CARRIER = CARRIER_NAMES.index("VlotBezorgd")


def pilot_config(period: DemoPeriod) -> ProactiveConfig:
    """The demo's rules with the pilot starting ``PILOT_DAYS`` before the period's end."""
    text = resources.files("klantreis.demo").joinpath("proactive.toml").read_text("utf-8")
    config = parse_proactive_config(text, "demo/proactive.toml")
    start = (period.now - timedelta(days=PILOT_DAYS)).date()
    rules = [r.model_copy(update={"start": start}) for r in config.rules]
    return config.model_copy(update={"rules": rules})


def has_consent(customer_id: str) -> bool:
    """The demo's consent for service messages: a stable 90% of customers."""
    digest = hashlib.sha256(f"demo-consent\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < CONSENT_SHARE


def treated(
    f: Fulfilment, journey_ids: pa.Array, customer_ids: pa.Array, period: DemoPeriod
) -> np.ndarray:
    """Orders whose customer got the pilot's message (eligible and in the message arm)."""
    rule = pilot_config(period).rules[0]
    assert rule.start is not None
    start_us = int(datetime.combine(rule.start, datetime.min.time(), UTC).timestamp() * 1e6)
    signal_us = f.deadline - int(rule.lead_hours * HOUR)
    signal = (
        f.shipped
        & (f.carrier == _CARRIER)
        & (f.t_delivered > signal_us)
        & (signal_us >= start_us)
        & (signal_us <= period.now_us)
    )
    out = np.zeros(f.n, dtype=bool)
    jids, cids = journey_ids.to_pylist(), customer_ids.to_pylist()
    for i in np.nonzero(signal)[0].tolist():
        out[i] = has_consent(cids[i]) and arm_of(rule, jids[i]) == "message"
    return out
