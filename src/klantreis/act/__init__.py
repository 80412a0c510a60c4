"""Act: follow-up cases routed to the owner of the broken step, SLA clocks with business
hours, proactive messages measured against a randomised holdout, and alerts.

Builds on ``listen`` (re-surveys), ``directory`` (consent) and ``outbox`` (every message).
"""
