"""The elements of a top-level JSON array, streamed: memory near one chunk plus the
largest element, not the whole file (``klantreis.ingest.readers`` turns them into batches).

A syntax error ends the stream (``JsonArrayError``: the rest of the file is not read); an
element that is valid JSON but that the parser cannot take (nested too deeply, an integer
of more than 4,300 digits) is skipped by its brackets (``JsonElementError``) and the next
one is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

__all__ = [
    "MAX_JSON_ELEMENT_CHARS",
    "RAW_PREVIEW_CHARS",
    "JsonArrayError",
    "JsonElementError",
    "json_array_items",
]

#: Raw text kept of a rejected record.
RAW_PREVIEW_CHARS = 2_000


@dataclass(frozen=True)
class JsonArrayError:
    """Where a JSON array stops being valid: the rest of the file is not read."""

    reason: str
    raw: str


@dataclass(frozen=True)
class JsonElementError:
    """One array element that is valid JSON but cannot be read (nested too deeply for the
    parser, an integer of thousands of digits): it is quarantined, the next one is read."""

    reason: str
    raw: str


_JSON_SPACE = re.compile(r"[ \t\r\n\ufeff]*")
_JSON_STRUCTURE = re.compile(r'["\\\[\]{}]')


def _value_end(buf: str, pos: int) -> int:
    """Where the JSON value starting at ``pos`` ends, by brackets and strings only (no
    recursion); -1 when it does not end within ``buf``."""
    depth, in_string, escaped = 0, False, -1
    for m in _JSON_STRUCTURE.finditer(buf, pos):
        ch, at = m.group(), m.start()
        if in_string:
            if ch == "\\" and escaped != at:
                escaped = at + 1
            elif ch == '"' and escaped != at:
                in_string = False
                if depth == 0:
                    return at + 1
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return at + 1
    return -1


#: A single array element larger than this is refused (bounded memory).
MAX_JSON_ELEMENT_CHARS = 64 << 20


def json_array_items(
    fh: IO[str], chunk: int = 1 << 20
) -> Iterator[tuple[int, Any | JsonArrayError | JsonElementError]]:
    """The elements of a top-level JSON array, one at a time, numbered from 1, reading ``fh``
    in chunks: memory stays near one chunk plus the largest element, not the whole file.

    A syntax error ends the stream with a ``JsonArrayError`` naming the element it is in;
    the elements before it were yielded already. An element the parser cannot take
    (``RecursionError``, an integer past Python's digit limit) gives a ``JsonElementError``
    and the next element is read."""
    decoder = json.JSONDecoder()
    buf, pos, eof, want = "", 0, False, chunk

    def fill() -> bool:
        nonlocal buf, pos, eof, want
        if eof:
            return False
        more = fh.read(want)
        if not more:
            eof = True
            return False
        buf, pos = buf[pos:] + more, 0
        return True

    def skip_space() -> None:
        nonlocal pos
        while True:
            pos = _JSON_SPACE.match(buf, pos).end()  # type: ignore[union-attr]
            if pos < len(buf) or not fill():
                return

    def error(number: int, what: str) -> tuple[int, JsonArrayError]:
        preview = buf[pos : pos + RAW_PREVIEW_CHARS]
        return number, JsonArrayError(
            f"invalid JSON in element {number}: {what}; the rest of the file was not read",
            preview,
        )

    skip_space()
    if buf[pos : pos + 1] != "[":
        yield error(1, "the file does not start with '['")
        return
    pos += 1
    number = 0
    skip_space()
    if buf[pos : pos + 1] == "]":
        return
    while True:
        number += 1
        skip_space()
        while True:
            try:
                item, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                if len(buf) - pos < MAX_JSON_ELEMENT_CHARS and fill():
                    want = min(want * 2, MAX_JSON_ELEMENT_CHARS)
                    continue
                yield error(number, exc.msg if eof else "element too large")
                return
            except (RecursionError, ValueError) as exc:
                end = _value_end(buf, pos)
                if end < 0:
                    if len(buf) - pos < MAX_JSON_ELEMENT_CHARS and fill():
                        continue
                    yield error(number, "element too large")
                    return
                what = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                item = JsonElementError(
                    f"unreadable JSON element: {what}"[:300], buf[pos : pos + RAW_PREVIEW_CHARS]
                )
                break
            if end < len(buf) or eof or not fill():
                break  # a value that ends at the buffer's end may go on (a number)
        want = chunk
        pos = end
        yield number, item
        skip_space()
        sep = buf[pos : pos + 1]
        pos += 1
        if sep == "]":
            skip_space()
            if pos < len(buf):
                yield error(number + 1, "text after the closing ']'")
            return
        if sep != ",":
            pos -= 1
            yield error(number + 1, "expected ',' or ']' after element " + str(number))
            return
