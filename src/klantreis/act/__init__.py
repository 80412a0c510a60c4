"""Act: follow-up cases routed to the owner of the broken step, SLA clocks with business
hours, proactive messages measured against a randomised holdout, and alerts.

Builds on ``listen`` (re-surveys), ``directory`` (consent) and ``outbox`` (every message).

Modules (issue 15, points 1-4): ``rules`` (the case-rules TOML), ``engine`` (rule evaluation
in Ibis, in full or per journey batch), ``cases`` (the case tables and their events),
``runner`` (evaluate and escalate against a store), ``sla`` (business-hours clocks, Dutch
holidays, pauses, the escalation ladder, the alert budget), ``outcomes`` (recovery, time to
first action, SLA, repeat contacts, root-cause backlog, re-survey requests).
"""
