"""The customer directory: contact details and consent per purpose, apart from the event log.

Keyed by the pseudonymous ``customer_id``; holds e-mail, phone, name and language, consent or
objection per purpose (surveys, service messages), the suppression list and erasure of one
customer's contact details. Nothing personal from here goes into the event log or the logs.
"""
