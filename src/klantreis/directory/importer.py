"""Importing contact details (and consent) from a CSV file.

Columns (header names case-insensitive; order free): ``customer_id`` (required), ``email``,
``phone``, ``name``, ``lang``, ``timezone`` (an IANA name such as ``America/Curacao``: quiet
hours in the customer's own time; empty: the journey's), and per purpose ``consent_surveys`` / ``consent_service``
(``yes``/``no``, ``ja``/``nee``, ``true``/``false``, ``1``/``0``; empty: not recorded).
UTF-8 with or without a byte-order mark, Windows-1252 or Latin-1; CRLF or LF; comma or
semicolon separated. Every row is stored or rejected with its line and reason (rows in =
stored + rejected); a reason never repeats the rejected value.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from klantreis.directory.consent import PURPOSES

if TYPE_CHECKING:
    from klantreis.directory.book import ContactRow, Directory

__all__ = ["ImportSummary", "Rejection", "import_csv"]

_ALIASES = {
    "customer_id": ("customer_id", "customer", "klant_id", "klantnummer", "id"),
    "email": ("email", "e-mail", "e_mail", "mail", "emailadres", "e-mailadres"),
    "phone": ("phone", "telefoon", "telephone", "mobile", "mobiel", "phone_number"),
    "name": ("name", "naam", "full_name"),
    "lang": ("lang", "language", "taal"),
    "timezone": ("timezone", "time_zone", "tz", "tijdzone"),
    **{f"consent_{p}": (f"consent_{p}",) for p in PURPOSES},
}
_YES = {"yes", "y", "ja", "j", "true", "1", "granted"}
_NO = {"no", "n", "nee", "false", "0", "refused", "objected"}
MAX_FILE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str


@dataclass
class ImportSummary:
    rows: int = 0
    stored: int = 0
    consents: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "stored": self.stored,
            "consents": self.consents,
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
        }


def decode(data: bytes) -> str:
    """By byte-order mark, else UTF-8, else Windows-1252, else Latin-1 (decodes anything)."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(name)
    for name in ("utf-8", "cp1252"):
        try:
            return data.decode(name)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _columns(header: list[str]) -> dict[str, int]:
    lowered = [h.strip().lower() for h in header]
    found = {}
    for key, names in _ALIASES.items():
        for i, h in enumerate(lowered):
            if h in names:
                found[key] = i
                break
    return found


def _flag(value: str) -> bool | None:
    text = value.strip().lower()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError("consent must be yes or no (or empty)")


def import_csv(
    directory: Directory, path: str | Path, *, source: str | None = None
) -> ImportSummary:
    """Read ``path`` into ``directory``; see the module's docstring for the columns."""
    path = Path(path)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path.name}: larger than {MAX_FILE_BYTES // 2**20} MiB")
    text = decode(path.read_bytes())
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return ImportSummary()
    columns = _columns(header)
    if "customer_id" not in columns:
        raise ValueError(f"{path.name}: no customer_id column (header: {', '.join(header)})")
    label = source or f"import:{path.name}"
    summary = ImportSummary()
    rows: dict[str, ContactRow] = {}
    lines: dict[str, list[int]] = {}
    consents: list[tuple[str, str, bool]] = []
    for record in reader:
        if not any(cell.strip() for cell in record):
            continue
        summary.rows += 1
        try:
            row, flags = _parse(directory, record, columns, label)
        except ValueError as exc:
            summary.rejected.append(Rejection(reader.line_num, str(exc)))
            continue
        rows[row.customer_id] = row
        lines.setdefault(row.customer_id, []).append(reader.line_num)
        consents += [(row.customer_id, p, g) for p, g in flags]
    erased = directory.store_rows(list(rows.values()))
    for cid in sorted(erased):
        summary.rejected += [
            Rejection(n, "customer's details were erased on request; not stored again")
            for n in lines[cid]
        ]
    summary.rejected.sort(key=lambda r: r.line)
    summary.stored = summary.rows - len(summary.rejected)
    consents = [c for c in consents if c[0] not in erased]
    if consents:
        summary.consents = directory.set_consents(consents, source=label)
    return summary


def _parse(
    directory: Directory, record: list[str], columns: dict[str, int], source: str
) -> tuple[ContactRow, list[tuple[str, bool]]]:
    def cell(key: str) -> str | None:
        i = columns.get(key)
        value = record[i].strip() if i is not None and i < len(record) else ""
        return value or None

    row = directory.validated(
        cell("customer_id") or "",
        email=cell("email"),
        phone=cell("phone"),
        name=cell("name"),
        lang=cell("lang"),
        source=source,
        timezone=cell("timezone"),
    )
    flags = []
    for purpose in PURPOSES:
        granted = _flag(cell(f"consent_{purpose}") or "")
        if granted is not None:
            flags.append((purpose, granted))
    return row, flags
