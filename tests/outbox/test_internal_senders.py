"""A sender with no effect outside the process (``external = False``, the demo's) gets no
per-message attempt journal: nothing is written or fsync'd per send, and a run cut short
puts its message back in the queue instead of holding it as doubtful."""

from __future__ import annotations

from pathlib import Path

import pytest

from klantreis.outbox import Message, Outbox, SendResult, message_id_for
from klantreis.outbox.sender import is_external
from klantreis.store import EventStore


class Killed(BaseException):
    """Stands in for a kill: not an ``Exception``, so the outbox does not judge it."""


class Recorder:
    """Records what it is given; raises :class:`Killed` on the ``kill_at``-th send."""

    external = False

    def __init__(self, journal: Path, kill_at: int = 0) -> None:
        self.journal, self.kill_at = journal, kill_at
        self.sent: list[str] = []
        self.journal_sizes: list[int] = []

    def send(self, message: Message, message_id: str, address: str | None) -> SendResult:
        self.journal_sizes.append(self.journal.stat().st_size if self.journal.exists() else 0)
        if len(self.journal_sizes) == self.kill_at:
            raise Killed
        self.sent.append(message_id)
        return SendResult("sent")

    def close(self) -> None:
        return None


class ExternalRecorder(Recorder):
    external = True


def _survey(n: int) -> Message:
    return Message(
        key=f"survey-inv:{n}", channel="email", customer_id=f"c{n}", text="x", purpose="surveys"
    )


def _address(customer_id: str, channel: str) -> str:
    return f"{customer_id}@people.example"


def _state(ob: Outbox, message_id: str) -> str:
    stored = ob.message(message_id)
    assert stored is not None
    return stored.state


def _as_if_killed(store: EventStore) -> None:
    with store.transaction() as con:  # the lease of a process that is gone
        con.execute(
            "UPDATE outbox_messages SET lease_owner = 'another-process' WHERE state = 'sending'"
        ).fetchall()


def test_the_default_sender_is_external() -> None:
    class Plain:
        pass

    assert is_external(Plain()) and is_external(ExternalRecorder(Path("x")))
    assert not is_external(Recorder(Path("x")))


def test_an_internal_sender_writes_no_journal_lines(tmp_path: Path) -> None:
    journal = tmp_path / "s.duckdb.outbox-journal"
    with EventStore(str(tmp_path / "s.duckdb")) as store:
        ob = Outbox(store, batch=3)
        ob.enqueue_many(_survey(n) for n in range(7))
        sender = Recorder(journal)
        report = ob.deliver_due(senders={"email": sender}, resolve=_address)
    assert report.sent == 7 and len(set(sender.sent)) == 7
    assert sender.journal_sizes == [0] * 7, "no start line before any send"


def test_an_external_sender_still_journals_each_send(tmp_path: Path) -> None:
    journal = tmp_path / "s.duckdb.outbox-journal"
    with EventStore(str(tmp_path / "s.duckdb")) as store:
        ob = Outbox(store, batch=3)
        ob.enqueue_many(_survey(n) for n in range(3))
        sender = ExternalRecorder(journal)
        ob.deliver_due(senders={"email": sender}, resolve=_address)
    sizes = sender.journal_sizes
    assert sizes[0] > 0 and sizes[0] < sizes[1] < sizes[2], "a durable start line each"


@pytest.mark.parametrize(
    ("sender_class", "state"), [(Recorder, "queued"), (ExternalRecorder, "unknown")]
)
def test_a_cut_run_requeues_internal_sends_and_holds_external_ones(
    tmp_path: Path, sender_class: type[Recorder], state: str
) -> None:
    journal = tmp_path / "s.duckdb.outbox-journal"
    with EventStore(str(tmp_path / "s.duckdb")) as store:
        ob = Outbox(store, batch=5)
        ob.enqueue_many(_survey(n) for n in range(5))
        with pytest.raises(Killed):
            ob.deliver_due(senders={"email": sender_class(journal, kill_at=3)}, resolve=_address)
        cut = message_id_for("survey-inv:2")
        assert _state(ob, cut) == "sending"
        _as_if_killed(store)
        ob.recover()
        settled = ob.message(cut)
        assert settled is not None and settled.state == state
        again = sender_class(journal)
        ob.deliver_due(senders={"email": again}, resolve=_address)
        rest = {message_id_for(f"survey-inv:{n}") for n in (3, 4)}  # released, never started
        states = {m: _state(ob, m) for m in (message_id_for(f"survey-inv:{n}") for n in range(5))}
        if state == "queued":
            assert sorted(again.sent) == sorted({cut} | rest) and set(states.values()) == {"sent"}
            assert settled.attempts == 0, "its attempt undone: it was never sent"
        else:
            assert set(again.sent) == rest and states[cut] == "unknown"
            assert [s for m, s in states.items() if m != cut] == ["sent"] * 4
