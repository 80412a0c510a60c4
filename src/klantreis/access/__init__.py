"""Who may do what. ``accounts``: users with a role (``ROLES``: admin, analyst, viewer), their
hashed passwords and sessions, and API tokens with scopes (``SCOPES``: ingest, read), kept in
the store. ``masking``: personal data hidden from people whose role may not see it."""
