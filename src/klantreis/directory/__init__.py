"""The customer directory: contact details and consent per purpose, apart from the event log.

Keyed by the pseudonymous ``customer_id``; holds e-mail, phone, name and language, consent or
objection per purpose (surveys, service messages), the suppression list and erasure of one
customer's contact details. Nothing personal from here goes into the event log or the logs.

It lives in its own DuckDB file (``KLANTREIS_DIRECTORY_PATH``; by default beside the store as
``<store stem>.directory.duckdb``), so that access to it and erasure from it are separate
from the event log. See docs/outbox.md.

>>> with Directory.open(":memory:", secret="s3cret-for-the-doctest") as d:
...     d.upsert("c1", email="jan@example.nl")
...     d.may_contact("c1", "surveys", "email")
(False, 'no_consent')
"""

from klantreis.directory.book import (
    ConsentRecord,
    Contact,
    ContactRow,
    Directory,
    DirectoryError,
    ErasedError,
)
from klantreis.directory.configured import directory_file, open_directory
from klantreis.directory.consent import BASES, PURPOSES, REASONS, ConsentPolicy
from klantreis.directory.importer import ImportSummary, Rejection

__all__ = [
    "BASES",
    "PURPOSES",
    "REASONS",
    "ConsentPolicy",
    "ConsentRecord",
    "Contact",
    "ContactRow",
    "Directory",
    "DirectoryError",
    "ErasedError",
    "ImportSummary",
    "Rejection",
    "directory_file",
    "open_directory",
]
