"""The attempt journal: what a delivering run started and finished since the store last
recorded it, so a batch can be recorded in one transaction and still survive a kill.

The outbox claims a batch of messages in one transaction and records their outcomes in one
more. Between the two it writes, per message, a ``start`` line **before** sending (flushed to
the disk with ``fsync``: a power cut cannot lose it) and a ``done`` line with the send result
after (flushed to the operating system: a killed process cannot lose it; if a power cut
does, the message is only doubtful, never sent twice). After a crash
:meth:`~klantreis.outbox.Outbox.recover` reads it for the messages left ``sending``:

- a ``done`` line: the result is recorded as if the run had finished (sent, retry, failed);
- a ``start`` line only: the send was under way: doubtful (held as ``unknown`` for a
  customer, queued again for a receiver), as before batching;
- no line: the message was claimed but never sent: back in the queue, its attempt undone.

The file sits beside the store file (``<store>.outbox-journal``); a store in memory keeps it
in memory. It is emptied when no message is ``sending``. Lines hold message ids, attempt
numbers and the scrubbed send result: nothing personal.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from klantreis.outbox.message import SendResult

__all__ = ["Entry", "Journal"]


class _Shared:
    """Per journal file in this process: one lock, and the batches in flight (claimed, not
    yet recorded) — the journal is not emptied while one is."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        #: the journal of a store in memory, and whether a batch ever began on it
        self.lines: list[str] = []
        self.used = False


_SHARED: dict[str, _Shared] = {}
#: a store in memory's journal lives as long as the store object: keyed by the object itself,
#: not its ``id()`` (a later store can get a freed one's id, and with it a stale journal)
_SHARED_MEMORY: weakref.WeakKeyDictionary[object, _Shared] = weakref.WeakKeyDictionary()
_SHARED_GUARD = threading.Lock()


def _shared_for(path: str) -> _Shared:
    with _SHARED_GUARD:
        return _SHARED.setdefault(path, _Shared())


def _shared_in_memory(key: object) -> _Shared:
    with _SHARED_GUARD:
        found = _SHARED_MEMORY.get(key)
        if found is None:
            found = _SHARED_MEMORY[key] = _Shared()
        return found


@dataclass(frozen=True)
class Entry:
    """What the journal knows of one attempt: started, and its result when it finished."""

    started: datetime
    result: SendResult | None = None
    finished: datetime | None = None


class Journal:
    """The attempt journal of one store (see the module)."""

    def __init__(self, store_path: str, memory_key: object = None) -> None:
        """The journal of the store file ``store_path``; a store in memory (``:memory:``)
        keeps it in memory, shared by every outbox given the same ``memory_key``."""
        self.path: Path | None = None
        if store_path != ":memory:":
            self.path = Path(f"{store_path}.outbox-journal")
        if self.path is not None:
            self._shared = _shared_for(str(self.path))
        elif memory_key is not None:
            self._shared = _shared_in_memory(memory_key)
        else:
            self._shared = _Shared()  # nothing shares it
        self._lock = self._shared.lock
        self._lines = self._shared.lines

    @property
    def exists(self) -> bool:
        """Whether a batch was ever claimed with a journal (a store last run by an older
        version has ``sending`` rows without one: those stay doubtful)."""
        return self._shared.used if self.path is None else self.path.exists()

    def begin_batch(self) -> None:
        """Before a batch is claimed: the file exists, and it is not emptied until
        :meth:`end_batch`."""
        with self._lock:
            self._shared.in_flight += 1
            self._shared.used = True
            if self.path is not None and not self.path.exists():
                self.path.touch()

    def end_batch(self) -> None:
        """After the batch's outcomes are recorded."""
        with self._lock:
            self._shared.in_flight -= 1

    def _write(self, record: dict[str, Any], durable: bool) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            if self.path is None:
                self._lines.append(line)
                return
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)

    def start(self, message_id: str, attempt: int, at: datetime) -> None:
        """Before sending: on the disk when this returns."""
        self._write({"s": message_id, "a": attempt, "t": at.isoformat()}, durable=True)

    def done(self, message_id: str, attempt: int, result: SendResult, at: datetime) -> None:
        """After sending: the result (survives a killed process)."""
        record = {
            "d": message_id,
            "a": attempt,
            "t": at.isoformat(),
            "o": result.outcome,
            "c": result.code,
            "e": result.error,
            "r": result.retry_after,
        }
        self._write(record, durable=False)

    def read(self) -> dict[tuple[str, int], Entry]:
        """Every attempt in the journal, by (message id, attempt). A torn last line (a kill
        during the write) is ignored: that attempt's ``start`` is durable already."""
        with self._lock:
            if self.path is None:
                lines = list(self._lines)
            elif self.path.exists():
                lines = self.path.read_text("utf-8").splitlines()
            else:
                lines = []
        out: dict[tuple[str, int], Entry] = {}
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            at = datetime.fromisoformat(rec["t"])
            if "s" in rec:
                out.setdefault((rec["s"], int(rec["a"])), Entry(at))
            elif "d" in rec:
                key = (rec["d"], int(rec["a"]))
                started = out[key].started if key in out else at
                result = SendResult(rec["o"], rec.get("c"), rec.get("e"), rec.get("r"))
                out[key] = Entry(started, result, at)
        return out

    def clear(self) -> None:
        """Empty it (when no message is ``sending``: everything in it is recorded), unless
        a batch of this process is in flight."""
        with self._lock:
            if self._shared.in_flight:
                return
            self._lines.clear()
            if self.path is not None and self.path.exists():
                with open(self.path, "w", encoding="utf-8"):
                    pass
