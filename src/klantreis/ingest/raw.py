"""What every reader hands on: a ``RawBatch`` of rows with their source lines and the rows it
could not read (``RowReject``), and ``slug`` for activity names.

Its own module so that the readers (:mod:`klantreis.ingest.readers`, which dispatch to the XES
reader) and the XES reader (:mod:`klantreis.ingest.xes`) share it without importing each other.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

__all__ = ["RawBatch", "RowReject", "slug"]


@dataclass(frozen=True)
class RowReject:
    line: int
    reason: str
    raw: str


@dataclass
class RawBatch:
    table: pa.Table
    lines: np.ndarray
    rejects: list[RowReject] = field(default_factory=list)
    canonical: bool = False

    @property
    def rows_read(self) -> int:
        return int(self.table.num_rows) + len(self.rejects)


def slug(text: str | None) -> str | None:
    """Python twin of compile.slug_sql (for XES activity names)."""
    if text is None:
        return None
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out = re.sub(r"[^a-z0-9.]+", "_", ascii_text.lower()).strip("_")
    return out or None
