"""One persisted outbox for every message that leaves klantreis (e-mail via SMTP, webhooks,
Web Push): retries with back-off, a delivery log, replay; at-least-once to a receiver and
never twice to a customer. Knows nothing of surveys or cases.
"""
