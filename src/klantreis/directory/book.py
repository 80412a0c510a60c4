"""The directory itself: one DuckDB file of its own, apart from the event store.

Tables: ``contacts`` (one row per customer: e-mail, phone, name, language, where the details
came from), ``consents`` (every consent or objection ever recorded, per purpose; the latest
counts), ``suppressions`` (SHA-256 digests of addresses never to contact) and ``erasures``
(a tombstone per erased customer: the pseudonymous id and the time, nothing else).

Erasure deletes the customer's contact details and consent history and then rewrites the
database file (``COPY FROM DATABASE`` into a fresh file that replaces the old one): DuckDB
leaves deleted values in freed blocks of the file, so without the rewrite an erased address
could still be read from the disk file.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import pyarrow as pa

from klantreis.directory import tokens
from klantreis.directory.addresses import address_digest, normalise_email, normalise_phone
from klantreis.directory.consent import (
    CHANNEL_FIELDS,
    PURPOSES,
    ConsentPolicy,
    check_purpose,
    decide,
)

if TYPE_CHECKING:
    from klantreis.directory.importer import ImportSummary

__all__ = [
    "ConsentRecord",
    "Contact",
    "ContactRow",
    "Directory",
    "DirectoryError",
    "ErasedError",
]

log = logging.getLogger(__name__)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS contacts (
        customer_id VARCHAR PRIMARY KEY, email VARCHAR, phone VARCHAR, name VARCHAR,
        lang VARCHAR, source VARCHAR, updated_at TIMESTAMPTZ NOT NULL)""",
    "CREATE SEQUENCE IF NOT EXISTS consent_seq",
    """CREATE TABLE IF NOT EXISTS consents (
        customer_id VARCHAR NOT NULL, purpose VARCHAR NOT NULL, granted BOOLEAN NOT NULL,
        source VARCHAR NOT NULL, given_at TIMESTAMPTZ NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL, seq BIGINT NOT NULL DEFAULT nextval('consent_seq'))""",
    "CREATE INDEX IF NOT EXISTS consents_customer ON consents (customer_id)",
    """CREATE TABLE IF NOT EXISTS suppressions (
        digest VARCHAR PRIMARY KEY, reason VARCHAR NOT NULL, suppressed_at TIMESTAMPTZ NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS erasures (
        customer_id VARCHAR PRIMARY KEY, erased_at TIMESTAMPTZ NOT NULL)""",
    # the customer's own time zone (IANA name) for quiet hours; added after the first version
    "ALTER TABLE contacts ADD COLUMN IF NOT EXISTS timezone VARCHAR",
)

_CONTACT_SCHEMA = pa.schema(
    [
        (name, pa.string())
        for name in ("customer_id", "email", "phone", "name", "lang", "source", "timezone")
    ]
)

#: The merge of new rows (``batch``) into ``contacts``: ``None`` keeps the stored value,
#: an empty string clears it.
_MERGE = """
INSERT OR REPLACE INTO contacts
SELECT b.customer_id,
       CASE WHEN b.email = '' THEN NULL ELSE coalesce(b.email, o.email) END,
       CASE WHEN b.phone = '' THEN NULL ELSE coalesce(b.phone, o.phone) END,
       CASE WHEN b.name = '' THEN NULL ELSE coalesce(b.name, o.name) END,
       CASE WHEN b.lang = '' THEN NULL ELSE coalesce(b.lang, o.lang) END,
       b.source, ?,
       CASE WHEN b.timezone = '' THEN NULL ELSE coalesce(b.timezone, o.timezone) END
FROM batch b LEFT JOIN contacts o USING (customer_id)
"""

_DECISION = """
WITH ids AS (SELECT DISTINCT unnest(?::VARCHAR[]) AS customer_id),
latest AS (
    SELECT customer_id, arg_max(granted, (given_at, seq)) AS granted
    FROM consents WHERE purpose = ? AND customer_id IN (SELECT customer_id FROM ids)
    GROUP BY customer_id)
SELECT ids.customer_id, e.customer_id IS NOT NULL, l.granted, k.email, k.phone,
       s_mail.digest IS NOT NULL, s_phone.digest IS NOT NULL
FROM ids
LEFT JOIN erasures e ON e.customer_id = ids.customer_id
LEFT JOIN latest l ON l.customer_id = ids.customer_id
LEFT JOIN contacts k ON k.customer_id = ids.customer_id
LEFT JOIN suppressions s_mail ON s_mail.digest = sha256(lower(k.email))
LEFT JOIN suppressions s_phone ON s_phone.digest = sha256(k.phone)
"""


_ADDRESS = {
    "email": "SELECT email FROM contacts WHERE customer_id = ?",
    "phone": "SELECT phone FROM contacts WHERE customer_id = ?",
}


class DirectoryError(RuntimeError):
    """The directory cannot do what was asked (no secret for tokens, file in use)."""


class ErasedError(ValueError):
    """Details for a customer whose details were erased, without ``revive=True``."""


@dataclass(frozen=True)
class Contact:
    customer_id: str
    email: str | None
    phone: str | None
    name: str | None
    lang: str | None
    #: The customer's time zone (IANA name), None: the journey's.
    timezone: str | None = None


@dataclass(frozen=True)
class ConsentRecord:
    purpose: str
    granted: bool
    source: str
    given_at: datetime


@dataclass(frozen=True)
class ContactRow:
    """One validated row, as :meth:`Directory.store_rows` stores it."""

    customer_id: str
    email: str | None
    phone: str | None
    name: str | None
    lang: str | None
    source: str
    timezone: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(at: datetime | None) -> datetime:
    if at is None:
        return _now()
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def check_timezone(value: str) -> str:
    """``value`` trimmed when it is an IANA time zone name (``Europe/Amsterdam``,
    ``America/Curacao``); a ``ValueError`` saying so otherwise.

    >>> check_timezone(" America/Curacao ")
    'America/Curacao'
    """
    text = value.strip()
    if not text or len(text) > 64 or text.startswith("/") or ".." in text:
        raise ValueError("time zone must be an IANA name like Europe/Amsterdam")
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("time zone must be an IANA name like Europe/Amsterdam") from None
    return text


def check_customer_id(customer_id: str) -> str:
    text = customer_id.strip() if isinstance(customer_id, str) else ""
    if not text:
        raise ValueError("customer id is empty")
    if len(text) > 200:
        raise ValueError("customer id is longer than 200 characters")
    return text


class Directory:
    """Contact details and consent, in their own DuckDB file. Open with :meth:`open`; use
    as a context manager or call :meth:`close`. Thread-safe (one lock)."""

    def __init__(
        self,
        path: str | Path,
        *,
        secret: str | bytes | None = None,
        policy: ConsentPolicy | None = None,
        default_country: str = "31",
    ) -> None:
        self.path = str(path)
        self.policy = policy or ConsentPolicy()
        self.default_country = default_country
        self._key = tokens.derive_key(secret) if secret else None
        self._lock = threading.RLock()
        self._con = self._connect()
        with self._transaction() as con:
            for ddl in _SCHEMA:
                con.execute(ddl).fetchall()

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        secret: str | bytes | None = None,
        policy: ConsentPolicy | None = None,
        default_country: str = "31",
    ) -> Directory:
        """Open (and create when missing) the directory at ``path`` (``":memory:"`` for a
        throw-away one). ``secret`` signs unsubscribe tokens."""
        return cls(path, secret=secret, policy=policy, default_country=default_country)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            return duckdb.connect(self.path)
        except duckdb.IOException as exc:
            raise DirectoryError(f"cannot open directory {self.path}: {exc}") from exc

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            self._con.execute("BEGIN TRANSACTION").fetchall()
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK").fetchall()
                raise
            self._con.execute("COMMIT").fetchall()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._con.execute(sql, list(params)).fetchall()

    # -- contact details ---------------------------------------------------------------------
    def validated(
        self,
        customer_id: str,
        *,
        email: str | None = None,
        phone: str | None = None,
        name: str | None = None,
        lang: str | None = None,
        source: str = "import",
        timezone: str | None = None,
    ) -> ContactRow:
        """The row as it would be stored; ``ValueError`` naming the bad field."""
        cid = check_customer_id(customer_id)
        mail = normalise_email(email) if email else email
        tel = normalise_phone(phone, self.default_country) if phone else phone
        if name is not None and len(name) > 200:
            raise ValueError("name is longer than 200 characters")
        if lang and not (2 <= len(lang.strip()) <= 12):
            raise ValueError("language must be a code like nl, en or nl-BE")
        zone = check_timezone(timezone) if timezone else timezone
        return ContactRow(
            cid,
            mail,
            tel,
            name.strip() if name else name,
            lang.strip() if lang else lang,
            source,
            zone,
        )

    def upsert(
        self,
        customer_id: str,
        *,
        email: str | None = None,
        phone: str | None = None,
        name: str | None = None,
        lang: str | None = None,
        source: str = "import",
        revive: bool = False,
        timezone: str | None = None,
    ) -> None:
        """Store or update a customer's details: ``None`` keeps what is stored, ``""``
        clears it. A bad e-mail address or phone number is a ``ValueError`` saying why. An
        erased customer is refused (:class:`ErasedError`) unless ``revive`` (they gave their
        details again)."""
        row = self.validated(
            customer_id,
            email=email,
            phone=phone,
            name=name,
            lang=lang,
            source=source,
            timezone=timezone,
        )
        with self._transaction() as con:
            if self._erased(con, [row.customer_id]):
                if not revive:
                    raise ErasedError(
                        "this customer's details were erased on request; pass revive=True"
                        " only when they gave their details again"
                    )
                con.execute(
                    "DELETE FROM erasures WHERE customer_id = ?", [row.customer_id]
                ).fetchall()
            self._merge(con, [row])

    def _merge(self, con: duckdb.DuckDBPyConnection, rows: Sequence[ContactRow]) -> None:
        batch = pa.Table.from_pylist([vars(r) for r in rows], schema=_CONTACT_SCHEMA)
        con.register("batch", batch)
        try:
            con.execute(_MERGE, [_now()]).fetchall()
        finally:
            con.unregister("batch")

    def store_rows(self, rows: Sequence[ContactRow]) -> set[str]:
        """Merge validated rows in one transaction; rows of erased customers are not stored
        and their ids are returned."""
        with self._transaction() as con:
            erased = self._erased(con, [r.customer_id for r in rows])
            kept = [r for r in rows if r.customer_id not in erased]
            if kept:
                self._merge(con, kept)
        return erased

    def import_csv(self, path: str | Path, *, source: str | None = None) -> ImportSummary:
        """Import contact details and consent from a CSV file
        (:func:`klantreis.directory.importer.import_csv`)."""
        from klantreis.directory.importer import import_csv

        return import_csv(self, path, source=source)

    @staticmethod
    def _erased(con: duckdb.DuckDBPyConnection, customer_ids: Sequence[str]) -> set[str]:
        rows = con.execute(
            "SELECT customer_id FROM erasures WHERE customer_id IN (SELECT unnest(?::VARCHAR[]))",
            [list(customer_ids)],
        ).fetchall()
        return {r[0] for r in rows}

    def contact(self, customer_id: str) -> Contact | None:
        rows = self._query(
            "SELECT customer_id, email, phone, name, lang, timezone FROM contacts"
            " WHERE customer_id = ?",
            [customer_id],
        )
        return Contact(*rows[0]) if rows else None

    def timezones(self, customer_ids: Sequence[str]) -> dict[str, str]:
        """The customers' own time zones (those that have one), in one query: what the
        contact rules use for quiet hours instead of the journey's."""
        rows = self._query(
            "SELECT customer_id, timezone FROM contacts WHERE timezone IS NOT NULL"
            " AND customer_id IN (SELECT unnest(?::VARCHAR[]))",
            [list(customer_ids)],
        )
        return {cid: zone for cid, zone in rows}

    def count(self) -> int:
        return int(self._query("SELECT count(*) FROM contacts")[0][0])

    # -- consent -------------------------------------------------------------------------------
    def set_consent(
        self,
        customer_id: str,
        purpose: str,
        granted: bool,
        *,
        source: str,
        at: datetime | None = None,
    ) -> None:
        """Record a consent (``granted=True``) or an objection / withdrawal (``False``) for
        ``purpose``; every record is kept, the latest (by ``at``) counts."""
        self.set_consents([(customer_id, purpose, granted)], source=source, at=at)

    def set_consents(
        self,
        records: Iterable[tuple[str, str, bool]],
        *,
        source: str,
        at: datetime | None = None,
    ) -> int:
        """Record many ``(customer_id, purpose, granted)`` at once (one transaction);
        returns how many were stored. Records for erased customers are not stored (their
        tombstone already stops every contact, and a consent record is about them)."""
        given_at, now = _aware(at), _now()
        rows = []
        for customer_id, purpose, granted in records:
            check_purpose(purpose)
            rows.append((check_customer_id(customer_id), purpose, bool(granted)))
        if not source.strip():
            raise ValueError("consent needs a source (where it was given)")
        with self._transaction() as con:
            erased = self._erased(con, [r[0] for r in rows])
            kept = [(c, p, g, source, given_at, now) for c, p, g in rows if c not in erased]
            if kept:
                con.executemany(
                    "INSERT INTO consents (customer_id, purpose, granted, source, given_at,"
                    " recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                    kept,
                )
        return len(kept)

    def consent_history(self, customer_id: str) -> list[ConsentRecord]:
        rows = self._query(
            "SELECT purpose, granted, source, given_at FROM consents WHERE customer_id = ?"
            " ORDER BY given_at, seq",
            [customer_id],
        )
        return [ConsentRecord(*r) for r in rows]

    # -- may we? -------------------------------------------------------------------------------
    def decisions(
        self, customer_ids: Sequence[str], purpose: str, channel: str
    ) -> dict[str, str | None]:
        """For each customer, the reason code that forbids contacting them for ``purpose``
        on ``channel``, or ``None`` when it is allowed (one query for all of them)."""
        check_purpose(purpose)
        basis = self.policy.basis(purpose)
        field = CHANNEL_FIELDS.get(channel)
        if len(customer_ids) == 1:
            return {customer_ids[0]: self._decide_one(customer_ids[0], purpose, basis, field)}
        rows = self._query(_DECISION, [list(customer_ids), purpose])
        out: dict[str, str | None] = {}
        for cid, erased, consent, email, phone, mail_off, phone_off in rows:
            address = {"email": email, "phone": phone}.get(field or "")
            suppressed = mail_off if field == "email" else phone_off
            out[cid] = decide(
                erased=erased,
                consent=consent,
                basis=basis,
                has_address=bool(address),
                suppressed=bool(suppressed),
            )
        return out

    def _decide_one(
        self, customer_id: str, purpose: str, basis: str, field: str | None
    ) -> str | None:
        """One customer with small point queries, stopping at the first reason (the bulk
        query scans the consents; this stays in milliseconds on a million customers)."""
        with self._lock:
            con = self._con
            if con.execute(
                "SELECT 1 FROM erasures WHERE customer_id = ?", [customer_id]
            ).fetchall():
                return "erased"
            latest = con.execute(
                "SELECT granted FROM consents WHERE customer_id = ? AND purpose = ?"
                " ORDER BY given_at DESC, seq DESC LIMIT 1",
                [customer_id, purpose],
            ).fetchall()
            consent = bool(latest[0][0]) if latest else None
            early = decide(
                erased=False, consent=consent, basis=basis, has_address=True, suppressed=False
            )
            if early is not None:
                return early
            address: str | None = None
            if field in _ADDRESS:
                found = con.execute(_ADDRESS[field], [customer_id]).fetchall()
                address = found[0][0] if found else None
            suppressed = False
            if address:
                digest = address_digest(address)
                hits = con.execute("SELECT 1 FROM suppressions WHERE digest = ?", [digest])
                suppressed = bool(hits.fetchall())
        return decide(
            erased=False,
            consent=consent,
            basis=basis,
            has_address=bool(address),
            suppressed=suppressed,
        )

    def may_contact(self, customer_id: str, purpose: str, channel: str) -> tuple[bool, str | None]:
        """``(True, None)``, or ``(False, reason)`` with a reason code from
        :data:`~klantreis.directory.consent.REASONS`."""
        reason = self.decisions([customer_id], purpose, channel)[customer_id]
        return reason is None, reason

    def lookup(self, customer_id: str, purpose: str, channel: str) -> tuple[str | None, str | None]:
        """``(address, None)`` when the customer may be contacted for ``purpose`` on
        ``channel``, else ``(None, reason)``: what the outbox asks at send time."""
        with self._lock:
            reason = self.decisions([customer_id], purpose, channel)[customer_id]
            if reason is not None:
                return None, reason
            found = self.contact(customer_id)
        field = CHANNEL_FIELDS[channel]
        return (getattr(found, field) if found else None), None

    # -- suppression ---------------------------------------------------------------------------
    def suppress(self, address: str, reason: str) -> None:
        """Never contact ``address`` (an e-mail address or phone number) again, whoever it
        belongs to; only its SHA-256 digest is kept."""
        digest = address_digest(address)
        with self._transaction() as con:
            con.execute(
                "INSERT OR REPLACE INTO suppressions VALUES (?, ?, ?)",
                [digest, reason.strip() or "unspecified", _now()],
            ).fetchall()

    def unsuppress(self, address: str) -> bool:
        digest = address_digest(address)
        with self._transaction() as con:
            found = con.execute(
                "DELETE FROM suppressions WHERE digest = ? RETURNING digest", [digest]
            ).fetchall()
        return bool(found)

    def is_suppressed(self, address: str) -> bool:
        return bool(
            self._query("SELECT 1 FROM suppressions WHERE digest = ?", [address_digest(address)])
        )

    # -- erasure -------------------------------------------------------------------------------
    def erase(self, customer_id: str) -> int:
        """Erase a customer's contact details and consent history, keep a tombstone (so
        :meth:`may_contact` says ``erased``) and rewrite the file so no deleted value stays
        readable in it. Returns the number of rows removed."""
        cid = check_customer_id(customer_id)
        with self._transaction() as con:
            removed = len(
                con.execute(
                    "DELETE FROM contacts WHERE customer_id = ? RETURNING 1", [cid]
                ).fetchall()
            )
            removed += len(
                con.execute(
                    "DELETE FROM consents WHERE customer_id = ? RETURNING 1", [cid]
                ).fetchall()
            )
            con.execute("INSERT OR REPLACE INTO erasures VALUES (?, ?)", [cid, _now()]).fetchall()
        self.compact()
        log.info("erased one customer's details (%d rows)", removed)
        return removed

    def is_erased(self, customer_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM erasures WHERE customer_id = ?", [customer_id]))

    def compact(self) -> None:
        """Rewrite the database into a fresh file and put it in the old one's place, so
        deleted values leave no trace in the file (a throw-away in-memory one: nothing)."""
        if self.path == ":memory:":
            return
        fresh = Path(self.path + ".compact")
        with self._lock:
            fresh.unlink(missing_ok=True)
            con = self._con
            con.execute("CHECKPOINT").fetchall()
            name = con.execute("SELECT current_database()").fetchall()[0][0]
            quoted = str(fresh).replace("'", "''")
            con.execute(f"ATTACH '{quoted}' AS klantreis_compact").fetchall()
            try:
                con.execute(f'COPY FROM DATABASE "{name}" TO klantreis_compact').fetchall()
            finally:
                con.execute("DETACH klantreis_compact").fetchall()
            con.close()
            os.replace(fresh, self.path)
            Path(self.path + ".wal").unlink(missing_ok=True)
            self._con = self._connect()

    # -- unsubscribe ---------------------------------------------------------------------------
    def _signing_key(self) -> bytes:
        if self._key is None:
            raise DirectoryError("the directory was opened without a secret to sign links")
        return self._key

    def unsubscribe_token(self, customer_id: str, purpose: str) -> str:
        """A token for an unsubscribe link (no login, no expiry) that withdraws consent for
        ``purpose``."""
        check_purpose(purpose)
        return tokens.sign(self._signing_key(), check_customer_id(customer_id), purpose)

    def unsubscribe(self, token: str) -> bool:
        """Honour an unsubscribe token: records an objection for its purpose. ``False`` for
        a token that is not genuine."""
        found = tokens.verify(self._signing_key(), token)
        if found is None or found[1] not in PURPOSES:
            return False
        customer_id, purpose = found
        if not self.is_erased(customer_id):
            self.set_consent(customer_id, purpose, False, source="unsubscribe-link")
        return True
