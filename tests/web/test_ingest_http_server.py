"""Event ingest through the real server stack of ``klantreis serve`` (uvicorn, the ingest
fast path outermost, one write per answer), over a raw keep-alive socket."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from klantreis.access import accounts
from klantreis.app import App
from klantreis.ingest.writer import EventWriter
from klantreis.web import create_app
from klantreis.web.app import _OneWriteTransport, server_config
from klantreis.web.ingest_http import FAST_BODY_BYTES
from klantreis.web.routes.ingest import IngestFastPath


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def head(
        self, method: str, body: bytes, headers: dict[str, str], length: int | None = None
    ) -> bytes:
        lines = [f"{method} /api/v1/events HTTP/1.1", "Host: 127.0.0.1"]
        lines.append(f"Content-Length: {len(body) if length is None else length}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def answer(self) -> tuple[int, dict[str, str], Any]:
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if head.startswith(b"HTTP/1.1 100 "):  # an interim answer: the real one follows
            return self.answer()
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
        length = int(headers["content-length"])
        while len(self.buf) < length:
            self._more()
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(status_line.split()[1]), headers, json.loads(body)

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        self.send(self.head("POST", body, headers) + body)
        return self.answer()

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, "connection closed"
        self.buf += chunk

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server(web_app: App) -> Iterator[tuple[int, str, App]]:
    secret, _ = accounts.create_token(web_app.store, ["ingest"], name="http-test")
    api = create_app(web_app, page_modules=[])
    port = _free_port()
    asgi, options = server_config(api, web_app.settings, host="127.0.0.1", port=port)
    srv = uvicorn.Server(uvicorn.Config(asgi, **options))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield port, secret, web_app
    finally:
        srv.should_exit = True
        thread.join(timeout=20)


def _event(i: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": i, "occurred_at": "2026-03-01T10:00:00Z", "kind": "web.visit", **extra}


def test_ingest_over_one_connection(server: tuple[int, str, App]) -> None:
    port, secret, app = server
    auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    before = app.store.count()
    conn = Conn(port)
    try:
        status, headers, body = conn.post(json.dumps(_event("h1")).encode(), auth)
        assert status == 200 and headers["content-type"] == "application/json"
        assert body == {
            "ok": True,
            "data": {"received": 1, "stored": 1, "duplicates": 0},
            "meta": {},
        }
        assert app.store.count() == before + 1, "acknowledged means stored"

        batch = [_event("h1"), _event("h2", metric="nps", score=9), _event("h3")]
        status, _, body = conn.post(json.dumps(batch).encode(), auth)
        assert status == 200 and body["data"] == {"received": 3, "stored": 2, "duplicates": 1}

        bad = [_event("h4"), _event("h5", kind="Not Valid"), _event("h6", metric="nps", score=11)]
        status, _, body = conn.post(json.dumps(bad).encode(), auth)
        assert status == 422 and body["error"]["code"] == "invalid_events"
        assert [d["index"] for d in body["error"]["details"]] == [1, 2]
        assert "kind" in body["error"]["details"][0]["reason"]

        status, _, body = conn.post(b"{not json", auth)
        assert (status, body["error"]["code"]) == (422, "invalid_json")

        status, headers, body = conn.post(json.dumps(_event("h7")).encode(), {})
        assert status == 401 and headers.get("www-authenticate") == "Bearer"

        conn.send(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _, body = conn.answer()
        assert status == 200 and body["ok"] is True, "other routes pass the fast path"
    finally:
        conn.close()
    assert app.store.count() == before + 3, "nothing of the rejected requests is stored"


def test_body_in_pieces_and_oversized_bodies(server: tuple[int, str, App]) -> None:
    port, secret, app = server
    auth = {"Authorization": f"Bearer {secret}"}
    body = json.dumps([_event(f"p{i}") for i in range(20)]).encode()
    conn = Conn(port)
    try:
        conn.send(conn.head("POST", body, auth) + body[:100])
        time.sleep(0.05)  # the rest arrives later: more than one ASGI body message
        conn.send(body[100:])
        status, _, answer = conn.answer()
        assert status == 200 and answer["data"]["stored"] == 20
    finally:
        conn.close()

    limit = app.settings.max_request_bytes
    conn = Conn(port)
    try:  # declared too large: refused before the body is read
        conn.send(conn.head("POST", b"", auth, length=limit + 1))
        status, _, answer = conn.answer()
        assert (status, answer["error"]["code"]) == (413, "payload_too_large")
    finally:
        conn.close()

    big = json.dumps([_event(f"b{i}", text="x" * 900) for i in range(limit // 900 + 1)])
    conn = Conn(port)
    try:
        status, _, answer = conn.post(big.encode(), auth)
        assert status == 413, "too large whatever the events"
    finally:
        conn.close()


@pytest.fixture
def asgi_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests that reached the ASGI application (the ingest fast path
    outermost): a small event post answered by the protocol itself is not among them."""
    calls: list[str] = []
    asgi = IngestFastPath.__call__
    # As ``klantreis serve`` runs: no access log (pytest's log capture would be one).
    monkeypatch.setattr(logging.getLogger("uvicorn.access"), "hasHandlers", lambda: False)

    async def counted(self: IngestFastPath, scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        await asgi(self, scope, receive, send)

    monkeypatch.setattr(IngestFastPath, "__call__", counted)
    return calls


def test_small_posts_are_answered_by_the_protocol_alike(
    server: tuple[int, str, App], asgi_calls: list[str]
) -> None:
    port, secret, app = server
    auth = {"Authorization": f"Bearer {secret}"}
    reader, _ = accounts.create_token(app.store, ["read"], name="no-ingest")
    before = app.store.count()
    conn = Conn(port)
    try:
        one = json.dumps(_event("f1")).encode()
        status, headers, body = conn.post(one, auth)
        assert (status, body["data"]) == (200, {"received": 1, "stored": 1, "duplicates": 0})
        assert headers["content-type"] == "application/json" and "date" in headers
        status, _, body = conn.post(one, auth)
        assert body["data"] == {"received": 1, "stored": 0, "duplicates": 1}, "re-sent: nothing"
        status, _, body = conn.post(json.dumps(_event("f2", kind="Not Valid")).encode(), auth)
        assert (status, body["error"]["details"][0]["index"]) == (422, 0)
        status, headers, _ = conn.post(one, {"Authorization": "Bearer wrong"})
        assert status == 401 and headers["www-authenticate"] == "Bearer"
        status, _, body = conn.post(one, {"Authorization": f"Bearer {reader}"})
        assert (status, body["error"]["code"]) == (403, "forbidden")
        assert asgi_calls == [], "answered without an ASGI cycle"

        # Two requests in one packet: the second waits for the first, then goes through ASGI.
        two = json.dumps(_event("f3")).encode()
        conn.send(conn.head("POST", one, auth) + one + conn.head("POST", two, auth) + two)
        assert conn.answer()[2]["data"]["duplicates"] == 1
        assert conn.answer()[2]["data"]["stored"] == 1
        assert asgi_calls == ["/api/v1/events"]

        # Past the size limit: 413 on either path (this app's limit is below the protocol's).
        limit = app.settings.max_request_bytes
        assert limit < FAST_BODY_BYTES
        for size in (limit + 100, FAST_BODY_BYTES + 100):
            status, _, body = conn.post(json.dumps(_event("f9", text="x" * size)).encode(), auth)
            assert (status, body["error"]["code"]) == (413, "payload_too_large")
        assert len(asgi_calls) == 2, "only the body past the protocol's size went through ASGI"
        # An Expect header takes uvicorn's path too, with the same answer.
        status, _, body = conn.post(
            json.dumps(_event("f4")).encode(), {**auth, "Expect": "100-continue"}
        )
        assert body["data"]["stored"] == 1
        assert len(asgi_calls) == 3
    finally:
        conn.close()
    assert app.store.count() == before + 3

    conn = Conn(port)  # "Connection: close" is answered, then the connection closed
    try:
        status, headers, body = conn.post(
            json.dumps(_event("f5")).encode(), {**auth, "Connection": "close"}
        )
        assert status == 200 and headers["connection"] == "close"
        assert conn.sock.recv(1) == b"", "closed after the answer"
    finally:
        conn.close()


def test_a_failed_commit_is_never_acknowledged_by_the_protocol(
    server: tuple[int, str, App], asgi_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, secret, app = server

    def fail(self: EventWriter, checked: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(EventWriter, "_commit", fail)
    before = app.store.count()
    conn = Conn(port)
    try:
        status, _, body = conn.post(
            json.dumps(_event("x1")).encode(), {"Authorization": f"Bearer {secret}"}
        )
    finally:
        conn.close()
    assert (status, body["error"]["code"]) == (500, "internal_error")
    assert asgi_calls == [] and app.store.count() == before


class _Recorder:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_one_write_transport_joins_head_and_body() -> None:
    async def run() -> _Recorder:
        real = _Recorder()
        t = _OneWriteTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        assert real.writes == [], "the head waits for its body"
        t.write(b"{}")
        t.write(b"HTTP/1.1 204 No Content\r\n\r\n")  # no body follows in this turn
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.close()  # a held head is written before closing
        assert t.get_extra_info("peername") == "info:peername"
        return real

    real = asyncio.run(run())
    assert real.writes == [
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
    ]
    assert real.closed
