"""Bounds on what one input may cost: fields per record, bytes per field, JSON nesting and
decompressed bytes per file. Each is a setting (``klantreis.settings``) with a safe default;
``docs/ingest.md`` lists them and what happens past each.

Past a per-record limit the record is quarantined with the limit in its reason; past a
per-file limit (decompressed bytes, an XML element or CSV row too large to parse in bounded
time) the file is recorded as failed with a one-line reason, and the other files go on.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["LimitExceeded", "Limits", "capped", "too_deep"]


class LimitExceeded(ValueError):
    """An input went past one of the :class:`Limits` (the message names the setting)."""


@dataclass(frozen=True)
class Limits:
    """The ingest limits; ``Limits.from_settings`` takes them from the settings."""

    max_record_fields: int = 1_000
    max_field_bytes: int = 4 << 20
    max_json_depth: int = 64
    max_decompressed_bytes: int = 4 << 30

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(
            max_record_fields=settings.max_record_fields,
            max_field_bytes=settings.max_field_bytes,
            max_json_depth=settings.max_json_depth,
            max_decompressed_bytes=settings.max_decompressed_bytes,
        )


def too_deep(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests objects/arrays more than ``limit`` levels (a flat
    record costs one look at each value; no recursion, so no ``RecursionError``)."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


class _Capped(io.RawIOBase):
    """A binary stream that raises :class:`LimitExceeded` once more than ``limit`` bytes
    were read from it (a decompression bomb stops there)."""

    def __init__(self, raw: IO[bytes], limit: int, what: str) -> None:
        self.raw, self.limit, self.what, self.count = raw, limit, what, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        self.count += len(data)
        if self.count > self.limit:
            raise LimitExceeded(
                f"{self.what}: more than {self.limit:,} bytes after decompression"
                " (setting max_decompressed_bytes)"
            )
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


def capped(raw: IO[bytes], limit: int, what: str) -> io.BufferedReader:
    """``raw`` (e.g. a ``gzip`` stream), buffered, refusing to give more than ``limit``
    bytes."""
    return io.BufferedReader(_Capped(raw, limit, what), buffer_size=1 << 20)
