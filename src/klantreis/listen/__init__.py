"""Listen: surveys klantreis sends itself.

Survey definitions (TOML), triggers from the event log, the server-side contact-rule engine
(fatigue) with a reason code for every invitation not sent, the invitations ledger, signed
single-use links, the respondent form and widget. Answers enter the event log as
``survey.response`` events through the one ingest pipeline. Contact details come from
``directory``; messages leave through ``outbox``.

Modules: ``ledger`` (the invitations and the messages handed out), ``triggers`` (planning from
the log), ``rules`` (the contact-rule engine, reason codes, why-not), ``run`` (the scheduler
step), ``rates`` (response rates, suppressed by reason). See docs/listen.md.
"""
