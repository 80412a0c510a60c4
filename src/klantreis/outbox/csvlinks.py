"""A batch of personal links as CSV, for another tool to send (a mail-merge, a CRM).

Each sent message appends one row: ``message_id, key, customer_id, address, subject, link``
(``link`` from the payload's ``"link"``, else the text). The file holds addresses: it is the
hand-over to the other tool, so keep it where that tool's data is kept, and delete it after.
"""

from __future__ import annotations

import csv
import threading
from pathlib import Path

from klantreis.outbox.message import Message, SendResult

__all__ = ["CsvLinkSender"]

COLUMNS = ("message_id", "key", "customer_id", "address", "subject", "link")


class CsvLinkSender:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, message: Message, message_id: str, address: str | None) -> SendResult:
        link = str((message.payload or {}).get("link") or message.text or "")
        row = [
            message_id,
            message.key,
            message.customer_id or "",
            address or message.to or "",
            message.subject or "",
            link,
        ]
        with self._lock:
            new = not self.path.exists() or self.path.stat().st_size == 0
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                if new:
                    writer.writerow(COLUMNS)
                writer.writerow(row)
        return SendResult("sent")

    def close(self) -> None:
        return None
