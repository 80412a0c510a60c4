"""Outbox throughput: ``python -m bench.bench_outbox --messages 2000``.

Enqueues ``--messages`` survey e-mails to customers into a fresh store file, then delivers
them (the address resolved at send time) to a local SMTP server — aiosmtpd's ``Sink``
handler in its own process, so it does not share this process's interpreter — over one
SMTP connection. Also delivers a second batch with a sender that does nothing, which is
the outbox's own cost (claim and record: two DuckDB commits per batch of 100, plus one
fsync'd attempt-journal line per message), and a peer: a bare single-row UPDATE and commit
per message in the same store file. Prints a markdown table with the load average before
each row (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from klantreis.outbox import Message, Outbox, SendResult, SmtpSender
from klantreis.store import EventStore

__all__ = ["main"]


class _NoSend:
    def send(self, message: Message, message_id: str, address: str | None) -> SendResult:
        return SendResult("sent", 250)

    def close(self) -> None:
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _smtp_server(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the SMTP server did not start")


def _messages(n: int, prefix: str) -> list[Message]:
    return [
        Message(
            key=f"{prefix}:{i}",
            channel="email",
            customer_id=f"c{i}",
            purpose="surveys",
            subject="Hoe was de bezorging?",
            text="Geef ons een cijfer van 0 tot 10: https://shop.example/s/abcdef0123456789\n" * 3,
        )
        for i in range(n)
    ]


def _row(label: str, n: int, seconds: float, load: float) -> str:
    return f"| {label} | {n:,} | {seconds:.2f} s | **{n / seconds:,.0f}/s** | {load:.1f} |"


def _peer(store: EventStore, n: int) -> str:
    """The floor of one commit per message: a bare single-row UPDATE per transaction."""
    with store.transaction() as con:
        con.execute("CREATE TABLE peer (id BIGINT PRIMARY KEY, state VARCHAR)").fetchall()
        con.execute("INSERT INTO peer SELECT range, 'queued' FROM range(?)", [n]).fetchall()
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    for i in range(n):
        with store.transaction() as con:
            con.execute("UPDATE peer SET state = 'sent' WHERE id = ?", [i]).fetchall()
    return _row("peer: bare DuckDB, one UPDATE + commit each", n, time.perf_counter() - t0, load)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args(argv)
    n = args.messages
    port = _free_port()
    server = _smtp_server(port)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp, EventStore(Path(tmp) / "s.duckdb") as store:
            ob = Outbox(store)
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            ob.enqueue_many(_messages(n, "smtp"))
            rows.append(_row("enqueue (one transaction)", n, time.perf_counter() - t0, load))
            sender = SmtpSender("127.0.0.1", port, "cx@shop.example", security="none")
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            report = ob.deliver_due(
                senders={"email": sender}, resolve=lambda c, ch: f"{c}@people.example"
            )
            seconds = time.perf_counter() - t0
            assert report.sent == n, report
            rows.append(_row("deliver over SMTP (aiosmtpd Sink)", n, seconds, load))
            ob.enqueue_many(_messages(n, "none"))
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            report = ob.deliver_due(
                senders={"email": _NoSend()}, resolve=lambda c, ch: f"{c}@people.example"
            )
            assert report.sent == n, report
            rows.append(_row("deliver, sender does nothing", n, time.perf_counter() - t0, load))
            rows.append(_peer(store, n))
    finally:
        server.terminate()
        server.wait(10)
    print("| step | messages | time | rate | load |\n|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
