"""Killing a delivering process mid-send loses nothing and sends nothing twice.

A child process delivers 40 e-mails to a real SMTP server. The server takes the 10th message
and then stalls before answering, and the child is killed with SIGKILL while it waits for
that answer — the worst moment: the server has the message, the outbox has not recorded it.
A new child finishes the batch. The doubtful message is held as ``unknown`` (not re-sent),
every other one arrives exactly once — with one message per transaction and with batches
(the attempt journal bridges a batch's claim and its record).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from tests.outbox.servers import SmtpSink, smtp_server

from klantreis.outbox import Message, Outbox, message_id_for
from klantreis.store import EventStore

SRC = Path(__file__).resolve().parents[2] / "src"

CHILD = """
import json, sys
from klantreis.outbox import Outbox, SmtpSender
from klantreis.store import EventStore

db, port, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with EventStore(db) as store:
    sender = SmtpSender("127.0.0.1", port, "cx@shop.example", security="none", timeout=60)
    report = Outbox(store, batch=batch).deliver_due(
        senders={"email": sender}, resolve=lambda c, ch: f"{c}@people.example"
    )
print(json.dumps(report.to_dict()))
"""

N = 40


def _child(db: Path, port: int, batch: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(port), str(batch)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 7, 100])
def test_sigkill_mid_send_neither_loses_nor_duplicates(tmp_path: Path, batch: int) -> None:
    """Batch 7: the kill comes in the second batch, whose first two messages were sent and
    not yet recorded (the journal has their results); batch 100: every message is claimed,
    9 sent unrecorded, 30 claimed and never started (back in the queue)."""
    db = tmp_path / "store.duckdb"
    with EventStore(db) as store:
        Outbox(store).enqueue_many(
            Message(
                key=f"inv:{n}",
                channel="email",
                customer_id=f"c{n}",
                purpose="surveys",
                subject="Hoe was het?",
                text="https://shop.example/s/x",
            )
            for n in range(N)
        )
    sink = SmtpSink(pause_on=10, pause_seconds=3)
    with smtp_server(sink) as (_, port):
        first = _child(db, port, batch)
        assert sink.paused.wait(60), first.communicate(timeout=5)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert first.returncode == -signal.SIGKILL
        sink.pause_on = None
        second = _child(db, port, batch)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
    report = json.loads(out)
    received = Counter(sink.ids())
    assert max(received.values()) == 1, "a message arrived twice"
    doubtful = sink.received[9].message_id
    with EventStore(db) as store:
        ob = Outbox(store)
        counts = ob.counts()
        held = ob.held(["unknown"])
    assert (counts["sent"], counts["unknown"], counts["queued"], counts["sending"]) == (
        N - 1,
        1,
        0,
        0,
    )
    assert report["held"] == 1 and report["sent"] == N - 10
    assert f"<{held[0].message_id}@shop.example>" == doubtful
    assert held[0].reason == "interrupted"
    expected = {f"<{message_id_for(f'inv:{n}')}@shop.example>" for n in range(N)}
    assert set(received) == expected  # every message arrived, the doubtful one too, once
    with EventStore(db) as store:  # one attempt each: none was counted twice or undone wrongly
        attempts = store.query("SELECT max(attempts) AS a, min(attempts) AS b FROM outbox_messages")
    assert attempts.to_pylist() == [{"a": 1, "b": 1}]
